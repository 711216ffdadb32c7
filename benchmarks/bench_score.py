"""Benchmark `edge-eval score` (a script, not a test).

1. Throughput on the same 3,000 assistant turns (the project's conversations, cycled):
   - `edge-eval score` as a whole process (ONNX int8, length-sorted batches), and
   - a plain transformers + torch fp32 scorer of the same encoder and head (the bundle's
     fp32 head weights), batching turns in input order with the tokenizer's own truncation,
   each in a fresh process, one after the other, on this machine.
2. Peak memory (max RSS) of `edge-eval score` on 10k and 100k short conversations.

Run: `make bench` or `python benchmarks/bench_score.py [--quick]`. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "empathy-synth"
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def turns_file(path: Path, n_turns: int) -> int:
    """Write conversations (cycled from the project data) with exactly n_turns assistant turns."""
    rows = []
    for name in ("train.jsonl", "heldout.jsonl"):
        rows += [json.loads(line) for line in (DATA / name).read_text().splitlines()]
    written = 0
    with path.open("w") as handle:
        i = 0
        while written < n_turns:
            row = dict(rows[i % len(rows)])
            i += 1
            messages, kept = [], 0
            for m in row["messages"]:
                if m["role"] == "assistant":
                    if written + kept == n_turns:
                        break
                    kept += 1
                messages.append(m)
            row["messages"] = messages
            written += kept
            handle.write(json.dumps(row) + "\n")
    return written


def short_file(path: Path, n: int) -> None:
    """n short one-turn conversations (memory benchmark)."""
    topics = [
        "my exam went badly",
        "fix this sentence please",
        "asking for a raise",
        "learning chess",
    ]
    with path.open("w") as handle:
        for i in range(n):
            row = {
                "task": [
                    "distressing_social_personal",
                    "work_assignment_writing",
                    "work_career_self_improvement",
                    "learning_skills",
                ][i % 4],
                "messages": [
                    {"role": "user", "content": f"{topics[i % 4]} ({i})"},
                    {"role": "assistant", "content": f"Here is what I suggest, step {i % 7}."},
                ],
            }
            handle.write(json.dumps(row) + "\n")


def run(argv: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) of this one child (os.wait4), and its stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(argv)}\n{err.read()[-2000:]}")
        return wall, usage.ru_maxrss, out.read()


TORCH_SCORER = r"""
import json, sys, time
import numpy as np, torch
from transformers import AutoModel, AutoTokenizer
from edge_eval.conversations import iter_conversations, turn_inputs
from edge_eval.reward.bundle import load_bundle
from edge_eval.training.train import encoder_dir
torch.set_num_threads(int(sys.argv[2]))
bundle = load_bundle()
head = np.load(bundle.path / "head.npy")
cal = bundle.calibration
t = bundle.template
folder = encoder_dir()
tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
turns = [x for c in iter_conversations(sys.argv[1]) for x in turn_inputs(c)]
prefix = t.role_prefixes
start = time.perf_counter()
scores = []
with torch.inference_mode():
    for i in range(0, len(turns), 32):
        batch = turns[i:i + 32]
        ctx = [" ".join(f"{prefix[r]} {c}" for r, c in x.context) for x in batch]
        enc = tok(ctx, [x.response for x in batch], truncation="longest_first",
                  max_length=t.max_length, padding=True, return_tensors="pt")
        h = model(**enc).last_hidden_state
        m = enc["token_type_ids"].unsqueeze(-1).float()
        cm = (enc["attention_mask"].float().unsqueeze(-1) - m).clamp(min=0)
        r = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-6), dim=-1)
        c = torch.nn.functional.normalize((h * cm).sum(1) / cm.sum(1).clamp(min=1e-6), dim=-1)
        parts = [r, c, r * c]
        if head.shape[0] == 3 * r.shape[-1] + 2:  # the head also reads log response length
            parts.append(torch.log1p((m.sum(1) - 1).clamp(min=0)))
        f = torch.cat(parts, -1).numpy()
        s = f @ head[:-1] + head[-1]
        scores += list(np.clip(s * cal["slope"] + cal["intercept"], 1, 5))
print(json.dumps({"turns": len(scores), "seconds": time.perf_counter() - start}))
"""

EDGE_SCORER = r"""
import json, sys, time
from edge_eval.scoring import ScoreConfig, score
start = time.perf_counter()
result = score(sys.argv[1], ScoreConfig(n_boot=1000))
print(json.dumps({"turns": len(result.table.turn_score), "seconds": time.perf_counter() - start}))
"""


def main() -> None:
    from edge_eval.machine import cpu_summary

    print(f"# CPU: {cpu_summary()}", flush=True)  # every figure below depends on it
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1k/10k instead of 10k/100k memory")
    parser.add_argument("--turns", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--model", help="score with this bundle folder instead of the default")
    parser.add_argument("--only-score", action="store_true", help="skip torch and memory runs")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        # the runs' exact reports go to a throwaway privacy ledger, not the user's own
        ENV["EDGE_EVAL_HOME"] = str(Path(tmp) / "home")
        data = Path(tmp) / "turns.jsonl"
        n = turns_file(data, args.turns)
        rows = []
        model = ["--model", args.model] if args.model else []
        wall, rss, out = run([py, "-m", "edge_eval", "score", str(data), "--json", *model])
        rows.append(("edge-eval score (ONNX int8, whole process)", n, wall, rss))
        if args.only_score:
            print(f"| {rows[0][0]} | {n} | {wall:.1f} | {n / wall:.1f} | {rss / 1024:.0f} |")
            return
        wall_in, _, out = run([py, "-c", EDGE_SCORER, str(data)])
        inner = json.loads(out.splitlines()[-1])
        wall_t, rss_t, out_t = run([py, "-c", TORCH_SCORER, str(data), str(args.threads)])
        torch_inner = json.loads(out_t.splitlines()[-1])
        rows.append(("transformers + torch fp32 (whole process)", n, wall_t, rss_t))

        print(f"Throughput on {n} assistant turns, {os.cpu_count()} cores\n")
        print("| scorer | turns | wall s | turns/s (whole process) | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|")
        for name, turns, w, r in rows:
            print(f"| {name} | {turns} | {w:.1f} | {turns / w:.1f} | {r / 1024:.0f} |")
        print()
        print("| scoring loop only | turns/s |\n|---|---:|")
        print(
            f"| edge-eval `score()` (load, stream, score, report) | "
            f"{inner['turns'] / inner['seconds']:.1f} |"
        )
        print(
            f"| torch fp32 (tokenize + forward + head) | "
            f"{torch_inner['turns'] / torch_inner['seconds']:.1f} |"
        )
        speedup = (n / rows[0][2]) / (n / rows[1][2])
        print(f"\nwhole-process speed-up: {speedup:.2f}x (target >= 3x)\n")

        sizes = (1_000, 10_000) if args.quick else (10_000, 100_000)
        print("| conversations | wall s | peak RSS MiB |\n|---:|---:|---:|")
        for size in sizes:
            path = Path(tmp) / f"short{size}.jsonl"
            short_file(path, size)
            w, r, _ = run([py, "-m", "edge_eval", "score", str(path), "--json", "--n-boot", "200"])
            print(f"| {size:,} | {w:.1f} | {r / 1024:.0f} |")


if __name__ == "__main__":
    main()
