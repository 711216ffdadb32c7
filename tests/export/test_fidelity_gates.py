"""Fidelity figures, gates and the manifest: pure functions, no models."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from edge_eval.errors import ConfigError, ExportError, FidelityError
from edge_eval.export.fidelity import (
    DEFAULT_GATES,
    TOP1_TIE_LOGITS,
    GateThresholds,
    LMFidelity,
    check_gate,
    compare_lm_logits,
    compare_scores,
    compare_token_ids,
    enforce_gate,
    gate_for,
)
from edge_eval.export.manifest import sha256_file, write_artifact_manifest
from edge_eval.export.probes import DEFAULT_PROBES_PATH, load_probe_set


def test_identical_and_shifted_logits_agree_fully() -> None:
    rng = np.random.default_rng(0)
    ref = [rng.normal(size=(5, 11)), rng.normal(size=(3, 11))]
    ids = [np.arange(5), np.arange(3)]
    same = compare_lm_logits(ref, [r.copy() for r in ref], ids)
    assert (same.max_abs_logit_delta, same.mean_kl, same.top1_agreement) == (0.0, 0.0, 1.0)
    assert (same.n_tokens, same.n_sequences) == (8, 2)
    shifted = compare_lm_logits(ref, [r + 3.0 for r in ref], ids)
    assert shifted.max_abs_logit_delta == pytest.approx(3.0)
    assert shifted.mean_kl == pytest.approx(0.0, abs=1e-12)
    assert shifted.max_seq_logprob_delta == pytest.approx(0.0, abs=1e-9)


def test_kl_top1_and_sequence_logprob_by_hand() -> None:
    # two positions, vocabulary of two; tokens [0, 1]: only row 0 predicts a token (1);
    # row 0's reference margin log(0.7/0.3) = 0.85 is past the near-tie allowance
    ref = [np.log(np.array([[0.7, 0.3], [0.9, 0.1]]))]
    cand = [np.log(np.array([[0.25, 0.75], [0.9, 0.1]]))]
    figures = compare_lm_logits(ref, cand, [np.array([0, 1])])
    kl0 = 0.7 * math.log(0.7 / 0.25) + 0.3 * math.log(0.3 / 0.75)
    assert figures.mean_kl == pytest.approx(kl0 / 2)
    assert figures.top1_agreement == pytest.approx(0.5)
    assert figures.max_seq_logprob_delta == pytest.approx(abs(math.log(0.3) - math.log(0.75)))


def test_top1_forgives_near_ties_only() -> None:
    # reference margins 0.4 (a near-tie) and 2.0 (decisive); the candidate flips both
    ref = [np.array([[0.4, 0.0, -5.0], [2.0, 0.0, -5.0]])]
    cand = [np.array([[0.0, 0.4, -5.0], [0.0, 2.0, -5.0]])]
    assert TOP1_TIE_LOGITS == 0.5
    assert compare_lm_logits(ref, cand, [np.arange(2)]).top1_agreement == pytest.approx(0.5)
    # a flip just past the tie margin counts
    ref = [np.array([[0.51, 0.0, -5.0]])]
    cand = [np.array([[0.0, 0.51, -5.0]])]
    assert compare_lm_logits(ref, cand, [np.arange(1)]).top1_agreement == 0.0


def test_misaligned_inputs_are_refused() -> None:
    with pytest.raises(ExportError, match="do not line up"):
        compare_lm_logits([np.zeros((3, 4))], [np.zeros((3, 5))], [np.arange(3)])
    with pytest.raises(ExportError, match="same number"):
        compare_lm_logits([np.zeros((3, 4))], [], [np.arange(3)])


def test_non_finite_candidate_fails_every_lm_bound() -> None:
    ref = [np.zeros((2, 3))]
    figures = compare_lm_logits(ref, [np.full((2, 3), np.nan)], [np.arange(2)])
    violations = check_gate(figures, gate_for("gguf-f16"))
    assert len(violations) == 4
    assert all("undefined (NaN)" in v for v in violations)


def test_scores_mae_and_spearman_with_ties() -> None:
    figures = compare_scores(np.array([1.0, 2.0, 2.0, 4.0]), np.array([1.5, 2.5, 2.5, 3.0]))
    assert figures.mae == pytest.approx((0.5 + 0.5 + 0.5 + 1.0) / 4)
    assert figures.spearman == pytest.approx(1.0)
    reversed_ = compare_scores(np.arange(5.0), -np.arange(5.0))
    assert reversed_.spearman == pytest.approx(-1.0)
    assert math.isnan(compare_scores(np.ones(3), np.arange(3.0)).spearman)


def test_token_ids() -> None:
    figures = compare_token_ids([[1, 2], [3], [4, 5]], [[1, 2], [3, 0], [4, 5]])
    assert (figures.exact_match, figures.n_probes, figures.mismatches) == (2 / 3, 3, 1)


def test_gate_lists_every_violation_at_once() -> None:
    figures = LMFidelity(
        max_abs_logit_delta=9.0,
        mean_kl=0.5,
        top1_agreement=0.4,
        max_seq_logprob_delta=0.1,
        n_tokens=10,
        n_sequences=2,
    )
    gate = GateThresholds(max_kl=0.1, min_top1=0.9, max_abs_logit=1.0, max_seq_logprob_delta=1.0)
    assert check_gate(figures, gate) == [
        "max |delta logit| 9 > allowed 1 (--max-abs-logit)",
        "mean KL 0.5 > allowed 0.1 (--max-kl)",
        "top-1 agreement 0.4 < required 0.9 (--min-top1)",
    ]
    with pytest.raises(FidelityError) as info:
        enforce_gate(figures, gate, what="the thing")
    assert info.value.message.count(";") == 2
    assert info.value.exit_code == 8
    enforce_gate(
        figures, gate.with_overrides(max_kl=1.0, min_top1=0.3, max_abs_logit=10.0), what="x"
    )


def test_reward_bounds_ignore_lm_figures_and_vice_versa() -> None:
    lm = LMFidelity(
        max_abs_logit_delta=0.0,
        mean_kl=0.0,
        top1_agreement=1.0,
        max_seq_logprob_delta=0.0,
        n_tokens=1,
        n_sequences=1,
    )
    assert check_gate(lm, GateThresholds(max_reward_mae=0.0, min_token_exact=1.0)) == []
    reward = compare_scores(np.arange(4.0), np.arange(4.0) + 0.5)
    assert check_gate(reward, gate_for("reward-onnx")) == [
        "reward score MAE 0.5 > allowed 0.01 (--max-reward-mae)"
    ]


def test_thresholds_validate_themselves() -> None:
    with pytest.raises(ConfigError, match="share"):
        GateThresholds(min_top1=1.5)
    with pytest.raises(ConfigError, match="negative"):
        GateThresholds(max_kl=-1.0)
    with pytest.raises(ConfigError, match="max_klx") as info:
        GateThresholds().with_overrides(max_klx=1.0)
    assert "valid thresholds" in info.value.hint
    with pytest.raises(ConfigError, match="gguf-q3_k") as info:
        gate_for("gguf-q3_k")
    assert "gguf-q4_k_m" in info.value.hint


def test_default_gates_cover_every_format() -> None:
    assert set(DEFAULT_GATES) == {
        "gguf-f32", "gguf-f16", "gguf-q8_0", "gguf-q6_k", "gguf-q5_k_m", "gguf-q4_k_m",
        "gguf-lora", "gguf-quantized-base", "onnx-fp32", "onnx-int8", "onnx-int4",
        "reward-onnx", "reward-onnx-int8", "tokenizer",
    }  # fmt: skip
    # looser formats never have tighter bounds than stricter ones
    order = ["gguf-f32", "gguf-f16", "gguf-q8_0", "gguf-q6_k", "gguf-q5_k_m", "gguf-q4_k_m"]
    for a, b in zip(order, order[1:], strict=False):
        assert DEFAULT_GATES[a].max_kl <= DEFAULT_GATES[b].max_kl
        assert DEFAULT_GATES[a].min_top1 >= DEFAULT_GATES[b].min_top1


def test_probe_set_is_shipped_and_varied() -> None:
    probes = load_probe_set()
    assert len(probes.texts) == 8
    joined = "".join(probes.texts)
    assert any(ch.isdigit() for ch in joined)
    assert any(ord(ch) > 0x1F000 for ch in joined)  # emoji
    assert joined.count("<|im_end|>") > 2 * len(probes.texts)  # special-token text in content
    assert probes.sha256 == sha256_file(DEFAULT_PROBES_PATH)
    assert "im_start" not in repr(probes)


def test_bad_probe_file_names_the_line_not_the_text(tmp_path: Path) -> None:
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "x"}]}\n{"messages": "PLANTED"}\n')
    with pytest.raises(ConfigError) as info:
        load_probe_set(bad)
    assert "line 2" in info.value.message and "PLANTED" not in info.value.message


def test_manifest_has_hashes_versions_figures_and_no_paths(tmp_path: Path) -> None:
    secret_dir = tmp_path / "PLANTED_SECRET_DIR"
    secret_dir.mkdir()
    artifact = secret_dir / "model.gguf"
    artifact.write_bytes(b"abc")
    reference = secret_dir / "base.gguf"
    reference.write_bytes(b"base")
    figures = LMFidelity(
        max_abs_logit_delta=float("nan"),
        mean_kl=0.1,
        top1_agreement=1.0,
        max_seq_logprob_delta=0.0,
        n_tokens=3,
        n_sequences=1,
    )
    out = write_artifact_manifest(
        secret_dir / "m.json",
        artifact_files=[artifact],
        reference_files={"base": reference},
        probe_set_sha256="0" * 64,
        figures=figures,
        thresholds=gate_for("gguf-f16"),
        checked=True,
        command="edge-eval export merge",
        extra={"format": "gguf-f16"},
    )
    text = out.read_text()
    assert "PLANTED_SECRET_DIR" not in text
    data = json.loads(text)
    assert data["artifact"] == [{"name": "model.gguf", "sha256": sha256_file(artifact), "bytes": 3}]
    assert data["reference"][0]["name"] == "base"
    assert data["fidelity"]["checked"] is True
    assert data["fidelity"]["figures"]["max_abs_logit_delta"] is None  # NaN -> null
    assert data["fidelity"]["thresholds"] == dataclasses.asdict(gate_for("gguf-f16"))
    assert data["versions"]["edge-eval"]
    assert "numpy" in data["versions"]
