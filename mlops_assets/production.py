"""The production profile: which services the environment asks for, a fast preflight, config loaders.

The platform runs locally on SQLite (Dagster instance, MLflow tracking store, Feast online store) and in
production on PostgreSQL and Redis, and the switch is environment variables only:

- ``DAGSTER_PG_HOST``, ``DAGSTER_PG_PORT``, ``DAGSTER_PG_USER``, ``DAGSTER_PG_PASSWORD``, ``DAGSTER_PG_DB``:
  Dagster instance storage on PostgreSQL, read by ``deploy/dagster.yaml`` (copied to
  ``$DAGSTER_HOME/dagster.yaml``; under Helm the chart renders the equivalent).
- ``MLOPS_MLFLOW_TRACKING_URI=postgresql+psycopg2://user:password@host:5432/db``: the MLflow tracking store
  (the explicit driver matters: SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg v3, not installed).
- ``MLOPS_REDIS_URL=redis://host:6379/0``: the Feast online store.
- ``MLOPS_PROFILE=production``: a missing variable above becomes an error instead of a silent fall-back to
  SQLite.

Why a preflight: a service that is down or unreachable otherwise shows up as a hang (a TCP connect to a
filtered port waits for the kernel's timeout, minutes) or as a stack trace from deep inside SQLAlchemy,
psycopg2 or redis-py in the middle of a run. ``preflight(settings)`` connects to each configured service
with a short timeout (TCP first, then a real handshake: a psycopg2 connection / a Redis ``PING``), all
services in parallel, and raises one ``ServiceUnavailableError`` naming every service and address that
failed, within seconds. Call it where the code location loads or a resource is set up.

The loaders (``validate_dagster_yaml``, ``validate_feature_store_yaml``) read a config file the way Dagster
and Feast will, but turn their errors into one line per problem naming the file and the key.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import yaml

from mlops_assets.services import (
    POSTGRES_SCHEMES,
    Service,
    postgres_service_from_url,
    redis_service_from_url,
)
from mlops_assets.settings import Settings

DEFAULT_TIMEOUT_S = 3.0
PRODUCTION_PROFILE = "production"


class ServiceUnavailableError(RuntimeError):
    """One or more production services could not be reached; the message names each service and address."""


class ConfigFileError(ValueError):
    """A configuration file is malformed or has unknown or missing keys; the message names file and key."""


@dataclass(frozen=True)
class ServiceCheck:
    """The outcome of checking one service."""

    service: Service
    ok: bool
    detail: str
    seconds: float

    def describe(self) -> str:
        """One line for a log or an error message."""
        state = "ok" if self.ok else "UNREACHABLE"
        return f"{self.service.name} at {self.service.address}: {state} ({self.detail}, {self.seconds:.2f}s)"


# --- which services the environment asks for ---------------------------------------------------------


def dagster_postgres_service(env: Mapping[str, str]) -> Service | None:
    """The Dagster instance database named by the ``DAGSTER_PG_*`` variables, or None when unset."""
    host = env.get("DAGSTER_PG_HOST")
    if not host:
        return None
    port = int(env.get("DAGSTER_PG_PORT") or 5432)
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "user": env.get("DAGSTER_PG_USER") or "postgres",
        "dbname": env.get("DAGSTER_PG_DB") or "postgres",
    }
    if env.get("DAGSTER_PG_PASSWORD"):
        kwargs["password"] = env["DAGSTER_PG_PASSWORD"]
    return Service("Dagster instance storage (PostgreSQL)", "postgres", host, port, kwargs)


def production_services(settings: Settings, env: Mapping[str, str] | None = None) -> list[Service]:
    """Every external service the environment configures; empty for the local (SQLite) profile."""
    env = os.environ if env is None else env
    services: list[Service] = []
    dagster_pg = dagster_postgres_service(env)
    if dagster_pg is not None:
        services.append(dagster_pg)
    uri = settings.mlflow_tracking_uri_override
    if uri and urlsplit(uri).scheme.split("+", 1)[0] in POSTGRES_SCHEMES:
        services.append(postgres_service_from_url("MLflow tracking store (PostgreSQL)", uri))
    if settings.redis_url:
        services.append(redis_service_from_url("Feast online store (Redis)", settings.redis_url))
    return services


def missing_production_variables(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """Variables the production profile needs that are unset (only meaningful with MLOPS_PROFILE=production).

    Without this, a deployment that forgets one variable quietly runs that part on local SQLite, and
    the loss shows up weeks later as an empty run history or a model registry nobody else can see.
    """
    env = os.environ if env is None else env
    missing = [name for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_DB") if not env.get(name)]
    uri = settings.mlflow_tracking_uri_override
    if not uri or urlsplit(uri).scheme.split("+", 1)[0] not in POSTGRES_SCHEMES:
        missing.append("MLOPS_MLFLOW_TRACKING_URI (a postgresql:// URL)")
    if not settings.redis_url:
        missing.append("MLOPS_REDIS_URL")
    return missing


def configuration_problems(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """Settings that cannot work whatever the services do, each naming its variable.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to the psycopg (v3) driver, and rejects ``postgres://``;
    the pinned stack ships psycopg2, so MLflow would fail on its first query with an import error.
    """
    env = os.environ if env is None else env
    problems = []
    if env.get("MLOPS_PROFILE", "").strip().lower() == PRODUCTION_PROFILE:
        missing = missing_production_variables(settings, env)
        if missing:
            problems.append(f"MLOPS_PROFILE=production but these variables are not set: {', '.join(missing)}")
    uri = settings.mlflow_tracking_uri_override
    scheme = urlsplit(uri).scheme if uri else ""
    if scheme == "postgres" or (scheme == "postgresql" and importlib.util.find_spec("psycopg") is None):
        problems.append(
            f"MLOPS_MLFLOW_TRACKING_URI: scheme {scheme}:// needs a driver this environment lacks "
            "(SQLAlchemy 2.1 reads it as psycopg v3); write postgresql+psycopg2://user:password@host:5432/db"
        )
    return problems


# --- checking them --------------------------------------------------------------------------------------


def _tcp_connect(host: str, port: int, timeout_s: float) -> None:
    """Open and close a TCP connection: fails at once on a closed port, in ``timeout_s`` on a filtered one."""
    with socket.create_connection((host, port), timeout=timeout_s):
        pass


def _ping_postgres(service: Service, timeout_s: float) -> str:
    import psycopg2

    connection = psycopg2.connect(connect_timeout=max(1, round(timeout_s)), **service.connect_kwargs)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            row = cursor.fetchone()
        return f"PostgreSQL {row[0] if row else '?'}, database {service.connect_kwargs.get('dbname')}"
    finally:
        connection.close()


def _ping_redis(service: Service, timeout_s: float) -> str:
    import redis

    timeouts: dict[str, Any] = {"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s}
    url = service.connect_kwargs.get("url")
    # A URL goes to redis-py whole (its query options included); the broken-out fields are for callers.
    client = (
        redis.Redis.from_url(url, **timeouts) if url else redis.Redis(**service.connect_kwargs, **timeouts)
    )
    try:
        if not client.ping():
            raise ConnectionError("PING did not answer PONG")
        return "PING answered PONG"
    finally:
        client.close()


_PINGS: dict[str, Callable[[Service, float], str]] = {"postgres": _ping_postgres, "redis": _ping_redis}


def check_service(service: Service, timeout_s: float = DEFAULT_TIMEOUT_S) -> ServiceCheck:
    """TCP connect, then the service's own handshake; never raises, never takes much over 2 x timeout."""
    began = time.perf_counter()
    try:
        _tcp_connect(service.host, service.port, timeout_s)
        detail = _PINGS[service.kind](service, timeout_s)
        ok = True
    except Exception as exc:  # any failure is reported with the service's name and address
        ok, detail = False, _one_line(f"{type(exc).__name__}: {exc}")
    return ServiceCheck(service, ok, detail, time.perf_counter() - began)


