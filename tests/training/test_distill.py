"""Distillation: calibration maths by hand, the split, the int8 gate, and a student that tracks
the embedded default bundle on held-out turns (small subsets, max_length 128)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_eval.errors import ConfigError, FidelityError
from edge_eval.reward.bundle import InputTemplate, default_bundle_dir
from edge_eval.training.distill import (
    DistillConfig,
    apply_calibration,
    check_int8,
    distill_reward_model,
    fit_calibration,
    fit_isotonic,
    load_turn_set,
    rounded,
    split_by_conversation,
)
from edge_eval.validation import compare_level

DATA = Path(__file__).resolve().parents[2] / "datasets" / "empathy-synth"
PLANT = "planted-qq93-distill"
SHORT = InputTemplate(max_length=128, max_response_tokens=80)
#: The student must rank held-out turns like its teacher at least this well (Spearman).
#: Measured (seed 0, 12 held-out conversations = 54 turns): students on the teacher's template
#: (max_length 256) from 36 / 70 / 110 training conversations reach 0.44 / 0.83 / 0.87; at
#: max_length 128 only 0.39 / 0.64 / 0.56 (they cannot see what the 256-token teacher sees).
#: Those figures are against the v1 default (a ridge head on frozen features: the student's own
#: function class). Against the shipped v2 default, whose top encoder layers are fine-tuned, the
#: frozen-feature student from 70 conversations measured 0.62 [0.40, 0.77] (CI run, seed 0).
#: Against the v3 default (issue 9: frozen encoder, head on [r, log response length] fitted to
#: iEval ratings) it measured 0.284 [0.01, 0.49]: the student's [r, c, r*c] head cannot see the
#: length the teacher reads, and the teacher's scores spread little over synthetic turns. A
#: broken student (shuffled or constant scores) sits near 0.
STUDENT_TEACHER_MIN_RHO = 0.2


def _subset(src: Path, dst: Path, n: int, *, plant: bool = False) -> Path:
    lines = src.read_text("utf-8").splitlines()[:n]
    if plant:
        first = json.loads(lines[0])
        first["id"] = PLANT
        first["meta"] = {"note": PLANT}
        first["messages"][0]["content"] += f" {PLANT}"
        lines[0] = json.dumps(first)
    dst.write_text("\n".join(lines) + "\n", "utf-8")
    return dst


# --------------------------------------------------------------------------- pure parts


def test_isotonic_pools_violators_by_hand() -> None:
    # (2, 3) and (3, 2) violate: pooled to 2.5 at x 2.5; (4, 4) and (5, 4) tie: pooled at 4.5.
    x, y = fit_isotonic(np.array([1.0, 2, 3, 4, 5]), np.array([1.0, 3, 2, 4, 4]))
    np.testing.assert_allclose(x, [1.0, 2.5, 4.5])
    np.testing.assert_allclose(y, [1.0, 2.5, 4.0])


def test_isotonic_merges_tied_inputs_with_weights() -> None:
    # x=0 twice (y 1 and 3: mean 2, weight 2) then x=1 (y 0): one block, y 4/3 at x 1/3.
    x, y = fit_isotonic(np.array([0.0, 0.0, 1.0]), np.array([1.0, 3.0, 0.0]))
    np.testing.assert_allclose(x, [1 / 3])
    np.testing.assert_allclose(y, [4 / 3])


def test_isotonic_is_monotone_and_keeps_order_inside() -> None:
    rng = np.random.default_rng(3)
    raw = rng.normal(size=300)
    target = np.clip(np.round(3 + raw + rng.normal(scale=0.8, size=300)), 1, 5)
    cal = fit_calibration("isotonic", raw, target)
    assert np.all(np.diff(cal["x"]) > 0) and np.all(np.diff(cal["y"]) > 0)
    probe = np.linspace(cal["x"][0], cal["x"][-1], 50)
    mapped = apply_calibration(cal, probe)
    assert np.all(np.diff(mapped) > 0)  # strictly increasing between the end knots


def test_linear_calibration_recovers_a_line_and_clips() -> None:
    raw = np.array([0.0, 1.0, 2.0])
    cal = fit_calibration("linear", raw, 2 * raw + 1)
    assert cal == {"kind": "linear", "slope": pytest.approx(2.0), "intercept": pytest.approx(1.0)}
    np.testing.assert_allclose(apply_calibration(cal, np.array([-5.0, 1.5, 9.0])), [1, 4, 5])


def test_constant_isotonic_is_a_valid_map() -> None:
    cal = fit_calibration("isotonic", np.array([0.2, 0.2]), np.array([3.0, 4.0]))
    np.testing.assert_allclose(apply_calibration(cal, np.array([-1.0, 0.2, 9.0])), [3.5] * 3)


def test_split_is_seeded_disjoint_and_complete() -> None:
    a = split_by_conversation(50, 0.2, 7)
    assert a == split_by_conversation(50, 0.2, 7)
    assert a != split_by_conversation(50, 0.2, 8)
    train, held = a
    assert len(held) == 10 and sorted(train + held) == list(range(50))
    with pytest.raises(ConfigError, match="at least two conversations"):
        split_by_conversation(1, 0.2, 0)


def test_int8_gate() -> None:
    fp32 = np.arange(10, dtype=float)
    ok = check_int8(fp32 + 0.01, fp32, minimum=0.99)
    assert ok["spearman"] == 1.0 and ok["mae"] == pytest.approx(0.01)
    swapped = fp32.copy()
    swapped[[0, 9]] = swapped[[9, 0]]
    with pytest.raises(FidelityError, match="no output was kept"):
        check_int8(swapped, fp32, minimum=0.99)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"heldout_fraction": 1.0}, "heldout-fraction"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"min_int8_spearman": 1.5}, "int8"),
        ({"teacher": " "}, "teacher"),
    ],
)
def test_config_checks_itself(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DistillConfig(**options)


def test_turn_set_keeps_unlabelled_turns_as_nan(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b", "empathy": 4},
                    {"role": "user", "content": "c"},
                    {"role": "assistant", "content": "d"},
                ]
            }
        )
        + "\n"
    )
    ts = load_turn_set(path)
    assert len(ts.turns) == 2 and ts.labels[0] == 4 and np.isnan(ts.labels[1])
    with pytest.raises(TypeError):
        __import__("pickle").dumps(ts)


def test_labels_teacher_without_labels_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    line = {"messages": [{"role": "user", "content": PLANT}, {"role": "assistant", "content": "x"}]}
    path.write_text((json.dumps(line) + "\n") * 6)
    with pytest.raises(ConfigError, match="`empathy` label") as info:
        distill_reward_model(path, DistillConfig(teacher="labels"), out_dir=tmp_path / "out")
    assert PLANT not in str(info.value) and "--teacher" in info.value.hint
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- real students


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    if not (default_bundle_dir() / "bundle.json").is_file():
        pytest.skip("the embedded default bundle is not built yet (make bundle)")
    root = tmp_path_factory.mktemp("student")
    train = _subset(DATA / "train.jsonl", root / "train.jsonl", 70, plant=True)
    held = _subset(DATA / "heldout.jsonl", root / "heldout.jsonl", 12)
    report = distill_reward_model(
        train,
        # The teacher's own template: see STUDENT_TEACHER_MIN_RHO. The int8 gate is 0.98 here,
        # not 0.99: this small student ranks the 54 held-out turns at Spearman 0.985 int8 vs
        # fp32 (measured), and the 0.99 default refuses it (the gate working as meant).
        DistillConfig(teacher="default", n_boot=200, min_int8_spearman=0.98),
        out_dir=root / "bundle",
        heldout_path=held,
    )
    return root / "bundle", report.metadata, held


@pytest.mark.slow
def test_student_tracks_the_default_bundle_on_heldout_turns(student: tuple) -> None:
    _, meta, _ = student
    v = meta["validation"]
    assert v["reference"] == "teacher"
    assert meta["training"]["teacher"]["kind"] == "onnx-regression"
    assert 250 <= meta["training"]["train_turns"] <= 400
    assert v["turn"]["n"] == v["heldout_turns"] > 30
    assert v["turn"]["spearman"] > STUDENT_TEACHER_MIN_RHO, v["turn"]
    assert v["int8_vs_fp32"]["spearman"] >= 0.98 and v["int8_vs_fp32"]["n"] == v["heldout_turns"]
    # the held-out turns carry human labels: student and teacher are both compared with them
    assert set(v["human"]) == set(v["teacher_human"]) == {"turn", "conversation"}
    assert set(v["turn"]) == {
        "n",
        "spearman",
        "spearman_ci",
        "mae",
        "accuracy",
        "macro_f1",
        "within1",
    }


@pytest.mark.slow
def test_student_bundle_scores_and_its_figures_are_the_shipped_files(student: tuple) -> None:
    from edge_eval.reward import load_reward_model
    from edge_eval.reward.onnx_scorer import OnnxRewardModel

    bundle, meta, held = student
    model = load_reward_model(bundle, device="cpu")
    assert isinstance(model, OnnxRewardModel) and model.kind == "onnx-regression"
    assert meta["calibration"]["kind"] == "isotonic"
    teacher = load_reward_model(None, device="cpu")
    turns = load_turn_set(held).turns
    scores = model.score_turns(turns)
    assert np.all((scores >= 1) & (scores <= 5))
    again = compare_level(teacher.score_turns(turns), scores, seed=0, n_boot=200)
    assert again is not None and rounded(again.to_dict()) == meta["validation"]["turn"]


@pytest.mark.slow
def test_student_bundle_leaks_nothing(student: tuple) -> None:
    bundle, meta, _ = student
    for file in bundle.iterdir():
        assert PLANT.encode() not in file.read_bytes(), file.name
    text = json.dumps(meta)
    assert "train.jsonl" not in text and "heldout.jsonl" not in text
    assert sorted(p.name for p in bundle.iterdir()) == [
        "bundle.json",
        "head.npy",
        "model.onnx",
        "prototypes.npy",
        "tokenizer.json",
    ]


@pytest.mark.slow
def test_int8_gate_failure_keeps_nothing(tmp_path: Path) -> None:
    train = _subset(DATA / "train.jsonl", tmp_path / "train.jsonl", 14)
    config = DistillConfig(
        teacher="labels", template=SHORT, min_int8_spearman=1.0, heldout_fraction=0.5, n_boot=10
    )
    with pytest.raises(FidelityError, match=r"Spearman 0\.\d+ < 1\.0"):
        distill_reward_model(train, config, out_dir=tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]
