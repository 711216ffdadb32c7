"""`edge-eval distill`: usage errors with hints, bad pairs lines, and one run end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunCli

DATA = Path(__file__).resolve().parents[2] / "datasets" / "empathy-synth"
PLANT = "planted-jj52-cli"


@pytest.fixture()
def train_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join((DATA / "train.jsonl").open(encoding="utf-8").readlines()[:12]))
    return path


def test_train_or_pairs_exactly_one(run_cli: RunCli, tmp_path: Path) -> None:
    code, out, err = run_cli("distill", "--out", str(tmp_path / "o"))
    assert code == 2 and out == ""
    assert err == (
        "Error: give either TRAIN (conversations) or --pairs PAIRS.jsonl, not both or neither\n"
        "Hint: edge-eval distill TRAIN.jsonl --teacher labels --out DIR, or "
        "edge-eval distill --pairs PAIRS.jsonl --out DIR\n"
    )


def test_teacher_is_required_with_train(run_cli: RunCli, train_file: Path, tmp_path: Path) -> None:
    code, _, err = run_cli("distill", str(train_file), "--out", str(tmp_path / "o"))
    assert code == 2
    assert err.startswith("Error: --teacher is required with TRAIN\nHint: --teacher labels")


def test_teacher_does_not_apply_to_pairs(run_cli: RunCli, tmp_path: Path) -> None:
    pairs = tmp_path / "p.jsonl"
    pairs.write_text("{}\n")
    code, _, err = run_cli(
        "distill",
        "--pairs",
        str(pairs),
        "--teacher",
        "labels",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 2 and "--teacher does not apply to --pairs" in err


def test_bad_pairs_line_names_line_and_field(run_cli: RunCli, tmp_path: Path) -> None:
    pairs = tmp_path / "p.jsonl"
    good = {"context": [], "chosen": PLANT, "rejected": PLANT + " no"}
    pairs.write_text(json.dumps(good) + "\n" + json.dumps(dict(good, chosen=[PLANT])) + "\n")
    code, out, err = run_cli("distill", "--pairs", str(pairs), "--out", str(tmp_path / "o"))
    assert code == 4 and out == ""
    assert err.startswith(
        "Error: p.jsonl, line 2, field 'chosen': expected a string, found an array\n"
    )
    assert PLANT not in err and str(tmp_path) not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_distill_end_to_end_with_a_finetuned_encoder(
    run_cli: RunCli, train_file: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "student"
    code, out, err = run_cli(
        "distill",
        str(train_file),
        "--teacher",
        "labels",
        "--heldout-fraction",
        "0.34",
        "--finetune-encoder",
        "--epochs",
        "1",
        "--max-length",
        "64",
        "--calibration",
        "linear",
        "--min-count",
        "3",
        "--json",
        "--out",
        str(out_dir),
    )
    assert code == 0, err
    figures = json.loads(out)
    bundle = json.loads((out_dir / "bundle.json").read_text())
    assert figures == bundle["validation"]
    assert figures["reference"] == "labels" and figures["turn"]["n"] == figures["heldout_turns"]
    assert figures["conversation"]["n"] == figures["heldout_conversations"] == 4
    assert figures["int8_vs_fp32"]["spearman"] >= 0.99
    assert bundle["training"]["encoder_trained"] is True
    assert bundle["training"]["finetune"]["epochs"] == 1
    assert bundle["calibration"]["kind"] == "linear"
    assert bundle["input_template"]["max_length"] == 64
    assert "epoch 1/1: training loss" in err
    # the bundle is a scorer for validate
    code, out, err = run_cli(
        "validate", str(train_file), "--model", str(out_dir), "--json", "--n-boot", "50"
    )
    assert code == 0, err
    assert json.loads(out)["turn"]["n"] > 30
