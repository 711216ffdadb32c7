#!/usr/bin/env python3
"""Derive chosen/rejected preference pairs from empathy-synth (pure standard library).

    python datasets/empathy-synth/make_pairs.py [--root DIR]

writes, under DIR (default: the repository root):
    datasets/empathy-synth/pairs_train.jsonl     from the train conversations
    datasets/empathy-synth/pairs_heldout.jsonl   from the held-out conversations (other topics)

Method. The conversations of ``generate.py`` are rebuilt exactly (same seeds; the script checks
that they match ``train.jsonl`` / ``heldout.jsonl`` message for message and stops otherwise).
For every assistant turn, a second response to the SAME context (same topic and slot values,
same assistant voice, same turn position, facts already given earlier in the conversation
marked as used) is composed with ``generate.py``'s own ``draw_dimensions`` and ``compose_turn``
at another target level, drawn uniformly from the levels that differ from the turn's own, with a
seeded ``random.Random`` per turn. If the drawn dimensions round back to the same label, the
draw is retried (at most five times), then the turn is skipped. The response with the higher
label is ``chosen``. Pairs of held-out conversations use held-out topics and the held-out-only
phrase pools, as the conversations do.

Each line: ``{"context": [...messages before the turn...], "chosen": "...", "rejected": "...",
"task": "<cluster>", "meta": {"chosen_level": int, "rejected_level": int, "generator": ...}}``.
The pair loader of edge-eval ignores ``meta``. Output is byte-identical for a given version of
this file and of generate.py (seeded, sorted keys, no time stamps).

Weaknesses: both responses come from the same phrase pools, so a model can learn the pools'
wording rather than empathy in general; the context was written with the original response in
mind (a user's reaction to a cold or warm previous turn is kept for both responses).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAIRS_GENERATOR = "empathy-synth-pairs/1"
PAIRS_SEED = 20261126
MAX_TRIES = 5


def _load_generate() -> Any:
    """Import generate.py from this folder by path (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location("_empathy_synth_generate", HERE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generate()


def _conversations(split: str) -> list[tuple[str, dict[str, Any], list[dict[str, Any]], dict]]:
    """(seed, topic spec, same-cluster pool, conversation) of a split, as build_dataset makes."""
    by_cluster = gen._by_cluster()
    out = []
    for cluster in gen.CLUSTERS:
        for spec in by_cluster[cluster]:
            is_held = spec["key"] in gen.HELDOUT[cluster]
            if is_held != (split == "heldout"):
                continue
            pool = by_cluster[cluster] if is_held else [
                s for s in by_cluster[cluster] if s["key"] not in gen.HELDOUT[cluster]]
            for i in range(gen.PER_TOPIC):
                seed = f"{gen.DATASET_SEED}:{spec['key']}:{i}"
                conv = gen.make_conversation(spec, pool, seed, unseen=is_held)
                out.append((seed, spec, pool, conv))
    return out


def _check_against_files(split: str, convs: list[dict[str, Any]], root: Path) -> None:
    path = root / "datasets" / "empathy-synth" / f"{split}.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run generate.py first")
    on_disk = sorted(json.dumps(json.loads(line)["messages"], sort_keys=True)
                     for line in path.read_text("utf-8").splitlines() if line.strip())
    rebuilt = sorted(json.dumps(c["messages"], sort_keys=True) for c in convs)
    if on_disk != rebuilt:
        raise SystemExit(f"{split}.jsonl does not match generate.py's conversations: "
                         "regenerate the dataset before the pairs")


def pairs_of(seed: str, spec: dict[str, Any], pool: list[dict[str, Any]],
             conv: dict[str, Any], unseen: bool) -> list[dict[str, Any]]:
    """One pair per assistant turn whose alternative lands on another label."""
    topic = gen.Topic(spec, random.Random(seed))  # the conversation's own slot values
    others = [s for s in pool if s["key"] != spec["key"]]
    voice = conv["meta"]["voice"].split("/")[1]
    facts = topic.all("facts")
    out = []
    turn_index = -1
    for j, message in enumerate(conv["messages"]):
        if message["role"] != "assistant":
            continue
        turn_index += 1
        before = conv["messages"][:j]
        earlier = " ".join(m["content"] for m in before if m["role"] == "assistant")
        rng = random.Random(f"{PAIRS_SEED}:{seed}:{turn_index}")
        level = message["empathy"]
        alt_level, alt_text = None, None
        for _ in range(MAX_TRIES):
            target = rng.choice([v for v in range(1, 6) if v != level])
            dims = gen.draw_dimensions(target, rng)
            candidate = gen.turn_label(dims)
            if candidate != level:
                used = {f for f in facts if f in earlier}
                alt_text = gen.compose_turn(topic, others, dims, candidate, turn_index, voice,
                                            used, rng, unseen)
                alt_level = candidate
                break
        if alt_level is None or alt_text is None or alt_text == message["content"]:
            continue
        high, low = ((message["content"], level), (alt_text, alt_level))
        if alt_level > level:
            high, low = low, high
        out.append({
            "context": [{"role": m["role"], "content": m["content"]} for m in before],
            "chosen": high[0],
            "rejected": low[0],
            "task": conv["task"],
            "meta": {"chosen_level": high[1], "rejected_level": low[1],
                     "generator": PAIRS_GENERATOR},
        })
    return out


def build_pairs(root: Path) -> dict[str, list[dict[str, Any]]]:
    result = {}
    for split in ("train", "heldout"):
        items = _conversations(split)
        _check_against_files(split, [c for _, _, _, c in items], root)
        pairs: list[dict[str, Any]] = []
        for seed, spec, pool, conv in items:
            pairs.extend(pairs_of(seed, spec, pool, conv, unseen=split == "heldout"))
        random.Random(f"{PAIRS_SEED}:{split}").shuffle(pairs)
        result[split] = pairs
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=HERE.parent.parent)
    args = parser.parse_args()
    out = args.root / "datasets" / "empathy-synth"
    for split, pairs in build_pairs(args.root).items():
        path = out / f"pairs_{split}.jsonl"
        path.write_text("".join(json.dumps(p, sort_keys=True, ensure_ascii=False) + "\n"
                                for p in pairs), "utf-8")
        gaps: dict[int, int] = {}
        for p in pairs:
            gap = p["meta"]["chosen_level"] - p["meta"]["rejected_level"]
            gaps[gap] = gaps.get(gap, 0) + 1
        print(f"{path.name}: {len(pairs)} pairs; label gap histogram "
              + ", ".join(f"{k}: {gaps[k]}" for k in sorted(gaps)))


if __name__ == "__main__":
    main()
