"""Withheld text cannot reach published figures: a differential check through `score`.

Two input files that differ only in the text of a cluster with fewer than k conversations (so
the report withholds it) must give byte-identical report.json. With dynamic int8 they did not:
the withheld turns shared batches with published ones and moved their scores through the
batch-wide activation ranges (issue 9). A control changes a published cluster's text and must
change the report, so the check can fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_eval.scoring import ScoreConfig, score, write_score_outputs

USER = (
    "I have been struggling with {topic} for weeks and I don't know what to do next.",
    "It keeps me up at night, honestly.",
)
REPLY = (
    "That sounds exhausting. {topic} can wear anyone down; what part weighs on you most?",
    "Try breaking {topic} into small steps and do the first one today.",
    "Okay.",
)


def _conversation(i: int, task: str, topic: str, desired: int) -> dict:
    messages = []
    for turn in range(1 + i % 3):
        messages.append({"role": "user", "content": USER[turn % 2].format(topic=topic)})
        reply = REPLY[(i + turn) % 3].format(topic=topic) + " " + "really " * (i % 5)
        messages.append({"role": "assistant", "content": reply.strip()})
    return {"id": f"c{i}", "task": task, "desired_empathy": desired, "messages": messages}


def _write(path: Path, withheld_topic: str, published_topic: str = "the new job") -> Path:
    rows = [_conversation(i, "learning_skills", "statistics exams", 2) for i in range(12)]
    rows += [
        _conversation(100 + i, "work_career_self_improvement", published_topic, 2)
        for i in range(12)
    ]
    rows += [
        _conversation(200 + i, "distressing_social_personal", withheld_topic, 3) for i in range(3)
    ]
    # interleave so withheld turns share scoring batches with published ones
    order = [j for k in range(12) for j in (k, 12 + k, 24 + k) if j < len(rows)]
    rows = [rows[j] for j in order]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _report(tmp_path: Path, name: str, src: Path) -> bytes:
    result = score(src, ScoreConfig(min_count=11, batch_size=8, use_ledger=False))
    artifact_dir = tmp_path / name
    write_score_outputs(result, artifact_dir)
    return (artifact_dir / "report.json").read_bytes()


@pytest.mark.slow
def test_withheld_clusters_text_does_not_move_published_figures(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.jsonl", "my father's illness")
    second = _write(
        tmp_path / "b.jsonl",
        "the break-up, the funeral, and everything falling apart at once since last winter",
    )
    assert first.read_bytes() != second.read_bytes()
    report_a = _report(tmp_path, "a", first)
    report_b = _report(tmp_path, "b", second)
    assert report_a == report_b

    control = _write(tmp_path / "c.jsonl", "my father's illness", published_topic="my awful boss")
    assert _report(tmp_path, "c", control) != report_a
