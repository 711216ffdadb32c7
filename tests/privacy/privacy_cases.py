"""Helpers of the privacy tests: a fast deterministic reward model and conversation files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CLUSTERS = (
    "distressing_social_personal",
    "learning_skills",
    "work_career_self_improvement",
    "work_assignment_writing",
)


class FakeModel:
    """Scores a turn from a hash of its text (1-5): deterministic, no model file, no network."""

    kind = "fake-regression"

    def score_turns(self, turns: Sequence[Any], **_: Any) -> np.ndarray:
        out = []
        for t in turns:
            h = hashlib.sha256(t.response.encode("utf-8", "surrogatepass")).digest()
            out.append(1.0 + 4.0 * h[0] / 255.0)
        return np.array(out, dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "files": {}, "providers": []}


def conversation(cluster: str, i: int, *, turns: int = 2, text: str = "") -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for j in range(turns):
        messages.append({"role": "user", "content": f"question {i} {j} about {cluster} {text}"})
        messages.append({"role": "assistant", "content": f"answer {i} {j} for {cluster} {text}"})
    return {"id": f"c{i}", "task": cluster, "desired_empathy": 1 + i % 3, "messages": messages}


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


MakeRows = Callable[..., list[dict[str, Any]]]


def rows_for(sizes: dict[str, int], *, turns: int = 2, start: int = 0) -> list[dict[str, Any]]:
    rows = []
    i = start
    for cluster, n in sizes.items():
        for _ in range(n):
            rows.append(conversation(cluster, i, turns=turns))
            i += 1
    return rows


#: 30 + 20 + 15 conversations in three clusters, 3 in the fourth (withheld).
SIZES = {CLUSTERS[0]: 30, CLUSTERS[1]: 20, CLUSTERS[2]: 15, CLUSTERS[3]: 3}
