"""Score tables with hand-computable figures, and reports built from them (test helpers)."""

from __future__ import annotations

from typing import Any

from edge_eval.report import build_report
from edge_eval.scores import ConversationScore, ScoreTable, TaskSource

CLUSTERS = ("distressing_social_personal", "learning_skills", "work_assignment_writing")


def conv(cluster: str, desired: float, *scores: float) -> ConversationScore:
    return ConversationScore(
        cluster=cluster,
        task_source=TaskSource.GIVEN,
        desired=desired,
        turn_scores=tuple(float(s) for s in scores),
    )


def hand_scores() -> list[ConversationScore]:
    """distressing: 11 x (desired 3; turns 5, 5, 5) -> d 1, p 1, g 0
    learning: 22 x (desired 1; turns 3, 3) -> d 0, p .5, g -.5, e .5
    writing: 4 conversations -> withheld
    """
    return (
        [conv("distressing_social_personal", 3.0, 5, 5, 5) for _ in range(11)]
        + [conv("learning_skills", 1.0, 3, 3) for _ in range(22)]
        + [conv("work_assignment_writing", 1.0, 2) for _ in range(4)]
    )


def make_report(scores: list[ConversationScore], **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "clusters": CLUSTERS,
        "tolerance": 0.125,
        "model_kind": "minilm-onnx-int8",
    }
    options.update(kwargs)
    table = ScoreTable.from_scores(scores, options["clusters"])
    return build_report(table, **options).to_dict()
