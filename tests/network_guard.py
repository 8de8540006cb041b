"""Loopback only: tests and benchmarks may open network connections to 127.0.0.0/8 and ::1, nothing else.

The guard wraps ``socket.socket.connect``/``connect_ex`` and ``socket.getaddrinfo`` in this process, so a
connection to any other address raises before a single packet leaves the machine (no SYN, no DNS query).
Unix sockets are local by nature and pass.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class NonLoopbackConnectionError(OSError):
    """Raised instead of connecting to an address outside loopback."""


def _is_loopback_host(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    host = host.split("%", 1)[0].strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_unless_loopback(family: int, address: Any) -> None:
    """Raise `NonLoopbackConnectionError` if an inet ``address`` is not loopback."""
    if family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_loopback_host(host):
        raise NonLoopbackConnectionError(
            f"network guard: connection to {address!r} refused: tests and benchmarks reach loopback only "
            "(127.0.0.0/8, ::1); simulate 'unreachable' with a closed loopback port or a silent listener"
        )


SITE_DIR = Path(__file__).resolve().parent / "loopback_site"


def child_process_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with the guard switched on for child Python processes (through `loopback_site/sitecustomize`)."""
    paths = [str(SITE_DIR), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {**env, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "MLOPS_LOOPBACK_ONLY": "1"}


def install_loopback_guard() -> None:
    """Guard this whole process for its lifetime (child processes, benchmarks)."""
    _install()


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Within the block, every connect or name lookup outside loopback raises before any packet is sent."""
    restore = _install()
    try:
        yield
    finally:
        restore()


def _install() -> Callable[[], None]:
    """Wrap connect, connect_ex and getaddrinfo; returns the function that puts the originals back."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def guarded(method: Callable[..., Any]) -> Callable[..., Any]:
        def connect(self: socket.socket, address: Any) -> Any:
            refuse_unless_loopback(self.family, address)
            return method(self, address)

        return connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # A name lookup is itself traffic (DNS): only loopback names and address literals (which resolve
        # without a query) pass; connect() then judges the address.
        if host is not None and not _is_loopback_host(host) and not _is_ip_literal(host):
            raise NonLoopbackConnectionError(
                f"network guard: name lookup of {host!r} refused (loopback only)"
            )
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded(original_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(original_connect_ex)  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo

    def restore() -> None:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = original_getaddrinfo

    return restore


def _is_ip_literal(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    try:
        ipaddress.ip_address(str(host).split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    return True
