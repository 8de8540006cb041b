"""The loopback guard every test runs under refuses other addresses before the real connect is called."""

from __future__ import annotations

import socket
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
