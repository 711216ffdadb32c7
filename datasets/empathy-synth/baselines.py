#!/usr/bin/env python3
"""Reference baselines on empathy-synth: how far trivial and lexical predictors get.

    python datasets/empathy-synth/baselines.py

Fits on train.jsonl, reports on heldout.jsonl (per assistant turn, 1-5 labels):
  - length:    number of words (Spearman only; it has no scale)
  - question:  message contains "?" (Spearman only)
  - bow-ridge: ridge regression on binary unigrams + bigrams seen >= 3 times in train
A reward model trained on this data should be compared with bow-ridge: the data are
template-composed, so a lexical model already does well, and real conversations are harder.
Needs numpy only; deterministic (no random state).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RIDGE_LAMBDA = 10.0
MIN_COUNT = 3


def _turns(path: Path) -> tuple[list[str], np.ndarray]:
    texts: list[str] = []
    labels: list[float] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            for m in json.loads(line)["messages"]:
                if m["role"] == "assistant":
                    texts.append(m["content"])
                    labels.append(float(m["empathy"]))
    return texts, np.asarray(labels)


def _features(text: str) -> list[str]:
    tokens = re.findall(r"[a-z']+", text.lower())
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2
        i = j + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def main() -> int:
    train_x, train_y = _turns(HERE / "train.jsonl")
    test_x, test_y = _turns(HERE / "heldout.jsonl")

    print(f"assistant turns: train {len(train_y)}, held-out {len(test_y)}")
    for name, fn in (("length", lambda t: len(t.split())), ("question", lambda t: "?" in t)):
        pred = np.asarray([float(fn(t)) for t in test_x])
        print(f"{name:9s} held-out Spearman {spearman(pred, test_y):+.3f}")

    counts = Counter(f for t in train_x for f in set(_features(t)))
    vocab = {f: i for i, f in enumerate(sorted(f for f, c in counts.items() if c >= MIN_COUNT))}

    def matrix(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(vocab)))
        for row, text in enumerate(texts):
            for f in _features(text):
                if f in vocab:
                    out[row, vocab[f]] = 1.0
        return out

    a, b = matrix(train_x), matrix(test_x)
    mean = train_y.mean()
    # dual form of ridge (fewer turns than features): w = A^T (A A^T + lambda I)^-1 y
    w = a.T @ np.linalg.solve(a @ a.T + RIDGE_LAMBDA * np.eye(a.shape[0]), train_y - mean)
    pred = b @ w + mean
    rounded = np.clip(np.rint(pred), 1, 5)
    print(
        f"bow-ridge held-out Spearman {spearman(pred, test_y):+.3f}, "
        f"accuracy {np.mean(rounded == test_y):.3f}, "
        f"within-1 {np.mean(np.abs(rounded - test_y) <= 1):.3f}, "
        f"MAE {np.mean(np.abs(pred - test_y)):.3f} (vocabulary {len(vocab)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
