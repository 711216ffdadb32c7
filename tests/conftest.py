"""Shared fixtures: no network, an isolated user directory, offline variables."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}.items():
    os.environ[_key] = _value


class _SocketBlocked(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a non-local connection fails the test."""
    original = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        if self.family == getattr(socket, "AF_UNIX", None):
            return original(self, address)
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("::1", "localhost")):
            return original(self, address)
        raise _SocketBlocked(f"test tried to open a network connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own HOME and cache directories."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("EDGE_EVAL_HOME", str(home / ".edge-eval"))
    return home


#: ``run_cli(*argv)`` -> (exit code, stdout, stderr) of one `edge-eval` call in this process.
RunCli = Callable[..., tuple[int, str, str]]


@pytest.fixture()
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run the `edge-eval` entry point in-process, as a user would call it."""
    from edge_eval.cli.main import main

    def run(*argv: str) -> tuple[int, str, str]:
        code = 0
        try:
            main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
