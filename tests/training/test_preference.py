"""The preference model: pairs files (errors by line and field), Bradley-Terry fitting, the
derived empathy-synth pairs, and a model that ranks chosen above rejected on held-out pairs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_eval.errors import ConfigError, InputError
from edge_eval.reward.bundle import InputTemplate
from edge_eval.training.preference import (
    PreferenceConfig,
    fit_bradley_terry,
    load_pairs,
    pairwise_accuracy,
    train_preference_model,
)

DATA = Path(__file__).resolve().parents[2] / "datasets" / "empathy-synth"
PLANT = "planted-kk47-pairs"
#: Held-out pairwise accuracy the preference model must exceed (chance is 0.5).
MIN_HELDOUT_ACCURACY = 0.65

GOOD = {
    "context": [{"role": "user", "content": PLANT}],
    "chosen": f"warm {PLANT}",
    "rejected": f"cold {PLANT}",
    "task": "learning_skills",
}


def _write(tmp_path: Path, *lines: Any) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), "utf-8"
    )
    return path


# --------------------------------------------------------------------------- pairs files


def test_pairs_load_with_system_messages_left_out_of_the_context(tmp_path: Path) -> None:
    line = dict(GOOD, context=[{"role": "system", "content": "s"}, *GOOD["context"]], id=3)
    (pair,) = load_pairs(_write(tmp_path, line))
    assert pair.context == (("user", PLANT),) and pair.task == "learning_skills"
    chosen, rejected = pair.turns()
    assert chosen.response == GOOD["chosen"] and rejected.context == pair.context
    with pytest.raises(TypeError):
        __import__("pickle").dumps(pair)


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("{not json", None, "malformed JSON"),
        ([1, 2], None, "expected a JSON object, found an array"),
        (dict(GOOD, extra=PLANT), None, "1 unknown field(s); valid fields are: context, chosen"),
        ({k: v for k, v in GOOD.items() if k != "chosen"}, "chosen", "required field is missing"),
        (dict(GOOD, chosen=5), "chosen", "expected a string, found a number"),
        (dict(GOOD, rejected="  "), "rejected", "the response is empty"),
        (dict(GOOD, rejected=GOOD["chosen"]), "rejected", "chosen and rejected are the same"),
        ({k: v for k, v in GOOD.items() if k != "context"}, "context", "use [] for no context"),
        (dict(GOOD, context=PLANT), "context", "expected an array of messages, found a string"),
        (dict(GOOD, context=[{"content": PLANT}]), "context[0].role", "required field"),
        (dict(GOOD, context=[{"role": PLANT, "content": "x"}]), "context[0].role", "unknown role"),
        (dict(GOOD, context=[{"role": "user", "content": 1}]), "context[0].content", "a string"),
        (dict(GOOD, task=7), "task", "expected a string or null"),
    ],
)
def test_bad_pairs_lines_name_line_and_field_never_content(
    tmp_path: Path, line: Any, field: str | None, message: str
) -> None:
    path = _write(tmp_path, GOOD, "", line)
    with pytest.raises(InputError) as info:
        load_pairs(path)
    error = info.value
    assert error.line == 3 and error.field == field and error.source == "pairs.jsonl"
    assert message in error.message
    assert PLANT not in error.message and PLANT not in error.hint
    assert str(tmp_path) not in error.message


def test_empty_pairs_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no pairs"):
        load_pairs(_write(tmp_path, ""))


def test_pairwise_accuracy_counts_ties_as_wrong() -> None:
    assert pairwise_accuracy(np.array([2.0, 1.0, 3.0, 1.0]), np.array([1.0, 2.0, 3.0, 0.0])) == 0.5


def test_bradley_terry_finds_the_preferred_direction() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=8)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    better = (a @ truth) > (b @ truth)
    diff = np.where(better[:, None], a - b, b - a)  # chosen minus rejected
    w, l2, cv = fit_bradley_terry(diff, np.arange(400) % 37, beta=0.1)
    assert set(cv) == {"0.0001", "0.001", "0.01", "0.1"} and cv[f"{l2:g}"] > 0.9
    cosine = w @ truth / np.linalg.norm(w) / np.linalg.norm(truth)
    assert cosine > 0.9
    # beta only rescales the reward on frozen features (same L2 on beta * w)
    w2, l2_2, _ = fit_bradley_terry(diff, np.arange(400) % 37, beta=1.0)
    assert l2_2 == l2
    np.testing.assert_allclose(w2, 0.1 * w, rtol=1e-3, atol=1e-4)


def test_preference_config_checks_itself() -> None:
    with pytest.raises(ConfigError, match="beta"):
        PreferenceConfig(beta=0.0)
    with pytest.raises(ConfigError, match="heldout-fraction"):
        PreferenceConfig(heldout_fraction=0.0)


# --------------------------------------------------------------------------- derived pairs


def _make_pairs_module() -> Any:
    spec = importlib.util.spec_from_file_location("_make_pairs", DATA / "make_pairs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_pairs_are_what_make_pairs_derives() -> None:
    built = _make_pairs_module().build_pairs(DATA.parents[1])
    for split in ("train", "heldout"):
        expected = "".join(
            json.dumps(p, sort_keys=True, ensure_ascii=False) + "\n" for p in built[split]
        )
        assert (DATA / f"pairs_{split}.jsonl").read_text("utf-8") == expected, split
        for p in built[split]:
            assert p["meta"]["chosen_level"] > p["meta"]["rejected_level"]
            assert p["context"][-1]["role"] == "user" and p["chosen"] != p["rejected"]

    # held-out pairs come from held-out conversations only: no context is shared with train
    def opener(p: dict) -> str:
        return next(m["content"] for m in p["context"] if m["role"] == "user")

    train_openers = {opener(p) for p in built["train"]}
    assert not any(opener(p) in train_openers for p in built["heldout"])
    assert len(load_pairs(DATA / "pairs_heldout.jsonl")) == len(built["heldout"])


# --------------------------------------------------------------------------- a real model


@pytest.fixture(scope="module")
def preference_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("preference")
    train = root / "pairs_train.jsonl"
    held = root / "pairs_heldout.jsonl"
    train.write_text(
        "".join((DATA / "pairs_train.jsonl").open("r", encoding="utf-8").readlines()[:150])
    )
    held.write_text(
        "".join((DATA / "pairs_heldout.jsonl").open("r", encoding="utf-8").readlines()[:60])
    )
    report = train_preference_model(
        train,
        PreferenceConfig(
            template=InputTemplate(max_length=128, max_response_tokens=80), n_boot=200
        ),
        out_dir=root / "bundle",
        heldout_path=held,
    )
    return root / "bundle", report.metadata, held


@pytest.mark.slow
def test_preference_model_ranks_chosen_above_rejected_on_heldout_pairs(
    preference_bundle: tuple,
) -> None:
    _, meta, _ = preference_bundle
    v = meta["validation"]
    assert meta["kind"] == "onnx-preference" and v["heldout_pairs"] == 60
    assert v["pairs"]["pairwise_accuracy"] > MIN_HELDOUT_ACCURACY, v["pairs"]
    assert v["pairs"]["pairwise_accuracy"] > v["baseline_length_words"]["pairwise_accuracy"]
    assert v["int8_vs_fp32"]["spearman"] >= 0.99
    assert meta["training"]["beta"] == 0.1 and meta["training"]["train_pairs"] == 150


@pytest.mark.slow
def test_preference_bundle_is_a_scorer(preference_bundle: tuple) -> None:
    from edge_eval.reward import load_reward_model

    bundle, meta, held = preference_bundle
    model = load_reward_model(bundle, device="cpu")
    assert model.kind == "onnx-preference"
    pairs = load_pairs(held)
    chosen = model.score_turns([p.turns()[0] for p in pairs])
    rejected = model.score_turns([p.turns()[1] for p in pairs])
    assert np.all((chosen >= 1) & (chosen <= 5)) and np.all((rejected >= 1) & (rejected <= 5))
    # the relative 1-5 map is monotone: calibrated scores rank pairs nearly as the raw reward
    assert np.mean(chosen > rejected) > MIN_HELDOUT_ACCURACY - 0.05
    assert meta["calibration"]["kind"] == "isotonic" and meta["calibration"]["y"][0] == 1.0


@pytest.mark.slow
def test_finetuning_the_encoder_on_pairs(tmp_path: Path) -> None:
    lines = (DATA / "pairs_train.jsonl").open("r", encoding="utf-8").readlines()
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(lines[:24]))
    messages: list[str] = []
    report = train_preference_model(
        pairs,
        PreferenceConfig(
            template=InputTemplate(max_length=64, max_response_tokens=40),
            finetune_encoder=True,
            epochs=1,
            heldout_fraction=0.25,
            quantize=False,  # too few held-out responses for a meaningful int8 ranking check
            min_count=3,
            n_boot=20,
        ),
        out_dir=tmp_path / "bundle",
        progress=messages.append,
    )
    meta = report.metadata
    assert meta["training"]["encoder_trained"] is True and meta["training"]["precision"] == "fp32"
    assert meta["validation"]["int8_vs_fp32"] is None
    assert any(m.startswith("epoch 1/1: training loss") for m in messages)
    assert meta["validation"]["pairs"]["n"] == meta["validation"]["heldout_pairs"] >= 3
    from edge_eval.reward import load_reward_model

    assert load_reward_model(tmp_path / "bundle", device="cpu").kind == "onnx-preference"
