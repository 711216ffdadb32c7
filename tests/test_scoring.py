"""`score` end to end: library result, CLI outputs, privacy (planted strings), atomicity,
network."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edge_eval
from edge_eval.errors import InputError, NetworkBlockedError
from edge_eval.scoring import ScoreConfig, score, write_score_outputs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "conversations.jsonl"
CLUSTERS = (
    "distressing_social_personal",
    "learning_skills",
    "work_career_self_improvement",
    "work_assignment_writing",
)
TOPICS = {
    "distressing_social_personal": (
        "My sister stopped talking to me after the wedding and I feel awful."
    ),
    "learning_skills": "How do I learn to read sheet music for piano as an adult?",
    "work_career_self_improvement": "My manager keeps giving my projects to a colleague. What now?",
    "work_assignment_writing": "Please shorten this paragraph of my quarterly report to 50 words.",
}
FAST: dict = {}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "edge_eval", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


def conversation(cluster: str, i: int, *, planted: str = "", task: bool = True) -> dict:
    tag = f" {planted}" if planted else ""
    line: dict = {
        "id": f"conv-{i}{tag}",
        "desired_empathy": 1 + i % 3,
        "perceived_empathy": 1 + i % 5,
        "messages": [
            {"role": "system", "content": f"You are a helpful assistant.{tag}"},
            {"role": "user", "content": TOPICS[cluster] + tag, "name": f"user{tag}"},
            {
                "role": "assistant",
                "content": f"Here is a first answer number {i}.{tag}",
                "empathy": 1 + i % 5,
            },
            {"role": "user", "content": f"Thanks, can you say more?{tag}"},
            {
                "role": "assistant",
                "content": f"Sure: that sounds hard, let's go step by step.{tag}",
            },
        ],
        "meta": {"note": f"free text{tag}", f"key{tag}": [tag]},
    }
    if task:
        line["task"] = cluster
    return line


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 + 20 + 15 conversations in three clusters and only 3 in the fourth."""
    rows = []
    sizes = {CLUSTERS[0]: 30, CLUSTERS[1]: 20, CLUSTERS[2]: 15, CLUSTERS[3]: 3}
    for cluster, n in sizes.items():
        rows += [conversation(cluster, i) for i in range(n)]
    return write_jsonl(tmp_path_factory.mktemp("mixed") / "mixed.jsonl", rows)


def test_library_result_keeps_per_item_scores_local(mixed: Path) -> None:
    result = edge_eval.score(mixed, ScoreConfig(**FAST))
    table = result.table
    assert table.n_conversations == 68
    assert len(table.turn_score) == 136
    assert np.all((table.turn_score >= 1) & (table.turn_score <= 5))
    convs = list(result.conversations())
    assert len(convs) == 68 and all(len(c.turn_scores) == 2 for c in convs)
    assert convs[0].human_perceived == 1.0
    assert convs[0].human_turns[0] == 1.0 and np.isnan(convs[0].human_turns[1])
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(convs[0])
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(table)


def test_small_cluster_is_withheld_end_to_end(mixed: Path) -> None:
    d = edge_eval.score(mixed, ScoreConfig(**FAST)).report.to_dict()
    text = json.dumps(d)
    by_name = {c["cluster"]: c for c in d["clusters"]}
    small = by_name[CLUSTERS[3]]
    assert small["status"] == "withheld"
    assert set(small) <= {"cluster", "status"}
    published = [by_name[c] for c in CLUSTERS[:3]]
    assert sum(c["n"] for c in published) == d["overall"]["n"] == 65
    assert not re.search(r'"n": (3|68)\b', text)  # neither the total nor the small n
    assert all(c["status"] == "published" for c in published)


def test_recogniser_assigns_clusters_without_task(tmp_path: Path) -> None:
    rows = [conversation(c, i, task=False) for c in CLUSTERS for i in range(3)]
    result = edge_eval.score(write_jsonl(tmp_path / "u.jsonl", rows), ScoreConfig(**FAST))
    assert result.recognised == 12
    assert result.table.conv_recognised.all()


def test_unknown_task_is_an_input_error_that_does_not_quote_it(tmp_path: Path) -> None:
    row = conversation(CLUSTERS[0], 0)
    row["task"] = "PLANTED-task-a81f"
    path = write_jsonl(tmp_path / "t.jsonl", [row])
    with pytest.raises(InputError) as info:
        score(path, ScoreConfig(**FAST))
    assert info.value.field == "task" and info.value.line == 1
    assert "PLANTED" not in info.value.message


