"""How far the reply labels themselves agree with iEval's people (a ceiling for their students).

    PYTHONPATH=src python benchmarks/bench_label_ceiling.py

No model: the mean label of each iEval reply (``datasets/ieval-reply-labels``, read with the
build's own :func:`edge_eval.training.labels.reply_levels`), averaged over a conversation as
``score`` averages turn scores, against the person's rating. Prints Spearman rho, the MAE of the
best affine map of those means onto the ratings fitted on all of iEval (in-sample, so optimistic;
least squares and least absolute deviations), and, per chatbot, the mean off when the affine map
is fitted on the other three chatbots' conversations. Numpy only; a second or two.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_eval.training.human import rated_conversations
from edge_eval.training.labels import reply_levels
from edge_eval.validation import spearman

ROOT = Path(__file__).resolve().parents[1]


def least_absolute_affine(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept minimising the mean absolute error (slope on a 0.001 grid; for a
    given slope the best intercept is the median residual)."""
    best = (np.inf, 0.0, 0.0)
    for slope in np.arange(0.0, 4.0, 0.001):
        intercept = float(np.median(y - slope * x))
        mae = float(np.mean(np.abs(slope * x + intercept - y)))
        best = min(best, (mae, float(slope), intercept))
    return best[1], best[2]


def main() -> None:
    rated = rated_conversations(ROOT / "datasets" / "ieval" / "ieval.jsonl")
    level = reply_levels(ROOT / "datasets" / "ieval-reply-labels" / "labels.jsonl", rated)
    x = rated.conversation_mean(level)
    y = rated.ratings
    design = np.c_[x, np.ones_like(x)]
    slope, intercept = np.linalg.lstsq(design, y, rcond=None)[0]
    l2 = np.mean(np.abs(slope * x + intercept - y))
    a, b = least_absolute_affine(x, y)
    l1 = np.mean(np.abs(a * x + b - y))
    print(f"conversations {len(y)}; labels' conversation means vs people: rho {spearman(y, x):.4f}")
    print(f"affine map, in-sample: MAE {l2:.4f} (least squares), {l1:.4f} (least absolute)")
    print(f"predicting the mean rating: MAE {np.mean(np.abs(y - y.mean())):.4f}")
    for system in np.unique(rated.systems):
        out = rated.systems == system
        s, c = np.linalg.lstsq(design[~out], y[~out], rcond=None)[0]
        print(
            f"chatbot {system}: mean off {np.mean(s * x[out] + c) - y[out].mean():+.3f} with the "
            f"map fitted on the other chatbots; rho within it {spearman(y[out], x[out]):.3f}"
        )


if __name__ == "__main__":
    main()
