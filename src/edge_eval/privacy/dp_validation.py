"""`validate --epsilon`: agreement with people released under differential privacy.

Privacy unit: one conversation. Per level (turn, conversation) four sums are released through
OpenDP (:func:`edge_eval.privacy.dp.release_values`): the number of (human, model) pairs, the
sum of absolute errors (each clamped to [0, 4], the width of the 1-5 scale), and the numbers of
pairs whose rounded labels agree exactly and within one step. A conversation adds one pair to
the conversation level and at most ``max_turns`` labelled turns to the turn level (turns past
that are left out), so the turn-level sums have sensitivity ``max_turns`` (× 4 for the error
sum), the conversation-level sums 1 (× 4).

Post-processing gives n, MAE, accuracy and within-1 accuracy; a level is withheld when its
noisy n is below k. MAE's interval is a normal interval from a variance bound plus the noise
variance (as for the score report). Spearman's ρ and macro-F1 are **withheld** under DP (null):
ρ needs the ranks of every item and macro-F1 a confusion matrix per class; releasing either
would need its own share of the budget and mechanisms this release does not have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from edge_eval.privacy.dp import DPConfig, release_values
from edge_eval.validation import LevelAgreement, ValidationReport, conversation_pairs, round_labels

__all__ = ["SPLIT", "dp_validate_scores"]

#: Share of the budget per released sum (each level gets half).
SPLIT: Mapping[str, float] = {"n": 0.25, "abs_error": 0.35, "exact": 0.2, "within1": 0.2}
_Z = 1.959963984540054


def _level_sums(human: np.ndarray, model: np.ndarray, keep: np.ndarray) -> dict[str, float]:
    ok = keep & np.isfinite(human) & np.isfinite(model)
    h, m = human[ok], model[ok]
    rh, rm = round_labels(h), round_labels(m)
    return {
        "n": float(h.size),
        "abs_error": float(np.clip(np.abs(h - m), 0.0, 4.0).sum()),
        "exact": float(np.sum(rh == rm)),
        "within1": float(np.sum(np.abs(rh - rm) <= 1)),
    }


def _agreement(
    noisy: Mapping[str, float], var: Mapping[str, float], prefix: str, min_count: int
) -> LevelAgreement | None:
    n = float(round(noisy[f"{prefix}.n"]))
    if n < min_count:
        return None

    def share(key: str) -> float:
        return min(max(noisy[f"{prefix}.{key}"] / n, 0.0), 1.0)

    mae = min(max(noisy[f"{prefix}.abs_error"] / n, 0.0), 4.0)
    sampling = 4.0 * 4.0 * (mae / 4.0) * (1.0 - mae / 4.0) / n
    noise = (var[f"{prefix}.abs_error"] + mae * mae * var[f"{prefix}.n"]) / (n * n)
    half = _Z * math.sqrt(sampling + noise)
    return LevelAgreement(
        n=int(n),
        spearman=math.nan,  # withheld under DP (see the module docstring)
        spearman_ci=(math.nan, math.nan),
        mae=mae,
        mae_ci=(max(0.0, mae - half), min(4.0, mae + half)),
        accuracy=share("exact"),
        macro_f1=math.nan,  # withheld under DP
        within1=share("within1"),
    )


def dp_validate_scores(
    *,
    turn_human: Any,
    turn_model: Any,
    turn_conv: Any,
    conv_human: Any,
    config: DPConfig,
    min_count: int,
) -> tuple[ValidationReport, dict[str, Any]]:
    """The DP counterpart of :func:`edge_eval.validation.validate_scores`.

    Returns the report (Spearman and macro-F1 withheld) and the accounting for the record.
    """
    th = np.asarray(turn_human, dtype=np.float64).reshape(-1)
    tm = np.asarray(turn_model, dtype=np.float64).reshape(-1)
    tc = np.asarray(turn_conv, dtype=np.int64).reshape(-1)
    ch = np.asarray(conv_human, dtype=np.float64).reshape(-1)
    # at most max_turns labelled turns per conversation (bounds one conversation's weight)
    labelled = np.isfinite(th) & np.isfinite(tm)
    rank = np.zeros(tc.size, dtype=np.int64)
    seen: dict[int, int] = {}
    for i in np.flatnonzero(labelled):
        c = int(tc[i])
        rank[i] = seen.get(c, 0)
        seen[c] = rank[i] + 1
    keep_turn = labelled & (rank < config.max_turns)
    conv_h, conv_m = conversation_pairs(turn_human=th, turn_model=tm, turn_conv=tc, conv_human=ch)
    levels = {
        "turn": (_level_sums(th, tm, keep_turn), float(config.max_turns)),
        "conversation": (
            _level_sums(conv_h, conv_m, np.ones(conv_h.size, dtype=bool)),
            1.0,
        ),
    }
    values: dict[str, tuple[float, float, float]] = {}
    for level, (sums, per_conversation) in levels.items():
        for key, share in SPLIT.items():
            width = 4.0 if key == "abs_error" else 1.0
            values[f"{level}.{key}"] = (sums[key], per_conversation * width, share / 2.0)
    noisy, var, accounting = release_values(values, config)
    accounting["withheld"] = ["spearman", "macro_f1"]
    accounting["max_turns"] = config.max_turns
    report = ValidationReport(
        turn=_agreement(noisy, var, "turn", min_count),
        conversation=_agreement(noisy, var, "conversation", min_count),
        turns_unscored=0,
        min_count=min_count,
    )
    return report, accounting
