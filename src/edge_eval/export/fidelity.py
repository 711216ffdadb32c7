"""Fidelity gates: how close an exported or quantized artifact is to its reference.

Pure functions on arrays (numpy only, no I/O):

* :func:`compare_lm_logits` -> :class:`LMFidelity` for language models (max |delta logit|, mean
  KL(reference || candidate), top-1 agreement, largest change of a probe's log-probability),
* :func:`compare_scores` -> :class:`RewardFidelity` for reward models (MAE, Spearman),
* :func:`compare_token_ids` -> :class:`TokenizerFidelity` for tokenizers (exact id equality).

A :class:`GateThresholds` says which figures must stay within which bounds;
:data:`DEFAULT_GATES` holds the default per format. :func:`check_gate` lists every violation,
:func:`enforce_gate` raises one :class:`~edge_eval.errors.FidelityError` naming them all.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_eval.errors import ConfigError, ExportError, FidelityError

__all__ = [
    "DEFAULT_GATES",
    "GateThresholds",
    "LMFidelity",
    "RewardFidelity",
    "TokenizerFidelity",
    "check_gate",
    "compare_lm_logits",
    "compare_scores",
    "compare_token_ids",
    "enforce_gate",
    "figures_to_dict",
    "gate_for",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class LMFidelity:
    """How a candidate language model's logits differ from the reference's on the probes."""

    max_abs_logit_delta: float
    """Largest |reference logit - candidate logit| over every position and vocabulary entry."""
    mean_kl: float
    """Mean over positions of KL(reference || candidate) of the next-token distributions, nats."""
    top1_agreement: float
    """Share of positions whose arg-max next token is the same, a near-tie counting as the same:
    where the reference scores the candidate's arg-max within ``TOP1_TIE_LOGITS`` of its own."""
    max_seq_logprob_delta: float
    """Largest |delta| over probes of the summed log-probability of the probe's own tokens."""
    n_tokens: int
    """Positions compared (all sequences together)."""
    n_sequences: int
    """Probe sequences compared."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardFidelity:
    """How a candidate reward model's scores differ from the reference's."""

    mae: float
    """Mean absolute score difference."""
    spearman: float
    """Spearman rank correlation of the two score lists (NaN when undefined)."""
    n: int
    """Scores compared."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenizerFidelity:
    """Whether a candidate tokenizer gives the reference's ids on the probes."""

    exact_match: float
    """Share of probes whose id lists are identical."""
    n_probes: int
    """Probes compared."""
    mismatches: int
    """Probes whose id lists differ."""


Figures = LMFidelity | RewardFidelity | TokenizerFidelity


