"""No network: offline variables and a guard that makes outbound connections fail loudly."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from edge_eval.errors import NetworkBlockedError

__all__ = ["NetworkGuard", "OFFLINE_VARIABLES", "network_guard", "set_offline_environment"]

#: Set before any heavy import so that hub-aware libraries never try to reach a hub.
OFFLINE_VARIABLES: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def set_offline_environment() -> None:
    """Set the offline variables in this process (idempotent)."""
    for key, value in OFFLINE_VARIABLES.items():
        os.environ[key] = value


def _is_local(address: object) -> bool:
    # AF_UNIX sockets (paths) are local by construction; loopback hosts too.
    if isinstance(address, str | bytes):
        return True
    if isinstance(address, tuple) and address:
        host = str(address[0])
        return host in {"localhost", "::1"} or host.startswith("127.")
    return False


@dataclass(slots=True)
class NetworkGuard:
    """What the guard saw. ``blocked`` counts connection attempts that were refused."""

    active: bool = False
    blocked: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex
_original_create_connection = socket.create_connection
_original_getaddrinfo = socket.getaddrinfo


@contextmanager
def network_guard(*, allow_loopback: bool = False) -> Iterator[NetworkGuard]:
    """Refuse every outbound connection made by this process while the block runs.

    Any attempt raises :class:`NetworkBlockedError` (and is counted), so a library that tries
    to phone home fails loudly instead of silently leaking. Loopback is refused too unless
    ``allow_loopback`` is set.
    """
    guard = NetworkGuard(active=True)

    def refuse(address: object) -> None:
        if allow_loopback and _is_local(address):
            return
        with guard._lock:
            guard.blocked += 1
        raise NetworkBlockedError("an outbound network connection was attempted and refused")

    def connect(self: socket.socket, address: object) -> None:
        if self.family != getattr(socket, "AF_UNIX", None):
            refuse(address)
        return _original_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        if self.family != getattr(socket, "AF_UNIX", None):
            refuse(address)
        return _original_connect_ex(self, address)  # type: ignore[arg-type]

    def create_connection(address: object, *args: object, **kwargs: object) -> socket.socket:
        refuse(address)
        return _original_create_connection(address, *args, **kwargs)  # type: ignore[arg-type]

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if not (allow_loopback and _is_local((host,))) and host not in (None, ""):
            refuse((host,))
        return _original_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    saved = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.create_connection,
        socket.getaddrinfo,
    )
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.create_connection = create_connection  # type: ignore[assignment]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    try:
        yield guard
    finally:
        socket.socket.connect = saved[0]  # type: ignore[method-assign]
        socket.socket.connect_ex = saved[1]  # type: ignore[method-assign]
        socket.create_connection = saved[2]
        socket.getaddrinfo = saved[3]
        guard.active = False
