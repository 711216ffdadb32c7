"""`--out`: no symbolic links, no climbing out, and two runs into one folder at once."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest
from privacy_cases import SIZES, rows_for, write_jsonl

from edge_eval.errors import ConfigError
from edge_eval.privacy.audit import audit_results
from edge_eval.scoring import ScoreConfig, score, write_score_outputs

pytestmark = pytest.mark.usefixtures("fake_model")


@pytest.fixture()
def result(tmp_path: Path) -> Any:
    data = write_jsonl(tmp_path / "in.jsonl", rows_for(SIZES))
    return score(data, ScoreConfig(use_ledger=False))


def test_out_may_not_be_a_link(result: Any, tmp_path: Path, run_cli: Any) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "results"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="--out is a symbolic link"):
        write_score_outputs(result, link)
    assert list(target.iterdir()) == []


def test_out_may_not_hold_links_under_the_output_names(result: Any, tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / "report.md").symlink_to(victim)
    with pytest.raises(ConfigError, match="holds report.md as a link"):
        write_score_outputs(result, out)
    assert victim.read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["report.md"]


def test_out_may_not_climb_out_of_its_folder(result: Any, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(ConfigError, match=r"may not contain '\.\.'"):
        write_score_outputs(result, tmp_path / "a" / ".." / "b")
    assert not (tmp_path / "b").exists()


def _writer(args: tuple[str, str, int]) -> None:
    """Score one file and write into the shared folder, many times (a separate process)."""
    from privacy_cases import FakeModel

    import edge_eval.reward

    data, out, rounds = args
    edge_eval.reward.load_reward_model = lambda *a, **k: FakeModel()  # type: ignore[assignment]
    result = score(Path(data), ScoreConfig(use_ledger=False))
    for _ in range(rounds):
        write_score_outputs(result, Path(out))


def test_two_runs_into_one_folder_at_once_leave_one_complete_set(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", rows_for(SIZES))
    b = write_jsonl(tmp_path / "b.jsonl", rows_for({k: v + 5 for k, v in SIZES.items()}))
    out = tmp_path / "shared"
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        pool.map(_writer, [(str(a), str(out), 15), (str(b), str(out), 15)])
    check = audit_results(out)
    assert check.check("files").status.value == "pass", check.render()
    assert check.check("hashes").status.value == "pass", check.render()
    names = sorted(os.listdir(tmp_path))
    assert names == ["a.jsonl", "b.jsonl", "shared"]  # no staging folder left behind


def test_a_new_unsigned_run_removes_the_old_signature(result: Any, tmp_path: Path) -> None:
    from edge_eval.privacy.signing import init_keys

    init_keys(tmp_path / "keys")
    out = tmp_path / "out"
    write_score_outputs(result, out, sign=True, key_dir=tmp_path / "keys")
    assert (out / "manifest.sig").is_file()
    write_score_outputs(result, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "report.html",
        "report.json",
        "report.md",
    ]
