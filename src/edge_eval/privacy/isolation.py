"""Network isolation beyond the in-process guard: run a command in a fresh network namespace.

``score --isolate`` re-runs the same command in a child process that first calls
``unshare(CLONE_NEWUSER | CLONE_NEWNET)`` (an unprivileged user namespace, so no root is
needed where the kernel allows it) and maps the caller's own uid and gid into it. The new
network namespace has only a loopback interface, and it is down: no code in that process,
native or Python, can reach any network. The child checks that it really is isolated
(:func:`network_isolated`) before it scores and records it in the manifest
(``network_guard.namespace``). Where the platform refuses (not Linux, unprivileged user
namespaces disabled, a seccomp profile), :class:`IsolationUnavailableError` says so; the run is
never silently made without isolation.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import sys
from collections.abc import Sequence

from edge_eval.errors import IsolationUnavailableError

__all__ = [
    "ISOLATED_ENV",
    "IsolationUnavailableError",
    "enter_network_namespace",
    "network_isolated",
    "run_isolated",
]

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
#: Set in the child by :func:`run_isolated`; the child still verifies isolation itself.
ISOLATED_ENV = "EDGE_EVAL_ISOLATED_CHILD"


def enter_network_namespace() -> None:
    """Move the calling (single-threaded) process into new user and network namespaces.

    Raises:
        IsolationUnavailableError: the kernel refused.
    """
    if not sys.platform.startswith("linux"):
        raise IsolationUnavailableError("network namespaces exist only on Linux")
    uid, gid = os.getuid(), os.getgid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise IsolationUnavailableError(
            f"the kernel refused a new user and network namespace ({os.strerror(errno)})"
        )
    try:
        with open("/proc/self/setgroups", "w") as handle:
            handle.write("deny")
        with open("/proc/self/uid_map", "w") as handle:
            handle.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as handle:
            handle.write(f"{gid} {gid} 1")
    except OSError as exc:
        raise IsolationUnavailableError(
            "the new user namespace could not map the current user"
        ) from exc


def network_isolated() -> bool:
    """True when this process sees no network interface but a loopback that is down."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return False
    if names != ["lo"]:
        return False
    return not _loopback_up()


def _loopback_up() -> bool:
    """Whether the loopback interface of this process's network namespace is up (an ioctl:
    /sys may still show the parent namespace's interfaces)."""
    import fcntl
    import struct

    siocgifflags = 0x8913
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        raw = fcntl.ioctl(probe.fileno(), siocgifflags, struct.pack("16sH", b"lo", 0))
    flags = struct.unpack("16sH", raw[:18])[1]
    return bool(flags & 0x1)  # IFF_UP


def _preexec() -> None:  # pragma: no cover - runs in the forked child
    enter_network_namespace()


def run_isolated(argv: Sequence[str]) -> int:
    """Run ``python -m edge_eval ARGV`` in a fresh network namespace; returns its exit code.

    Standard input, output and error are the caller's. The child is told it should be isolated
    (:data:`ISOLATED_ENV`) and verifies it before doing any work.
    """
    if not sys.platform.startswith("linux"):
        raise IsolationUnavailableError("network namespaces exist only on Linux")
    probe = _probe()
    if probe is not None:
        raise IsolationUnavailableError(
            f"the kernel refused a new user and network namespace ({probe})"
        )
    env = dict(os.environ, **{ISOLATED_ENV: "1"})
    completed = subprocess.run(  # noqa: PLW1510 - the exit code is returned
        [sys.executable, "-m", "edge_eval", *argv],
        env=env,
        preexec_fn=_preexec,  # the child is single-threaded between fork and exec
        check=False,
    )
    return completed.returncode


def _probe() -> str | None:
    """Try the unshare in a throw-away child; the reason it failed, or None when it works."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        try:
            enter_network_namespace()
            message = b""
        except IsolationUnavailableError as exc:
            message = exc.message.encode("utf-8", "replace")[:500] or b"refused"
        os.write(write_fd, message)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as handle:
        message = handle.read()
    os.waitpid(pid, 0)
    return message.decode("utf-8", "replace") or None
