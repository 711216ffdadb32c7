"""calibrate: desired empathy per cluster from labelled conversations, with the privacy gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_eval.errors import ConfigError, InputError, PrivacyViolation
from edge_eval.tasks.calibrate import calibrate_profile, write_calibrated_profile
from edge_eval.tasks.profile import load_profile

TURNS = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def _write(path: Path, rows: list[dict]) -> Path:
    lines = [json.dumps({"messages": TURNS, **row}) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(task: str | None, values: list[float]) -> list[dict]:
    rows = []
    for v in values:
        row: dict = {"desired_empathy": v}
        if task is not None:
            row["task"] = task
        rows.append(row)
    return rows


def test_means_counts_and_round_trip(tmp_path: Path) -> None:
    distress = [3] * 9 + [2] * 3  # 12 conversations, mean 2.75
    writing = [1] * 10 + [2]  # 11 (alias "editing"), mean 12/11
    rows = _rows("distressing_social_personal", distress) + _rows("editing", writing)
    rows += _rows(None, [3, 3]) + _rows("astrology", [1])  # no known task: not used
    rows += [{"task": "learning"}]  # known task, no desired: not used
    src = _write(tmp_path / "c.jsonl", rows)

    report = calibrate_profile(src)
    by_name = {c.name: c for c in report.clusters}
    assert by_name["distressing_social_personal"].n == 12
    assert by_name["distressing_social_personal"].desired == pytest.approx(2.75)
    assert by_name["work_assignment_writing"].n == 11
    assert by_name["work_assignment_writing"].desired == pytest.approx(round(12 / 11, 4))
    default = load_profile(None)
    assert by_name["learning_skills"].n == 0  # no labels: the prior stays
    assert by_name["learning_skills"].desired == default.cluster("learning_skills").desired_empathy
    assert report.conversations == 27
    assert report.without_task == 3
    assert report.without_desired == 1

    out = write_calibrated_profile(report, tmp_path / "sub" / "profile.toml")
    loaded = load_profile(out)
    assert loaded.name == "calibrated"
    assert loaded.names == default.names
    assert loaded.cluster("distressing_social_personal").desired_empathy == 2.75
    assert loaded.cluster("distressing_social_personal").n == 12
    assert loaded.cluster("work_assignment_writing").aliases == (
        default.cluster("work_assignment_writing").aliases
    )
    assert loaded.cluster("learning_skills").n == 0
    assert loaded.tolerance == default.tolerance
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["profile.toml"]


def test_small_cluster_is_refused(tmp_path: Path) -> None:
    rows = _rows("distressing_social_personal", [3] * 12) + _rows("learning_skills", [2] * 10)
    src = _write(tmp_path / "c.jsonl", rows)
    with pytest.raises(PrivacyViolation) as info:
        calibrate_profile(src)
    assert info.value.message == (
        "cluster(s) learning_skills have desired_empathy from fewer than 11 conversations; "
        "their mean would not be private, so nothing was written"
    )
    assert "--small prior" in info.value.hint

    kept = calibrate_profile(src, small="prior")
    learning = next(c for c in kept.clusters if c.name == "learning_skills")
    assert learning.withheld and learning.n == 0 and learning.desired == learning.prior

    lowered = calibrate_profile(src, min_count=10)
    assert next(c for c in lowered.clusters if c.name == "learning_skills").n == 10


def test_nothing_to_calibrate(tmp_path: Path) -> None:
    src = _write(tmp_path / "c.jsonl", _rows(None, [2, 3]))
    with pytest.raises(InputError, match="no conversation has both"):
        calibrate_profile(src)
    with pytest.raises(ConfigError):
        calibrate_profile(src, min_count=0)
