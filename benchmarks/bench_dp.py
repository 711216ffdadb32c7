"""What differential privacy costs in accuracy: DP reports against the exact report.

Scores the input once with the default reward model (scoring is deterministic), then releases
the same merged sums many times through the DP gate (`finalize_report` with DP on: the only
random step) and prints, per ε, the mean absolute error of the published figures against the
exact report, how often each cluster and turn cell is published, and the mean interval width.

    python benchmarks/bench_dp.py [examples/conversations.jsonl] [--releases 200]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from edge_eval.privacy.dp import DPConfig
from edge_eval.privacy.settings import PrivacySettings
from edge_eval.report import finalize_report
from edge_eval.scoring import ScoreConfig, score

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("n", "desired", "perceived", "gap", "error", "share_under", "share_over")


def value(group: dict[str, Any], key: str) -> float:
    v = group[key]
    return float(v["mean"] if isinstance(v, dict) else v)


def main() -> None:
    from edge_eval.machine import cpu_summary

    print(f"# CPU: {cpu_summary()}", flush=True)  # every figure below depends on it
    parser = argparse.ArgumentParser()
    parser.add_argument("input", nargs="?", default=str(ROOT / "examples/conversations.jsonl"))
    parser.add_argument("--releases", type=int, default=200)
    args = parser.parse_args()
    result = score(Path(args.input), ScoreConfig(use_ledger=False))
    kind = result.report.parameters.model_kind
    exact = result.report.to_dict()
    published = [c for c in exact["clusters"] if c["status"] == "published"]
    print(f"input: {Path(args.input).name}; exact report: {len(published)} published clusters")
    print("| ε | δ | figure | mean abs error | exact mean (for scale) |")
    print("|---|---|---|---:|---:|")
    settings = [(0.5, 0.0), (1.0, 0.0), (1.0, 1e-6), (3.0, 0.0)]
    summary = []
    for epsilon, delta in settings:
        privacy = PrivacySettings(differential_privacy=DPConfig(epsilon=epsilon, delta=delta))
        errors: dict[str, list[float]] = {f: [] for f in FIGURES}
        cluster_published = 0
        cells_published = 0
        width: list[float] = []
        for _ in range(args.releases):
            d = finalize_report(result.partial, model_kind=kind, privacy=privacy).to_dict()
            by_name = {c["cluster"]: c for c in d["clusters"]}
            for c in published:
                noisy = by_name[c["cluster"]]
                if noisy["status"] != "published":
                    continue
                cluster_published += 1
                cells_published += len(noisy["turns"]["cells"])
                width.append(noisy["perceived"]["high"] - noisy["perceived"]["low"])
                for f in FIGURES:
                    errors[f].append(abs(value(noisy, f) - value(c, f)))
        for f in FIGURES:
            if errors[f]:
                scale = statistics.mean(value(c, f) for c in published)
                print(
                    f"| {epsilon:g} | {delta:g} | {f} | {statistics.mean(errors[f]):.3f} "
                    f"| {scale:.3f} |"
                )
        exact_cells = sum(len(c["turns"]["cells"]) for c in published)
        summary.append(
            (
                epsilon,
                delta,
                cluster_published / (args.releases * len(published)),
                cells_published / (args.releases * max(exact_cells, 1)),
                statistics.mean(width) if width else float("nan"),
            )
        )
    exact_width = statistics.mean(c["perceived"]["high"] - c["perceived"]["low"] for c in published)
    print()
    print("| ε | δ | clusters published | turn cells published (vs exact) | p interval width |")
    print("|---|---|---:|---:|---:|")
    print(f"| exact | – | 100% | 100% | {exact_width:.3f} |")
    for epsilon, delta, pub, cells, w in summary:
        print(f"| {epsilon:g} | {delta:g} | {100 * pub:.0f}% | {100 * cells:.0f}% | {w:.3f} |")


if __name__ == "__main__":
    main()