@dataclass(frozen=True, slots=True, kw_only=True)
class GateThresholds:
    """Bounds a fidelity figure must respect; ``None`` leaves a figure unchecked."""

    max_kl: float | None = None
    """Upper bound of ``LMFidelity.mean_kl`` (option ``--max-kl``)."""
    min_top1: float | None = None
    """Lower bound of ``LMFidelity.top1_agreement`` (``--min-top1``)."""
    max_abs_logit: float | None = None
    """Upper bound of ``LMFidelity.max_abs_logit_delta`` (``--max-abs-logit``)."""
    max_seq_logprob_delta: float | None = None
    """Upper bound of ``LMFidelity.max_seq_logprob_delta`` (``--max-seq-logprob-delta``)."""
    max_reward_mae: float | None = None
    """Upper bound of ``RewardFidelity.mae`` (``--max-reward-mae``)."""
    min_reward_spearman: float | None = None
    """Lower bound of ``RewardFidelity.spearman`` (``--min-reward-spearman``)."""
    min_token_exact: float | None = None
    """Lower bound of ``TokenizerFidelity.exact_match`` (``--min-token-exact``)."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if not isinstance(value, int | float) or math.isnan(float(value)):
                raise ConfigError(f"gate threshold {field.name} must be a number, got {value!r}")
            if value < 0:
                raise ConfigError(f"gate threshold {field.name} must not be negative")
            if field.name.startswith("min_") and field.name != "min_reward_spearman" and value > 1:
                raise ConfigError(f"gate threshold {field.name} is a share: use 0..1")

    def with_overrides(self, **overrides: float | None) -> GateThresholds:
        """A copy with the given non-None values replaced (unknown names are refused)."""
        valid = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ConfigError(
                f"unknown gate threshold(s) {', '.join(unknown)}",
                hint=f"valid thresholds: {', '.join(sorted(valid))}",
            )
        changes = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self

    def to_dict(self) -> dict[str, float | None]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


# Defaults for GGUF, from measurements on this machine (2 cores, llama-cpp-python 0.3.36, the 8
# shipped probes = 425 SmolLM2 tokens, f32 KV cache; /tmp scripts, then benchmarks/bench_gguf.py).
# Each bound sits above what a good artifact measured and below what a broken one did.
#   SmolLM2-135M (mean KL / top-1 / max |dlogit| / max seq log-prob delta, nats):
#     merged f16 vs base + runtime GGUF LoRA, f16 base     <1e-5 / 1.000 /  0.08 / 0.05
#     the same on the shipped Q4_1 base                  0.0028 / 0.976 /  1.5  / 1.1
#     the shipped Q4_1 vs an f16 copy of it              0.0031 / 0.969 /  1.6  / 0.93
#     Q8_0 vs f16                                        0.0045 / 0.969 /  2.0  / 1.15
#     Q6_K vs f16                                        0.014  / 0.936 /  3.4  / 2.2
#     Q5_K_M vs f16                                      0.076  / 0.842 / 11.0  / 6.5
#     Q4_K_M vs f16                                      0.059  / 0.854 / 12.0  / 7.3
#   Broken artifacts vs the runtime adapter (f16 base):
#     merge without llama.cpp's q/k row order            0.0105 / 0.972 /  4.2  / 4.1
#     adapter merged twice                               0.29   / 0.776 / 15.7  / 27
#   (the trained adapter itself moved the model by KL 0.71, top-1 0.67.)
# "gguf-quantized-base" is the gate of merge / lora exports whose touched tensors are quantized
# in the base: there llama.cpp's quantized matmuls (activations rounded to 8 bits) make base +
# runtime adapter differ from merged float weights by themselves. Gemma-3-270M Q4_K_M is more
# sensitive than SmolLM2: with a seeded LoRA on 10 tensors and 2 short probes (58 tokens),
# merged f16 vs runtime 0.017 / 0.983 / 4.3 / 1.9; the same adapter scaled by 0.001 still gave
# 0.006 / 0.964 / 1.7 / 0.8 against a copy whose touched tensors were converted to f32, so
# this is llama.cpp's numerical floor on that model, not the adapter.
DEFAULT_GATES: dict[str, GateThresholds] = {
    "gguf-f32": GateThresholds(
        max_kl=1e-3, min_top1=0.98, max_abs_logit=0.5, max_seq_logprob_delta=0.25
    ),
    "gguf-f16": GateThresholds(
        max_kl=1e-3, min_top1=0.98, max_abs_logit=0.5, max_seq_logprob_delta=0.25
    ),
    "gguf-lora": GateThresholds(
        max_kl=1e-3, min_top1=0.98, max_abs_logit=0.5, max_seq_logprob_delta=0.25
    ),
    "gguf-quantized-base": GateThresholds(
        max_kl=0.04, min_top1=0.9, max_abs_logit=8.0, max_seq_logprob_delta=5.0
    ),
    "gguf-q8_0": GateThresholds(
        max_kl=0.02, min_top1=0.9, max_abs_logit=5.0, max_seq_logprob_delta=4.0
    ),
    "gguf-q6_k": GateThresholds(
        max_kl=0.05, min_top1=0.85, max_abs_logit=8.0, max_seq_logprob_delta=6.0
    ),
    "gguf-q5_k_m": GateThresholds(
        max_kl=0.2, min_top1=0.75, max_abs_logit=18.0, max_seq_logprob_delta=15.0
    ),
    "gguf-q4_k_m": GateThresholds(
        max_kl=0.2, min_top1=0.75, max_abs_logit=18.0, max_seq_logprob_delta=15.0
    ),
    # ONNX and reward defaults: from PLATFORM.md's figures (ONNX int8 per-channel with the
    # sensitive MatMuls excluded: |dlogit| 8.2, top-1 0.86 vs torch); tuned by the ONNX export.
    "onnx-fp32": GateThresholds(
        max_kl=1e-3, min_top1=0.98, max_abs_logit=0.1, max_seq_logprob_delta=0.1
    ),
    "onnx-int8": GateThresholds(
        max_kl=0.3, min_top1=0.75, max_abs_logit=15.0, max_seq_logprob_delta=12.0
    ),
    "onnx-int4": GateThresholds(
        max_kl=0.5, min_top1=0.6, max_abs_logit=20.0, max_seq_logprob_delta=20.0
    ),
    "reward-onnx": GateThresholds(max_reward_mae=0.01, min_reward_spearman=0.99),
    # int8 per-channel vs fp32 on the 1-5 scale, measured: MAE 0.090 / Spearman 0.997 (the
    # default bundle, 552 held-out turns) and MAE 0.097 / 0.983 (a distilled MiniLM student, the
    # 48 reward probe turns). 0.15 leaves room for a model like these; Spearman catches ruin.
    "reward-onnx-int8": GateThresholds(max_reward_mae=0.15, min_reward_spearman=0.9),
    "tokenizer": GateThresholds(min_token_exact=1.0),
}


def gate_for(fmt: str) -> GateThresholds:
    """The default gate of a format name (``gguf-q4_k_m``, ``onnx-int8``, ...)."""
    key = fmt.lower()
    if key not in DEFAULT_GATES:
        raise ConfigError(
            f"no default fidelity gate for format {fmt!r}",
            hint=f"known formats: {', '.join(sorted(DEFAULT_GATES))}",
        )
    return DEFAULT_GATES[key]


# ---------------------------------------------------------------------------------------------
# Comparisons


# Top-1 agreement forgives near-ties. Quantized kernels differ between CPUs (AVX2, AVX-512/VNNI,
# AMX): on Gemma-3-270M Q4_K_M the merged-vs-runtime gate's 58 probe positions measured a median
# per-position max |delta logit| of 1.0 on an AVX-512/VNNI CPU, and every one of its 6 arg-max
# flips was between tokens the reference scored 0.04-0.39 logits apart (strict agreement 0.897
# there, 0.983 on an AVX2 CPU). A flip between two tokens within 0.5 logits (odds under 1.65:1)
# says which way the kernel's rounding fell, not whether the model is right; a real defect moves
# decisive positions too, and shows in KL and the sequence log-probability, which stay strict.
TOP1_TIE_LOGITS = 0.5


def _top1_agreements(ref: np.ndarray, cand: np.ndarray) -> int:
    """Positions where the candidate's arg-max is the reference's, or within a near-tie of it."""
    rows = np.arange(ref.shape[0])
    best, chosen = ref.argmax(axis=-1), cand.argmax(axis=-1)
    return int((ref[rows, best] - ref[rows, chosen] < TOP1_TIE_LOGITS).sum())


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def compare_lm_logits(
    reference: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    token_ids: Sequence[np.ndarray] | Sequence[Sequence[int]],
) -> LMFidelity:
    """Compare per-position next-token logits of two models on the same probe sequences.

    ``reference[i]`` and ``candidate[i]`` are ``[T_i, vocab]`` logits for sequence ``i`` whose
    tokens are ``token_ids[i]`` (length ``T_i``): row ``t`` predicts token ``t + 1``. The
    sequence log-probability sums the log-probabilities of tokens ``1 .. T_i - 1``.
    """
    if not (len(reference) == len(candidate) == len(token_ids)):
        raise ExportError(
            f"fidelity check got {len(reference)} reference, {len(candidate)} candidate and "
            f"{len(token_ids)} token sequences; they must be the same number"
        )
    if not reference:
        raise ExportError("fidelity check got no probe sequences")
    max_abs = 0.0
    kl_sum = 0.0
    agree = 0
    n_tokens = 0
    max_seq = 0.0
    for index, (ref, cand, ids) in enumerate(zip(reference, candidate, token_ids, strict=True)):
        ref = np.asarray(ref, dtype=np.float64)
        cand = np.asarray(cand, dtype=np.float64)
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ref.ndim != 2 or ref.shape != cand.shape or ref.shape[0] != ids.shape[0]:
            raise ExportError(
                f"probe sequence {index}: reference logits {ref.shape}, candidate logits "
                f"{cand.shape} and {ids.shape[0]} tokens do not line up"
            )
        if ref.shape[0] == 0:
            continue
        if not (np.isfinite(ref).all() and np.isfinite(cand).all()):
            nan = math.nan
            return LMFidelity(
                max_abs_logit_delta=nan,
                mean_kl=nan,
                top1_agreement=nan,
                max_seq_logprob_delta=nan,
                n_tokens=sum(int(np.asarray(t).size) for t in token_ids),
                n_sequences=len(token_ids),
            )
        max_abs = max(max_abs, float(np.abs(ref - cand).max()))
        log_p = _log_softmax(ref)
        log_q = _log_softmax(cand)
        kl_sum += float((np.exp(log_p) * (log_p - log_q)).sum())
        agree += _top1_agreements(ref, cand)
        n_tokens += ref.shape[0]
        if ids.shape[0] > 1:
            rows = np.arange(ids.shape[0] - 1)
            seq_ref = float(log_p[rows, ids[1:]].sum())
            seq_cand = float(log_q[rows, ids[1:]].sum())
            max_seq = max(max_seq, abs(seq_ref - seq_cand))
    if n_tokens == 0:
        raise ExportError("fidelity check got only empty probe sequences")
    return LMFidelity(
        max_abs_logit_delta=max_abs,
        mean_kl=max(kl_sum / n_tokens, 0.0),
        top1_agreement=agree / n_tokens,
        max_seq_logprob_delta=max_seq,
        n_tokens=n_tokens,
        n_sequences=len(reference),
    )


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.shape[0], dtype=np.float64)
    sorted_values = values[order]
    start = 0
    n = values.shape[0]
    while start < n:
        stop = start + 1
        while stop < n and sorted_values[stop] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop]] = (start + stop - 1) / 2.0
        start = stop
    return ranks


def compare_scores(reference: np.ndarray, candidate: np.ndarray) -> RewardFidelity:
    """MAE and Spearman correlation (average ranks for ties) of two score vectors."""
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    cand = np.asarray(candidate, dtype=np.float64).reshape(-1)
    if ref.shape != cand.shape:
        raise ExportError(
            f"fidelity check got {ref.shape[0]} reference and {cand.shape[0]} candidate scores"
        )
    if ref.shape[0] == 0:
        raise ExportError("fidelity check got no scores")
    mae = float(np.abs(ref - cand).mean())
    spearman = math.nan
    if ref.shape[0] >= 2 and np.isfinite(ref).all() and np.isfinite(cand).all():
        r1 = _average_ranks(ref)
        r2 = _average_ranks(cand)
        d1 = r1 - r1.mean()
        d2 = r2 - r2.mean()
        denom = math.sqrt(float((d1 * d1).sum()) * float((d2 * d2).sum()))
        if denom > 0:
            spearman = float((d1 * d2).sum() / denom)
    return RewardFidelity(mae=mae, spearman=spearman, n=int(ref.shape[0]))


def compare_token_ids(
    reference: Sequence[Sequence[int]], candidate: Sequence[Sequence[int]]
) -> TokenizerFidelity:
    """Share of probes whose token id lists are identical."""
    if len(reference) != len(candidate):
        raise ExportError(
            f"tokenizer check got {len(reference)} reference and {len(candidate)} candidate "
            "id lists"
        )
    if not reference:
        raise ExportError("tokenizer check got no probes")
    mismatches = sum(
        1
        for ref, cand in zip(reference, candidate, strict=True)
        if [int(i) for i in ref] != [int(i) for i in cand]
    )
    n = len(reference)
    return TokenizerFidelity(exact_match=(n - mismatches) / n, n_probes=n, mismatches=mismatches)


# ---------------------------------------------------------------------------------------------
# Gates

# threshold name -> (figure attribute, "max" or "min", label, CLI option)
_CHECKS: dict[str, tuple[str, str, str, str]] = {
    "max_abs_logit": ("max_abs_logit_delta", "max", "max |delta logit|", "--max-abs-logit"),
    "max_kl": ("mean_kl", "max", "mean KL", "--max-kl"),
    "min_top1": ("top1_agreement", "min", "top-1 agreement", "--min-top1"),
    "max_seq_logprob_delta": (
        "max_seq_logprob_delta",
        "max",
        "max sequence log-prob delta",
        "--max-seq-logprob-delta",
    ),
    "max_reward_mae": ("mae", "max", "reward score MAE", "--max-reward-mae"),
    "min_reward_spearman": ("spearman", "min", "reward Spearman", "--min-reward-spearman"),
    "min_token_exact": ("exact_match", "min", "tokenizer exact match", "--min-token-exact"),
}


def check_gate(figures: Figures, thresholds: GateThresholds) -> list[str]:
    """Every violated bound, one sentence each (empty when the gate passes).

    Thresholds for figures of another kind (a reward bound on LM figures) are ignored; a NaN
    figure violates any bound set on it.
    """
    violations: list[str] = []
    for name, (attribute, kind, label, option) in _CHECKS.items():
        bound = getattr(thresholds, name)
        if bound is None or not hasattr(figures, attribute):
            continue
        value = float(getattr(figures, attribute))
        if math.isnan(value):
            violations.append(f"{label} is undefined (NaN); the gate needs it ({option})")
        elif kind == "max" and value > bound:
            violations.append(f"{label} {value:.4g} > allowed {bound:.4g} ({option})")
        elif kind == "min" and value < bound:
            violations.append(f"{label} {value:.4g} < required {bound:.4g} ({option})")
    return violations


def enforce_gate(figures: Figures, thresholds: GateThresholds, *, what: str) -> None:
    """Raise one :class:`FidelityError` listing every violation, or return when all pass."""
    violations = check_gate(figures, thresholds)
    if violations:
        raise FidelityError(
            f"{what} failed its fidelity gate: " + "; ".join(violations),
        )


def figures_to_dict(figures: Figures | Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-ready dict of fidelity figures (NaN becomes None)."""
    if figures is None:
        return {}
    raw = dict(figures) if isinstance(figures, Mapping) else dataclasses.asdict(figures)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = None
        else:
            out[key] = value
    return out