def check_services(services: list[Service], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[ServiceCheck]:
    """Check all services in parallel, so three unreachable services cost one timeout, not three."""
    if not services:
        return []
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        return list(pool.map(lambda s: check_service(s, timeout_s), services))


def preflight(
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[str]:
    """Check every production service the environment configures; one line per service checked.

    Returns an empty list for the local profile (nothing to check). Raises ``ServiceUnavailableError``
    naming each unreachable service and its address (never a password), or naming each variable that
    cannot work (``configuration_problems``: unset under ``MLOPS_PROFILE=production``, a URL scheme
    without its driver) before any connection is tried.
    """
    env = os.environ if env is None else env
    settings = settings or Settings.from_env()
    problems = configuration_problems(settings, env)
    if problems:
        raise ServiceUnavailableError("production preflight failed: " + "; ".join(problems))
    checks = check_services(production_services(settings, env), timeout_s)
    failed = [c for c in checks if not c.ok]
    if failed:
        raise ServiceUnavailableError(
            "production preflight failed: "
            + "; ".join(c.describe() for c in failed)
            + ". Start the service or fix the address in the environment variables."
        )
    return [c.describe() for c in checks]


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- config file loaders -------------------------------------------------------------------------------


def _read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping; errors name the file and the line."""
    if not path.is_file():
        raise ConfigFileError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigFileError(f"{path}: malformed YAML{where}: {problem}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(
            f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}"
        )
    return data


def _env_references(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(dotted key, variable) for every ``{env: VAR}`` in a Dagster config tree."""
    if isinstance(value, dict):
        if set(value) == {"env"} and isinstance(value["env"], str):
            yield ".".join(path), value["env"]
            return
        for key, child in value.items():
            yield from _env_references(child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _env_references(child, (*path, str(index)))


def _dagster_error_lines(path: Path, errors: list[Any]) -> list[str]:
    """One ``file: key a.b.c: problem`` line per Dagster config evaluation error."""
    # Private on purpose: Dagster exports no public type for config evaluation errors' details, and these
    # are what tell "unknown key" from "missing key"; `dg.DagsterInvalidConfigError.errors` holds them.
    from dagster._config.errors import (
        DagsterEvaluationErrorReason,
        FieldNotDefinedErrorData,
        FieldsNotDefinedErrorData,
        MissingFieldErrorData,
        MissingFieldsErrorData,
    )

    lines = []
    for error in errors:
        stack = [getattr(entry, "field_name", None) for entry in error.stack.entries]
        prefix = [str(name) for name in stack if name is not None]
        data = error.error_data
        if isinstance(data, FieldNotDefinedErrorData):
            keys, problem = [data.field_name], "unknown key"
        elif isinstance(data, FieldsNotDefinedErrorData):
            keys, problem = list(data.field_names), "unknown key"
        elif isinstance(data, MissingFieldErrorData):
            keys, problem = [data.field_name], "missing required key"
        elif isinstance(data, MissingFieldsErrorData):
            keys, problem = list(data.field_names), "missing required key"
        else:
            keys = [""]
            problem = error.message.split(" Expected", 1)[0]
            if error.reason == DagsterEvaluationErrorReason.SELECTOR_FIELD_ERROR:
                problem = f"choose exactly one option ({problem})"
        for key in keys:
            dotted = ".".join([*prefix, key]) if key else ".".join(prefix) or "<root>"
            lines.append(f"{path}: key {dotted}: {problem}")
    return lines


def validate_dagster_yaml(path: Path | str, check_env: bool = True) -> dict[str, Any]:
    """Validate a Dagster instance ``dagster.yaml`` against Dagster's own instance schema.

    Returns the parsed mapping. Raises ``ConfigFileError`` naming the file and each bad key: malformed
    YAML, an unknown key (a typo such as ``run_coordinatr`` is otherwise only found when the webserver
    starts), a missing required key, and, with ``check_env``, every ``{env: VAR}`` whose variable is
    unset (Dagster only resolves those when the instance is created, as a bare "variable not set").
    """
    # Private on purpose: Dagster has no public validator for dagster.yaml; this is the function the
    # instance itself loads the file with, so the check can never disagree with what Dagster accepts.
    from dagster._core.instance.config import dagster_instance_config

    path = Path(path).resolve()
    data = _read_yaml_mapping(path)
    try:
        dagster_instance_config(str(path.parent), config_filename=path.name)
    except dg.DagsterInvalidConfigError as exc:
        lines = _dagster_error_lines(path, list(exc.errors)) or [f"{path}: {_one_line(str(exc))}"]
        raise ConfigFileError("invalid Dagster instance config:\n  " + "\n  ".join(lines)) from exc
    if check_env:
        unset = [(key, var) for key, var in _env_references(data) if var not in os.environ]
        if unset:
            raise ConfigFileError(
                "invalid Dagster instance config:\n  "
                + "\n  ".join(
                    f"{path}: key {key}: environment variable {var} is not set" for key, var in unset
                )
            )
    return data


_ENV_PATTERN = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _string_values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for child in value.values():
            yield from _string_values(child)
    elif isinstance(value, list):
        for child in value:
            yield from _string_values(child)


def _section_of(data: Mapping[str, Any], key: str) -> str | None:
    """Which top-level section (e.g. ``online_store``) holds ``key``, for nested errors Feast reports bare."""
    for section, value in data.items():
        if isinstance(value, dict) and key in value:
            return str(section)
    return None


def validate_feature_store_yaml(path: Path | str) -> Any:
    """Validate a Feast ``feature_store.yaml`` the way Feast loads it; returns the ``RepoConfig``.

    Feast substitutes ``${VAR}`` from the environment and then builds its pydantic ``RepoConfig``. Its
    errors name the key but not the section or file, and an unknown top-level key is accepted silently;
    here each problem becomes ``file: key section.key: problem``.
    """
    from feast.repo_config import RepoConfig
    from pydantic import ValidationError

    path = Path(path).resolve()
    raw = _read_yaml_mapping(path)  # YAML syntax errors, reported before substitution hides line numbers
    text = os.path.expandvars(path.read_text())
    data = yaml.safe_load(text) or {}
    lines = []
    # Only values count: a comment that mentions ${VAR} is not a reference.
    unresolved = sorted({m.group(1) for value in _string_values(data) for m in _ENV_PATTERN.finditer(value)})
    lines += [
        f"{path}: environment variable {var} is not set (referenced as ${{{var}}})" for var in unresolved
    ]
    known = set()
    for name, info in RepoConfig.model_fields.items():
        known.add(name)
        if info.alias:
            known.add(info.alias)
    lines += [f"{path}: key {key}: unknown key (Feast would ignore it)" for key in raw if key not in known]
    if "registry" not in data:
        lines.append(f"{path}: key registry: missing required key")
    if not lines:
        try:
            config = RepoConfig(**data)
            config.repo_path = path.parent
            return config
        except ValidationError as exc:
            for error in exc.errors():
                loc = [str(part) for part in error["loc"]]
                if loc and loc[0] not in known:
                    section = _section_of(data, loc[0])
                    loc = [section, *loc] if section else loc
                lines.append(f"{path}: key {'.'.join(loc) or '<root>'}: {error['msg']}")
        except Exception as exc:  # Feast raises its own errors for e.g. an unknown store type
            lines.append(f"{path}: {_one_line(f'{type(exc).__name__}: {exc}')}")
    raise ConfigFileError("invalid Feast feature_store.yaml:\n  " + "\n  ".join(lines))


def image_env(dockerfile: Path | str) -> dict[str, str]:
    """The variables a Dockerfile's `ENV` instructions set (`KEY=value` form, continuation lines joined).

    What every process of the production image (code server, run and step pods) runs with, for the
    tests and benchmarks that stand in for it without building the image.
    """
    text = re.sub(r"\\\n\s*", " ", Path(dockerfile).read_text())
    return dict(
        token.split("=", 1)
        for line in text.splitlines()
        if line.startswith("ENV ")
        for token in line.split()[1:]
    )
