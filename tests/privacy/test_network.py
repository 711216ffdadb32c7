"""The network guard: outbound connections fail loudly and are counted; state is restored."""

from __future__ import annotations

import os
import socket

import pytest

from edge_eval.errors import NetworkBlockedError
from edge_eval.privacy.network import OFFLINE_VARIABLES, network_guard, set_offline_environment


def test_outbound_connections_are_refused_and_counted() -> None:
    with network_guard() as guard:
        with pytest.raises(NetworkBlockedError):
            socket.create_connection(("203.0.113.9", 80), timeout=1)
        with pytest.raises(NetworkBlockedError):
            socket.getaddrinfo("example.org", 443)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            with pytest.raises(NetworkBlockedError):
                sock.connect(("198.51.100.1", 443))
            with pytest.raises(NetworkBlockedError):
                sock.connect_ex(("198.51.100.1", 443))
        finally:
            sock.close()
        assert guard.blocked == 4
    assert not guard.active


def test_loopback_is_refused_unless_allowed() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        with network_guard() as guard, pytest.raises(NetworkBlockedError):
            socket.create_connection(("127.0.0.1", port), timeout=1)
        assert guard.blocked == 1
        with network_guard(allow_loopback=True) as guard:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        assert guard.blocked == 0
    finally:
        server.close()


def test_the_previous_socket_functions_are_restored() -> None:
    before = (socket.socket.connect, socket.create_connection, socket.getaddrinfo)
    with network_guard():
        assert socket.create_connection is not before[1]
    assert (socket.socket.connect, socket.create_connection, socket.getaddrinfo) == before


def test_offline_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in OFFLINE_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    set_offline_environment()
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
