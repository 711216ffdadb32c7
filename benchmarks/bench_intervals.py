"""Student-t intervals (from merged sums) against the percentile bootstrap, on the shipped example.

    python benchmarks/bench_intervals.py [--reps 400] [--n-boot 1000]

Scores examples/conversations.jsonl once, then for each task cluster takes its conversations as
the population: draws samples of n conversations (with replacement), builds both 95% intervals
of mean d, p, g and e on each, and counts how often each contains the population mean
(coverage) and how wide it is. Also prints both intervals on the full example, per cluster.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def t_interval(x: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    from edge_eval.metrics import student_t_quantile

    n = x.size
    half = student_t_quantile(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return max(lo, x.mean() - half), min(hi, x.mean() + half)


def boot_interval(x: np.ndarray, rng: np.random.Generator, n_boot: int) -> tuple[float, float]:
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def main() -> None:
    from edge_eval.machine import cpu_summary

    print(f"# CPU: {cpu_summary()}", flush=True)  # every figure below depends on it
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=400)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--sizes", default="11,20,40")
    args = parser.parse_args()

    from edge_eval.scoring import ScoreConfig, score

    result = score(ROOT / "examples" / "conversations.jsonl", ScoreConfig(use_ledger=False))
    t = result.table
    d = (t.conv_desired - 1) / 2
    p = (t.conv_perceived - 1) / 4
    values = {"d": (d, 0, 1), "p": (p, 0, 1), "g": (d - p, -1, 1), "e": (np.abs(d - p), 0, 1)}
    rng = np.random.default_rng(0)
    print("## On the full example (n per cluster), 95% intervals of the mean")
    print("| cluster | n | value | Student-t | bootstrap (2000, seed 0) |")
    print("|---|---|---|---|---|")
    for c, name in enumerate(t.clusters):
        mask = t.conv_cluster == c
        for key, (x, lo, hi) in values.items():
            xs = x[mask]
            if xs.size < 2:
                continue
            a = t_interval(xs, lo, hi)
            b = boot_interval(xs, np.random.default_rng(0), 2000)
            print(
                f"| {name} | {xs.size} | {key} | [{a[0]:.4f}, {a[1]:.4f}] | "
                f"[{b[0]:.4f}, {b[1]:.4f}] |"
            )
    print()
    print(f"## Coverage over {args.reps} samples per cell (population = the cluster's")
    print("conversations in the example; nominal 0.95), and mean width")
    print("| cluster | n | value | t coverage | bootstrap coverage | t width | bootstrap width |")
    print("|---|---|---|---|---|---|---|")
    totals: dict[str, list[float]] = {"t": [], "b": []}
    for c, name in enumerate(t.clusters):
        mask = t.conv_cluster == c
        for key, (x, lo, hi) in values.items():
            pop = x[mask]
            if pop.size < 2 or pop.std() == 0:
                continue
            truth = pop.mean()
            for n in (int(s) for s in args.sizes.split(",")):
                hit_t = hit_b = 0
                width_t = width_b = 0.0
                for _ in range(args.reps):
                    sample = pop[rng.integers(0, pop.size, size=n)]
                    a = t_interval(sample, lo, hi) if sample.std() > 0 else (sample[0],) * 2
                    b = boot_interval(sample, rng, args.n_boot)
                    hit_t += a[0] <= truth <= a[1]
                    hit_b += b[0] <= truth <= b[1]
                    width_t += a[1] - a[0]
                    width_b += b[1] - b[0]
                totals["t"].append(hit_t / args.reps)
                totals["b"].append(hit_b / args.reps)
                print(
                    f"| {name} | {n} | {key} | {hit_t / args.reps:.3f} | {hit_b / args.reps:.3f}"
                    f" | {width_t / args.reps:.4f} | {width_b / args.reps:.4f} |"
                )
    print()
    print(
        f"mean coverage over all cells: Student-t {np.mean(totals['t']):.3f}, "
        f"bootstrap {np.mean(totals['b']):.3f}"
    )


if __name__ == "__main__":
    main()