def test_cli_writes_the_four_files_and_a_summary(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = cli("score", str(mixed), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "report.html",
        "report.json",
        "report.md",
    ]
    assert "distressing_social_personal" in proc.stdout and "overall" in proc.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["network_guard"] == {"active": True, "blocked_attempts": 0, "namespace": False}
    assert manifest["execution"]["providers"] == ["CPUExecutionProvider"]
    import hashlib

    assert manifest["inputs"] == [{"sha256": hashlib.sha256(mixed.read_bytes()).hexdigest()}]
    for name in ("report.json", "report.md", "report.html"):
        assert manifest["outputs"][name] == hashlib.sha256((out / name).read_bytes()).hexdigest()


def test_cli_json_prints_the_report(mixed: Path) -> None:
    proc = cli("score", str(mixed), "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["kind"] == "edge-eval.score-report"


def test_baseline_adds_reduction_and_factor(mixed: Path, tmp_path: Path) -> None:
    first = tmp_path / "a"
    assert cli("score", str(mixed), "--out", str(first)).returncode == 0
    proc = cli("score", str(mixed), "--json", "--baseline", str(first / "report.json"))
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["baseline"]["overall"]["gap_reduction_pct"] == pytest.approx(0.0, abs=1e-9)
    assert d["baseline"]["overall"]["score_factor"] == pytest.approx(1.0)


PLANTED = "PLANTED-9e1b77"


def test_planted_strings_never_reach_any_output_log_or_error(tmp_path: Path) -> None:
    folder = tmp_path / f"{PLANTED}-dir"
    rows = [conversation(c, i, planted=PLANTED) for c in CLUSTERS for i in range(12)]
    rows += [conversation(CLUSTERS[0], 99, planted=PLANTED, task=False)]
    path = write_jsonl(folder / f"{PLANTED}-file.jsonl", rows)
    # a bad line that carries the string too, skipped
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"messages": "' + PLANTED + '", "' + PLANTED + '": 1}\n')
        handle.write('{"' + PLANTED + "\n")
    out = tmp_path / "out"
    proc = cli("score", str(path), "--out", str(out), "--on-error", "skip", "--debug")
    assert proc.returncode == 0, proc.stderr
    assert "Skipped 2 line(s)" in proc.stderr
    for text in (proc.stdout, proc.stderr, *(p.read_text() for p in out.iterdir())):
        assert PLANTED not in text
    # the error path: fail on the bad line, the message names line and field only
    proc = cli("score", str(path), "--out", str(tmp_path / "out2"))
    assert proc.returncode == 4
    assert "line 50" in proc.stderr
    assert proc.stderr.count(PLANTED) == 1  # the file's own base name, nothing else
    assert f"{PLANTED}-file.jsonl" in proc.stderr
    assert str(folder) not in proc.stderr
    assert not (tmp_path / "out2").exists()


def test_nothing_is_written_when_a_run_fails(mixed: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(mixed.read_text() + "{oops\n")
    out = tmp_path / "never"
    proc = cli("score", str(bad), "--out", str(out))
    assert proc.returncode == 4
    assert proc.stderr.startswith("Error: bad.jsonl, line 69: malformed JSON")
    assert "Hint:" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".never*"))


def test_rendering_failure_leaves_existing_results_untouched(
    mixed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = score(mixed, ScoreConfig(**FAST))
    out = tmp_path / "res"
    write_score_outputs(result, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import edge_eval.report as report

    def broken(d: dict) -> str:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(report, "render_html", broken)
    with pytest.raises(RuntimeError):
        write_score_outputs(result, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_an_outbound_connection_during_scoring_fails_loudly(
    mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge_eval.reward.onnx_scorer import OnnxRewardModel

    original = OnnxRewardModel.score_turns

    def phone_home(self, turns, **kwargs):  # type: ignore[no-untyped-def]
        socket.create_connection(("203.0.113.7", 443), timeout=1)
        return original(self, turns, **kwargs)

    monkeypatch.setattr(OnnxRewardModel, "score_turns", phone_home)
    with pytest.raises(NetworkBlockedError):
        score(mixed, ScoreConfig(**FAST))


def test_cuda_request_without_gpu_fails_with_a_hint(mixed: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA")
    proc = cli("score", str(mixed), "--json", "--device", "cuda")
    assert proc.returncode == 2
    assert "--device cuda" in proc.stderr and "Hint:" in proc.stderr


@pytest.mark.slow
def test_cli_on_the_shipped_example(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = cli("score", str(EXAMPLES), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    d = json.loads((out / "report.json").read_text())
    by_cluster = {c["cluster"]: c for c in d["clusters"]}
    # 78 conversations each in three clusters; the writing cluster holds its 6 labelled ones plus
    # whatever the task recogniser sends it from the 81 without a task, so it sits at k = 11
    # (v3's recogniser sent 3: withheld; v4's and v5's send 5: published with exactly 11).
    big = ("distressing_social_personal", "learning_skills", "work_career_self_improvement")
    for name in big:
        assert by_cluster[name]["status"] == "published" and by_cluster[name]["n"] >= 50
    writing = by_cluster["work_assignment_writing"]
    if writing["status"] == "published":
        assert 11 <= writing["n"] <= 240 - sum(by_cluster[name]["n"] for name in big)
    else:
        assert writing["status"] == "withheld" and "n" not in writing and "perceived" not in writing
    html = (out / "report.html").read_text()
    assert "<svg" in html and "http://" not in html and "https://" not in html
