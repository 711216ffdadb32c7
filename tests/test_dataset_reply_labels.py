"""The committed iEval reply labels keep the invariants their README states."""

from __future__ import annotations

import json
from pathlib import Path

from edge_eval.conversations import iter_conversations, turn_inputs

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "datasets" / "ieval-reply-labels" / "labels.jsonl"
IEVAL = ROOT / "datasets" / "ieval" / "ieval.jsonl"


def test_every_reply_has_two_labels_from_different_sessions() -> None:
    chats = list(iter_conversations(IEVAL))
    lines = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == [c.id for c in chats]
    for line, chat in zip(lines, chats, strict=True):
        replies = len(turn_inputs(chat))
        sessions = [label["by"] for label in line["labels"]]
        assert len(sessions) >= 2 and len(set(sessions)) == len(sessions)
        assert {s.split("-")[0] for s in sessions} == {"r1", "r2"}
        for label in line["labels"]:
            assert len(label["levels"]) == replies
            assert all(isinstance(v, int) and 1 <= v <= 5 for v in label["levels"])


def test_the_file_holds_no_text() -> None:
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        assert set(record) == {"id", "labels"}
        assert all(set(label) == {"by", "levels"} for label in record["labels"])
