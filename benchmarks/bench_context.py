"""Does a scorer read the reply *as an answer to its message*? The context-swap check.

    PYTHONPATH=src python benchmarks/bench_context.py [--model DIR ...] [--seed 0]

Empathy is a property of a reply to someone: "That's wonderful news, congratulations!" is warm
after a promotion and cold after a bereavement. A scorer that reads only the reply's style gives
it the same score after both. This check scores every reply twice, once after its own
conversation and once after another conversation's (a seeded derangement: no reply keeps its own
context, and on iEval the other conversation is always another person's), and prints per scorer
the mean score with the own context, with the swapped one, the mean drop (own - swapped) and the
share of replies that score higher after their own context. A scorer blind to the context drops
by 0 and wins half the time; the drop should be largest where a reply is most specific to its
message (the graded replies' levels 4 and 5).

Data: the project's graded replies (``datasets/empathy-behaviours``: every level of each message;
the earlier turns of a multi-turn message travel with it) and iEval's replies
(``datasets/ieval``; each reply with all earlier turns). EmpatheticExchanges is never read: this is
a development check. A second table scores a few hand-written replies (written for this check)
after three different messages, as an illustration, not a measurement.

Needs only the core install (onnxruntime). ``--model`` takes bundle folders (default: the shipped
one); the name printed is the bundle's ``name``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edge_eval.conversations import iter_conversations, turn_inputs
from edge_eval.machine import cpu_summary
from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import default_bundle_dir, load_bundle
from edge_eval.reward.onnx_scorer import OnnxRewardModel
from edge_eval.training.labels import derangement

ROOT = Path(__file__).resolve().parents[1]
GRADED = ROOT / "datasets" / "empathy-behaviours" / "behaviours.jsonl"
IEVAL = ROOT / "datasets" / "ieval" / "ieval.jsonl"

MESSAGES = (
    "My dad died last week and I can't focus on anything.",
    "I just got promoted to team lead!",
    "Can you tighten this paragraph for my quarterly report?",
)
REPLIES = (
    "I'm so sorry about your dad. A week is no time at all; of course you can't focus.",
    "That's wonderful news, congratulations! You must be so proud.",
    "Sure. Send it over and I'll cut it down.",
    "Ok. Anyway, what do you want to do this weekend?",
)


def graded_turns(rng: np.random.Generator) -> tuple[list[TurnInput], list[TurnInput], np.ndarray]:
    """Own and swapped inputs of every graded reply, with its level."""
    by_message: dict[str, list[tuple[TurnInput, int]]] = {}
    for conversation in iter_conversations(GRADED):
        message = str(conversation.id).rsplit("-", 1)[0]
        turn = turn_inputs(conversation)[-1]
        level = conversation.assistant_turns[-1].empathy
        assert level is not None, "every graded reply carries its level"
        by_message.setdefault(message, []).append((turn, int(level)))
    names = sorted(by_message)
    contexts = [by_message[name][0][0].context for name in names]
    order = derangement(len(names), rng)
    own, swapped, levels = [], [], []
    for i, name in enumerate(names):
        for turn, level in by_message[name]:
            own.append(turn)
            swapped.append(TurnInput(context=contexts[order[i]], response=turn.response))
            levels.append(level)
    return own, swapped, np.asarray(levels)


def ieval_turns(rng: np.random.Generator) -> tuple[list[TurnInput], list[TurnInput]]:
    """Own and swapped inputs of every iEval reply; a reply moves to another person's chat."""
    conversations = list(iter_conversations(IEVAL))
    _, people = np.unique([str(c.id).split("-")[1] for c in conversations], return_inverse=True)
    order = derangement(len(conversations), rng, people)
    own, swapped = [], []
    for i, conversation in enumerate(conversations):
        donor = turn_inputs(conversations[order[i]])
        for k, turn in enumerate(turn_inputs(conversation)):
            own.append(turn)
            context = donor[min(k, len(donor) - 1)].context
            swapped.append(TurnInput(context=context, response=turn.response))
    return own, swapped


def row(label: str, own: np.ndarray, swapped: np.ndarray) -> str:
    drop = own - swapped
    return (
        f"| {label} | {len(own)} | {own.mean():.2f} | {swapped.mean():.2f} | {drop.mean():+.2f} | "
        f"{np.mean(drop > 0):.2f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, action="append", help="bundle folder (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"# CPU: {cpu_summary()}")
    rng = np.random.default_rng(args.seed)
    g_own, g_swapped, levels = graded_turns(rng)
    i_own, i_swapped = ieval_turns(rng)
    probes = [
        TurnInput(context=(("user", message),), response=reply)
        for reply in REPLIES
        for message in MESSAGES
    ]
    for folder in args.model or [default_bundle_dir()]:
        bundle = load_bundle(folder)
        scorer = OnnxRewardModel(bundle)
        print(f"\n## {bundle.name}\n")
        print(
            "| replies | n | mean, own context | mean, swapped context | drop | "
            "share higher with own |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        own = scorer.score_turns(g_own)
        swapped = scorer.score_turns(g_swapped)
        print(row("graded replies, all levels", own, swapped))
        for level in range(1, 6):
            k = levels == level
            print(row(f"graded replies, level {level}", own[k], swapped[k]))
        print(row("iEval replies", scorer.score_turns(i_own), scorer.score_turns(i_swapped)))
        scores = scorer.score_turns(probes).reshape(len(REPLIES), len(MESSAGES))
        print("\n| hand-written reply | " + " | ".join(f"after: {m}" for m in MESSAGES) + " |")
        print("|---" + "|---:" * len(MESSAGES) + "|")
        for reply, line in zip(REPLIES, scores, strict=True):
            print(f"| {reply} | " + " | ".join(f"{v:.2f}" for v in line) + " |")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
