"""The loopback guard every test runs under refuses other addresses before the real connect is called."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from network_guard import NonLoopbackConnectionError, loopback_only


@pytest.fixture
def real_connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Record every call that reaches the socket's real connect (under a fresh guard wrapping the spy)."""
    calls: list[Any] = []
    original = socket.socket.connect

    def spy(self: socket.socket, address: Any) -> Any:
        calls.append(address)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    with loopback_only():
        yield calls


@pytest.mark.parametrize("address", [("10.255.255.1", 9), ("192.0.2.1", 80), ("8.8.8.8", 53)])
def test_a_non_loopback_connect_is_refused_before_any_packet(
    real_connects: list[Any], address: tuple[str, int]
) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(NonLoopbackConnectionError, match="loopback only"),
    ):
        sock.connect(address)
    assert real_connects == []  # the kernel was never asked: no SYN left the machine


def test_ipv6_and_name_lookups_outside_loopback_are_refused(real_connects: list[Any]) -> None:
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with v6, pytest.raises(NonLoopbackConnectionError):
        v6.connect(("2001:db8::1", 80, 0, 0))
    with pytest.raises(NonLoopbackConnectionError, match="name lookup"):
        socket.create_connection(("example.org", 80), timeout=1)
    assert real_connects == []


def test_loopback_connections_pass(real_connects: list[Any]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=1):
            pass
    assert [port for _, port, *_ in real_connects] == [port]


def test_child_processes_run_under_the_guard_too() -> None:
    # The session fixture put loopback_site/ on PYTHONPATH: a plain `python -c` child is guarded. The
    # child only inspects its socket module; it never tries a real non-loopback address.
    code = (
        "import socket\n"
        "assert '_install' in socket.getaddrinfo.__qualname__, 'no guard: stop before any lookup'\n"
        "from network_guard import NonLoopbackConnectionError\n"
        "print(socket.socket.connect.__qualname__, socket.getaddrinfo.__qualname__)\n"
        "try:\n"
        "    socket.getaddrinfo('example.org', 80)\n"
        "except NonLoopbackConnectionError:\n"
        "    print('lookup refused')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.splitlines() == [
        "_install.<locals>.guarded.<locals>.connect _install.<locals>.getaddrinfo",
        "lookup refused",
    ]
