"""`score --isolate`: a fresh network namespace where the platform allows it, a clear refusal
where it does not; and connections attempted during `score` fail and are recorded."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from privacy_cases import SIZES, rows_for, write_jsonl

from edge_eval.errors import NetworkBlockedError
from edge_eval.privacy import isolation
from edge_eval.privacy.isolation import IsolationUnavailableError, network_isolated
from edge_eval.scoring import ScoreConfig, score

ROOT = Path(__file__).resolve().parents[2]
CAN_ISOLATE = sys.platform.startswith("linux") and isolation._probe() is None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.skipif(not CAN_ISOLATE, reason="this platform refuses unprivileged namespaces")
def test_native_code_in_the_namespace_cannot_reach_any_network() -> None:
    probe = (
        "import socket, sys\n"
        "from edge_eval.privacy.isolation import network_isolated\n"
        "assert network_isolated()\n"
        "s = socket.socket()\n"  # a raw socket: no Python guard involved
        "try:\n"
        "    s.connect(('203.0.113.7', 443))\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno)\n"
        "else:\n"
        "    sys.exit(1)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        preexec_fn=isolation.enter_network_namespace,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused")


@pytest.mark.skipif(not CAN_ISOLATE, reason="this platform refuses unprivileged namespaces")
def test_score_isolate_runs_in_the_namespace_and_records_it(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", rows_for(SIZES))
    out = tmp_path / "out"
    # the shipped default model: the isolated child is a fresh process (no monkeypatching)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_eval",
            "score",
            str(data),
            "--out",
            str(out),
            "--isolate",
            "--no-progress",
            "--ledger",
            str(tmp_path / "l.sqlite"),
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["network_guard"] == {"active": True, "blocked_attempts": 0, "namespace": True}
    assert "Wrote report.json" in proc.stdout


def test_without_the_namespace_isolation_is_never_claimed() -> None:
    assert not network_isolated()
    with pytest.raises(IsolationUnavailableError, match="can see a network interface"):
        score(Path(__file__), ScoreConfig(require_isolation=True))


def test_where_the_platform_refuses_isolate_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run_cli: Any
) -> None:
    monkeypatch.setattr(isolation, "_probe", lambda: "Operation not permitted")
    data = write_jsonl(tmp_path / "in.jsonl", rows_for(SIZES))
    out = tmp_path / "out"
    code, stdout, err = run_cli("score", str(data), "--out", str(out), "--isolate")
    assert code == 2 and stdout == "" and not out.exists()
    lines = err.splitlines()
    assert lines[0] == (
        "Error: the kernel refused a new user and network namespace (Operation not permitted)"
    )
    assert lines[1].startswith("Hint: --isolate needs Linux with unprivileged user namespaces")


@pytest.mark.usefixtures("fake_model")
def test_a_connection_attempted_during_score_fails_and_is_recorded(
    monkeypatch: pytest.MonkeyPatch, fake_model: Any, tmp_path: Path
) -> None:
    from edge_eval.privacy.audit import audit_results
    from edge_eval.scoring import write_score_outputs

    data = write_jsonl(tmp_path / "in.jsonl", rows_for(SIZES))
    original = type(fake_model).score_turns
    seen: list[type] = []

    def phone_home(self: Any, turns: Any, **kwargs: Any) -> Any:
        try:  # a library that swallows the failure and carries on
            socket.create_connection(("203.0.113.7", 443), timeout=1)
        except NetworkBlockedError as exc:
            seen.append(type(exc))
        return original(self, turns, **kwargs)

    monkeypatch.setattr(type(fake_model), "score_turns", phone_home)
    result = score(data, ScoreConfig(ledger=tmp_path / "l.sqlite"))
    assert seen and all(t is NetworkBlockedError for t in seen)
    assert result.manifest.network_guard["blocked_attempts"] == len(seen)
    write_score_outputs(result, tmp_path / "out")
    audit = audit_results(tmp_path / "out")
    assert audit.check("manifest").problems == (
        "manifest.network_guard: connection attempts were blocked during the run",
    )
