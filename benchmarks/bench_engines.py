"""Sharded scoring throughput: 1 vs 2 workers on Ray and Dask local clusters (prints a table).

    python benchmarks/bench_engines.py [--copies 2] [--chunk-turns 256]

The input is the shipped example repeated --copies times. Every run must give the same report
as the single-process run (checked). Prints the CPU it ran on: throughput depends on the cores,
their int8 instructions (VNNI/AMX) and on what else the machine is doing (load average shown).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "conversations.jsonl"


def cpu_line() -> str:
    from edge_eval.machine import cpu_summary

    return f"CPU: {cpu_summary()} · load average {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--chunk-turns", type=int, default=256)
    parser.add_argument("--engines", default="ray,dask")
    args = parser.parse_args()

    from edge_eval.engines import EngineConfig, score_sharded
    from edge_eval.scoring import ScoreConfig, score

    config = ScoreConfig(chunk_turns=args.chunk_turns, use_ledger=False)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "input.jsonl"
        data.write_text(EXAMPLE.read_text() * args.copies)
        print(cpu_line(), flush=True)
        start = time.perf_counter()
        local = score(data, config)
        base = time.perf_counter() - start
        turns = len(local.table.turn_score)
        reference = local.report.to_dict()
        print(f"input: {local.table.n_conversations} conversations, {turns} turns", flush=True)
        rows = [("single process", "-", base, True)]
        print("| run | workers | seconds | turns/s | same report |", flush=True)
        print("|---|---|---|---|---|", flush=True)
        print(f"| single process | - | {base:.1f} | {turns / base:.1f} | yes |", flush=True)
        for engine in args.engines.split(","):
            for workers in (1, 2):
                start = time.perf_counter()
                result = score_sharded(data, config, EngineConfig(engine=engine, workers=workers))
                seconds = time.perf_counter() - start
                same = result.report.to_dict() == reference
                rows.append((engine, str(workers), seconds, same))
                print(
                    f"| {engine} ({result.shards} shards) | {workers} | {seconds:.1f} | "
                    f"{turns / seconds:.1f} | {'yes' if same else 'NO'} |",
                    flush=True,
                )
        print(f"after: load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
