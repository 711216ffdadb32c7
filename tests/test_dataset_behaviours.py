"""The committed empathy-behaviours file keeps the invariants its README and the build rely on."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from edge_eval.conversations import iter_conversations, turn_inputs
from edge_eval.training.build import context_groups
from edge_eval.training.train import labelled_turns

FILE = Path(__file__).resolve().parents[1] / "datasets" / "empathy-behaviours" / "behaviours.jsonl"


def test_every_message_has_one_reply_per_level_and_shared_earlier_turns() -> None:
    conversations = list(iter_conversations(FILE))  # validates every line
    assert len(conversations) == 1350
    levels: dict[str, list[int]] = defaultdict(list)
    earlier: dict[str, set[str]] = defaultdict(set)
    replies = []
    for conversation in conversations:
        message, _, level = conversation.id.rpartition("-")
        last = conversation.messages[-1]
        assert last.role == "assistant" and last.empathy == int(level)
        assert all(m.empathy is None for m in conversation.messages[:-1])
        levels[message].append(int(level))
        earlier[message].add(json.dumps([(m.role, m.content) for m in conversation.messages[:-1]]))
        replies.append(last.content)
    assert len(levels) == 270
    assert all(sorted(v) == [1, 2, 3, 4, 5] for v in levels.values())
    assert all(len(v) == 1 for v in earlier.values()), "replies share their earlier turns"
    assert len(set(replies)) == len(replies), "no reply repeats"


def test_the_build_groups_the_replies_by_the_message_they_answer() -> None:
    graded = labelled_turns(FILE)
    groups = context_groups(graded.turns)
    assert len(graded.turns) == 1350 and len(set(groups.tolist())) == 270
    by_id = [c.id.rpartition("-")[0] for c in iter_conversations(FILE)]
    turns = [t for c in iter_conversations(FILE) for t in turn_inputs(c)[-1:]]
    assert [t.response for t in turns] == [t.response for t in graded.turns]
    # Same context <=> same message id.
    pairs = {(g, m) for g, m in zip(groups.tolist(), by_id, strict=True)}
    assert len(pairs) == 270
