"""`edge-eval distill --save-torch`: the student's torch checkpoint, exported again with
`edge-eval export onnx --reward` (real MiniLM-L6 student, a few conversations)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from conftest import RunCli

DATA = Path(__file__).resolve().parents[2] / "datasets" / "empathy-synth"
PLANT = "planted-kk18-savetorch"


@pytest.fixture()
def train_file(tmp_path: Path) -> Path:
    lines = (DATA / "train.jsonl").read_text("utf-8").splitlines()[:12]
    first = json.loads(lines[0])
    first["id"] = PLANT
    first["messages"][0]["content"] += f" {PLANT}"
    lines[0] = json.dumps(first)
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_save_torch_needs_its_own_folder(run_cli: RunCli, train_file: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "o")
    code, _, err = run_cli(
        "distill", str(train_file), "--teacher", "labels", "--out", out,
        "--save-torch", out,
    )  # fmt: skip
    assert code == 2
    assert err.startswith("Error: the torch checkpoint and the bundle need two different folders")
    assert not (tmp_path / "o").exists()


def test_save_torch_is_refused_with_pairs(run_cli: RunCli, tmp_path: Path) -> None:
    pairs = tmp_path / "p.jsonl"
    pairs.write_text("{}\n")
    code, _, err = run_cli(
        "distill", "--pairs", str(pairs), "--out", str(tmp_path / "o"),
        "--save-torch", str(tmp_path / "t"),
    )  # fmt: skip
    assert code == 2 and "--save-torch is not supported with --pairs" in err


@pytest.mark.slow
def test_distilled_checkpoint_exports_like_the_student(
    run_cli: RunCli, train_file: Path, tmp_path: Path
) -> None:
    from edge_eval.reward import load_reward_model
    from edge_eval.training.checkpoint import load_reward_checkpoint
    from edge_eval.training.distill import load_turn_set

    bundle, ckpt = tmp_path / "student", tmp_path / "ckpt"
    code, out, err = run_cli(
        "distill", str(train_file), "--teacher", "labels", "--heldout-fraction", "0.34",
        "--finetune-encoder", "--epochs", "1", "--max-length", "64", "--calibration", "linear",
        "--min-count", "3", "--out", str(bundle), "--save-torch", str(ckpt),
    )  # fmt: skip
    assert code == 0, err
    assert "Kept the torch checkpoint" in out
    checkpoint = load_reward_checkpoint(ckpt)
    meta = json.loads((bundle / "bundle.json").read_text("utf-8"))
    assert checkpoint.calibration == meta["calibration"]
    assert checkpoint.template.to_dict() == meta["input_template"]
    assert checkpoint.metadata["validation"] == meta["validation"]
    assert (ckpt / "head.npy").read_bytes() == (bundle / "head.npy").read_bytes()

    # fp32 from the checkpoint: the gate against torch passes, and it scores like the student
    fp32 = tmp_path / "fp32"
    code, out, err = run_cli(
        "export", "onnx", "--reward", str(ckpt), "--precision", "fp32",
        "--out", str(fp32), "--json",
    )  # fmt: skip
    assert code == 0, err
    figures = json.loads(out)["figures"]
    assert figures["n"] == 48 and figures["mae"] < 1e-3 and figures["spearman"] > 0.999
    turns = load_turn_set(train_file).turns
    student = load_reward_model(bundle, device="cpu").score_turns(turns)
    again = load_reward_model(fp32, device="cpu").score_turns(turns)
    # the student ships int8: only quantization separates the two
    assert np.abs(student - again).mean() < 0.15
    assert np.corrcoef(student, again)[0, 1] > 0.95

    # int8 from the checkpoint, through the default gate; then validate runs on it
    int8 = tmp_path / "int8"
    code, out, err = run_cli("export", "onnx", "--reward", str(ckpt), "--out", str(int8))
    assert code == 0, err
    assert out.startswith("wrote reward-onnx-int8 bundle (")
    code, out, err = run_cli(
        "validate", str(train_file), "--model", str(int8), "--json", "--n-boot", "50"
    )
    assert code == 0, err
    for folder in (ckpt, fp32, int8):
        for file in folder.rglob("*"):
            if file.is_file():
                assert PLANT.encode() not in file.read_bytes(), file.name
