"""`edge-eval bundle build` (the `make bundle` recipe) on a small slice of the project's data,
with `--save-torch`: the bundle is complete and loadable, its figures are measured, and the torch
checkpoint it keeps re-exports (`export onnx --reward`) to a bundle that scores like it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from edge_eval.conversations import iter_conversations, turn_inputs

if TYPE_CHECKING:
    from conftest import RunCli

DATA = Path(__file__).resolve().parents[2] / "datasets" / "empathy-synth"
IEVAL = Path(__file__).resolve().parents[2] / "datasets" / "ieval" / "ieval.jsonl"
BEHAVIOURS = (
    Path(__file__).resolve().parents[2] / "datasets" / "empathy-behaviours" / "behaviours.jsonl"
)


def slice_of(name: str, step: int, out: Path) -> Path:
    """Every ``step``-th conversation: all four clusters, few turns."""
    lines = (DATA / name).read_text("utf-8").splitlines()[::step]
    out.write_text("\n".join(lines) + "\n", "utf-8")
    return out


@pytest.mark.slow
def test_bundle_build_keeps_a_checkpoint_that_exports_back(run_cli: RunCli, tmp_path: Path) -> None:
    from edge_eval.reward import load_reward_model
    from edge_eval.training.checkpoint import load_reward_checkpoint

    train = slice_of("train.jsonl", 16, tmp_path / "train.jsonl")
    heldout = slice_of("heldout.jsonl", 8, tmp_path / "heldout.jsonl")
    human = tmp_path / "ieval.jsonl"  # 5 people x 8 rated chats: one person per CV fold
    human.write_text("\n".join(IEVAL.read_text("utf-8").splitlines()[:40]) + "\n", "utf-8")
    bundle_dir, ckpt = tmp_path / "bundle", tmp_path / "ckpt"
    code, out, err = run_cli(
        "bundle", "build", "--train", str(train), "--heldout", str(heldout),
        "--human", str(human),
        "--out", str(bundle_dir), "--finetune-layers", "1", "--epochs", "1",
        "--save-torch", str(ckpt),
    )  # fmt: skip
    assert code == 0, err
    validation = json.loads(out)
    assert validation["heldout_conversations"] == 15
    cv = validation["human_agreement"]["ieval"]
    assert (cv["n"], cv["level"], cv["protocol"]) == (40, "conversation", "grouped-5-fold-cv")
    assert cv["baseline_length_words"] is not None and cv["spearman_ci"][0] <= cv["spearman_ci"][1]
    unseen = validation["human_agreement"]["ieval_unseen_chatbot"]
    assert (unseen["n"], unseen["protocol"], unseen["chatbots"]) == (40, "leave-one-chatbot-out", 4)
    assert -1.0 <= validation["turn"]["spearman"] <= 1.0
    assert validation["int8_vs_fp32"]["spearman"] > 0.9
    meta = json.loads((bundle_dir / "bundle.json").read_text())
    assert meta["training"]["encoder_trained"] is True
    assert [d["name"] for d in meta["training"]["data"]] == ["iEval", "empathy-synth"]
    assert "SIGDIAL 2022" in meta["training"]["data"][0]["attribution"]
    assert meta["training"]["data"][0]["licence"] == "CC BY 4.0"
    assert meta["validation"] == validation

    checkpoint = load_reward_checkpoint(ckpt)
    assert np.array_equal(np.load(ckpt / "head.npy"), np.load(bundle_dir / "head.npy")), (
        "the checkpoint keeps the head the bundle ships"
    )
    assert checkpoint is not None

    exported = tmp_path / "fp32"
    code, out, err = run_cli(
        "export", "onnx", "--reward", str(ckpt), "--precision", "fp32",
        "--out", str(exported),
    )  # fmt: skip
    assert code == 0, err
    turns = [t for c in iter_conversations(heldout) for t in turn_inputs(c)]
    shipped = load_reward_model(bundle_dir).score_turns(turns)
    again = load_reward_model(exported).score_turns(turns)
    # The shipped file is int8, the re-export fp32 of the same weights: int8 error only.
    assert np.corrcoef(shipped, again)[0, 1] > 0.95
    assert float(np.mean(np.abs(shipped - again))) < 0.2


@pytest.mark.slow
def test_bundle_build_uses_the_graded_replies_as_contrasts(run_cli: RunCli, tmp_path: Path) -> None:
    train = slice_of("train.jsonl", 16, tmp_path / "train.jsonl")
    heldout = slice_of("heldout.jsonl", 8, tmp_path / "heldout.jsonl")
    human = tmp_path / "ieval.jsonl"
    human.write_text("\n".join(IEVAL.read_text("utf-8").splitlines()[:40]) + "\n", "utf-8")
    graded = tmp_path / "graded.jsonl"  # ten messages, five replies each
    graded.write_text("\n".join(BEHAVIOURS.read_text("utf-8").splitlines()[:50]) + "\n", "utf-8")
    code, out, err = run_cli(
        "bundle", "build", "--train", str(train), "--heldout", str(heldout),
        "--human", str(human), "--behaviours", str(graded), "--out", str(tmp_path / "b"),
        "--rater-share", "0.2", "--label-layers", "0",
    )  # fmt: skip
    assert code == 0, err
    figures = json.loads(out)["graded_replies"]
    assert (figures["n"], figures["messages"]) == (50, 10)
    assert figures["protocol"] == "grouped-5-fold-cv by message"
    assert -1.0 <= figures["within_message_spearman"] <= 1.0
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    training = meta["training"]
    assert [d["name"] for d in training["data"]] == ["iEval", "empathy-synth", "empathy-behaviours"]
    assert (training["graded_reply_share"], training["graded_replies"]) == (0.07, 50)
    assert "centred within the message" in training["head"]
    assert training["rater_share"] == 0.2 and "within their rater" in training["head"]


def test_a_build_that_compares_within_raters_needs_raters_with_two(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from edge_eval.errors import ConfigError
    from edge_eval.training.build import BuildConfig, build_default_bundle

    human = tmp_path / "rated.jsonl"  # every conversation its own rater: nothing to compare
    rows = [json.loads(line) for line in IEVAL.read_text("utf-8").splitlines()[:8]]
    human.write_text("".join(json.dumps({**r, "id": f"c{i}"}) + "\n" for i, r in enumerate(rows)))
    config = BuildConfig(contrast_share=0.0, rater_share=0.3, label_layers=0, pair_weight=0.0)
    with pytest.raises(ConfigError, match="no rater has two"):
        build_default_bundle(
            DATA / "train.jsonl", DATA / "heldout.jsonl", human, tmp_path / "b", config
        )
    assert not (tmp_path / "b").exists()
    with pytest.raises(ConfigError, match="shares"):
        BuildConfig(turn_share=0.1, contrast_share=0.5, rater_share=0.4)


def test_a_build_that_weights_graded_replies_needs_them(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from edge_eval.errors import ConfigError
    from edge_eval.training.build import BuildConfig, build_default_bundle

    with pytest.raises(ConfigError, match="graded replies"):
        build_default_bundle(
            DATA / "train.jsonl", DATA / "heldout.jsonl", IEVAL, tmp_path / "b", BuildConfig()
        )
    assert not (tmp_path / "b").exists()


def test_bundle_build_refuses_a_rubric_head_without_reply_labels(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """`--head rubric` with `--label-layers 0` (or `--finetune-layers`): a clear error before any
    work, nothing written."""
    for extra in (("--label-layers", "0"), ("--finetune-layers", "1")):
        code, _out, err = run_cli(
            "bundle", "build", "--out", str(tmp_path / "b"), "--head", "rubric", *extra
        )  # fmt: skip
        assert code != 0 and "rubric head" in err and "Traceback" not in err
        assert not (tmp_path / "b").exists()


def test_bundle_build_refuses_context_pairs_without_trained_layers(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """`--pair-weight` with `--label-layers 0` (or `--finetune-layers`): a clear error before any
    work, nothing written."""
    for extra in (("--label-layers", "0"), ("--finetune-layers", "1")):
        code, _out, err = run_cli(
            "bundle", "build", "--out", str(tmp_path / "b"), "--pair-weight", "3", *extra
        )  # fmt: skip
        assert code != 0 and "context pairs" in err and "Traceback" not in err
        assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_bundle_measure_writes_what_build_measure_writes(run_cli: RunCli, tmp_path: Path) -> None:
    """A bundle built blind and measured afterwards has the same bundle.json, byte for byte, as
    one built with ``--measure``; a set is measured once; the output names no path."""
    train = slice_of("train.jsonl", 16, tmp_path / "train.jsonl")
    heldout = slice_of("heldout.jsonl", 8, tmp_path / "heldout.jsonl")
    unseen = slice_of("heldout.jsonl", 5, tmp_path / "planted-unseen-name.jsonl")  # a stand-in
    human = tmp_path / "ieval.jsonl"
    human.write_text("\n".join(IEVAL.read_text("utf-8").splitlines()[:40]) + "\n", "utf-8")
    common = (
        "bundle", "build", "--train", str(train), "--heldout", str(heldout), "--human",
        str(human), "--label-layers", "0", "--behaviour-share", "0",
    )  # fmt: skip
    measure = f"empathetic_exchanges={unseen}"
    code, _, err = run_cli(*common, "--out", str(tmp_path / "with"), "--measure", measure)
    assert code == 0, err
    code, _, err = run_cli(*common, "--out", str(tmp_path / "blind"))
    assert code == 0, err
    blind = (tmp_path / "blind" / "bundle.json").read_bytes()
    assert b"empathetic_exchanges" not in blind

    code, out, err = run_cli("bundle", "measure", str(tmp_path / "blind"), "--measure", measure)
    assert code == 0, err
    assert json.loads(out)["empathetic_exchanges"]["level"] == "turn"
    assert "planted-unseen-name" not in out + err
    assert (tmp_path / "blind" / "bundle.json").read_bytes() == (
        tmp_path / "with" / "bundle.json"
    ).read_bytes()

    measured = (tmp_path / "blind" / "bundle.json").read_bytes()
    code, out, err = run_cli("bundle", "measure", str(tmp_path / "blind"), "--measure", measure)
    assert code != 0 and "already holds figures" in err and "planted-unseen-name" not in err
    code, _, err = run_cli("bundle", "measure", str(tmp_path / "blind"), "--measure", f"x={unseen}")
    assert code != 0 and "unknown measurement set label" in err
    assert (tmp_path / "blind" / "bundle.json").read_bytes() == measured, "nothing written"
