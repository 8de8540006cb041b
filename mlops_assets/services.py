"""Service addresses from URLs: PostgreSQL and Redis, parsed once for every part of the platform.

The preflight (`production`), the Feast resource (its Redis connection string) and MLflow's tracking store
all read the same URLs; parsing them here, in the platform layer, means they can never disagree about the
host, port or credentials, and no stage has to import the preflight to reach a parser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")

# `scheme://userinfo@`: userinfo runs to the first `@` and may hold an unencoded `/` or be `:password`.
_URI_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:@]*):(?P<secret>[^\s@]*)@")
# `?password=...`, `&sslpassword=`, Feast's `host:port,password=...`: any key naming a secret.
_SECRET_PARAMETER = re.compile(
    r"(?i)(?P<key>(?:^|(?<=[?&,;\s]))[\w.-]*(?:pass(?:word)?|pwd|secret|token|api[_-]?key)[\w.-]*=)[^&,;#\s]*"
)


def redact_uri(text: str) -> str:
    """`text` (a URI, or a message holding URIs) with every password and secret parameter as `***`.

    Handles `user:password@`, an empty user (`://:password@`), an unencoded `/` in the password, and
    secrets passed as query or option parameters (`?password=`, `,password=`, `token=`).
    """
    redacted = _URI_USERINFO.sub(r"\g<scheme>\g<user>:***@", text)
    return _SECRET_PARAMETER.sub(r"\g<key>***", redacted)


@dataclass(frozen=True)
class Service:
    """A service the production profile needs, with what is needed to reach it.

    ``address`` is ``host:port`` (no credentials), safe to print in errors and logs.
    """

    name: str
    kind: str  # "postgres" or "redis"
    host: str
    port: int
    connect_kwargs: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def address(self) -> str:
        """``host:port``, for messages."""
        return f"{self.host}:{self.port}"


def postgres_service_from_url(name: str, url: str) -> Service:
    """A PostgreSQL service from a SQLAlchemy/libpq URL (``postgresql+psycopg2://u:p@h:5432/db``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"{name}: expected a postgresql:// URL, got scheme {parts.scheme!r}")
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "dbname": unquote(parts.path.lstrip("/")) or "postgres",
    }
    if parts.username:
        kwargs["user"] = unquote(parts.username)
    if parts.password:
        kwargs["password"] = unquote(parts.password)
    return Service(name=name, kind="postgres", host=host, port=port, connect_kwargs=kwargs)


def redis_service_from_url(name: str, url: str) -> Service:
    """A Redis service from ``redis[s]://[[user]:password@]host:port[/db]`` or Feast's ``host:port,k=v``.

    Both forms yield the same broken-out ``connect_kwargs`` (``host``, ``port`` and, when given, ``db``,
    ``username``, ``password`` percent-decoded, ``ssl``), so a caller that needs Feast's connection string
    reads them instead of parsing the URL again; the URL form also keeps ``url`` for redis-py's own parser.
    ``name`` (e.g. ``"MLOPS_REDIS_URL"``) names the value in errors, which never include a password.
    """
    kwargs: dict[str, Any]
    if "://" in url:
        parts = urlsplit(url)
        try:
            port = parts.port or 6379
            db_text = parts.path.strip("/")
            db = int(db_text) if db_text else None
        except ValueError as exc:
            raise ValueError(
                f"{name}: expected redis://host:port/db, got a bad port or database number in "
                f"{parts.scheme}://{parts.hostname}{parts.path} ({exc})"
            ) from exc
        host = parts.hostname or "localhost"
        kwargs = {"url": url, "host": host, "port": port}
        if db is not None:
            kwargs["db"] = db
        if parts.username:
            kwargs["username"] = unquote(parts.username)
        if parts.password:
            kwargs["password"] = unquote(parts.password)
        if parts.scheme == "rediss":
            kwargs["ssl"] = True
    else:
        # Feast's redis online store form: "host:port,password=...,ssl=true,db=0". Feast reads further
        # "host:port" parts as cluster nodes; the first one is the address checked here.
        first, *options = url.split(",")
        host_text, _, port_text = first.strip().rpartition(":") if ":" in first else (first, "", "")
        host = host_text.strip().strip("[]") or "localhost"
        try:
            port = int(port_text or 6379)
            kwargs = {"host": host, "port": port}
            for option in options:
                key, _, value = option.partition("=")
                key, value = key.strip(), value.strip()
                if key == "password":
                    kwargs["password"] = value
                elif key == "username":
                    kwargs["username"] = value
                elif key == "db":
                    kwargs["db"] = int(value)
                elif key == "ssl":
                    kwargs["ssl"] = value.lower() == "true"
        except ValueError as exc:
            raise ValueError(
                f"{name}: expected host:port[,db=N,password=...], got a bad port or db at {host} ({exc})"
            ) from exc
    return Service(name=name, kind="redis", host=host, port=port, connect_kwargs=kwargs)
