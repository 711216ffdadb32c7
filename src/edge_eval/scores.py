"""In-memory scores of single conversations and turns.

These types stay on the machine: they have no serialiser on purpose. Only report types
(``edge_eval.report``) can be written, and those hold aggregates of allowlisted fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

__all__ = ["ConversationScore", "ScoreTable", "TaskSource"]


class TaskSource(str, Enum):
    """Where a conversation's task cluster came from."""

    GIVEN = "given"  # the conversation's own `task` (cluster name or profile alias)
    RECOGNISED = "recognised"  # assigned by the recogniser from the user turns


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationScore:
    """One conversation's scores.

    Attributes:
        cluster: task cluster name (one of the profile's clusters).
        task_source: whether the cluster was given or recognised.
        desired: desired empathy on the 1-3 scale (the conversation's own, else the profile's).
        turn_scores: reward-model score of each assistant turn, in order, on 1-5.
        human_perceived: the conversation-level human rating on 1-5, when the input had one.
        human_turns: per-turn human labels on 1-5 (NaN where a turn had none).
    """

    cluster: str
    task_source: TaskSource
    desired: float
    turn_scores: tuple[float, ...]
    human_perceived: float | None = None
    human_turns: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not 1.0 <= self.desired <= 3.0:
            raise ValueError("desired empathy must lie in [1, 3]")
        if not self.turn_scores:
            raise ValueError("a scored conversation has at least one assistant turn")

    @property
    def perceived(self) -> float:
        """Turn-first perceived empathy on 1-5: the mean of the per-turn scores."""
        return float(np.mean(self.turn_scores))

    @property
    def d(self) -> float:
        """Normalised desired empathy, (desired - 1) / 2, in [0, 1]."""
        return (self.desired - 1.0) / 2.0

    @property
    def p(self) -> float:
        """Normalised perceived empathy, (perceived - 1) / 4, in [0, 1]."""
        return (self.perceived - 1.0) / 4.0

    # No pickling either: nothing per-item leaves by accident.
    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("ConversationScore is not serialisable by design")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreTable:
    """Columnar scores of many conversations: the input of every aggregate.

    Row ``i`` of the ``conv_*`` arrays is one conversation; the ``turn_*`` arrays hold one row
    per assistant turn, pointing back at its conversation with ``turn_conv``. Like
    :class:`ConversationScore` it stays in memory and has no serialiser.

    Attributes:
        clusters: cluster names; ``conv_cluster`` indexes into it.
        conv_cluster: int32, cluster index of each conversation.
        conv_desired: float64, desired empathy of each conversation on 1-3.
        conv_perceived: float64, turn-first perceived empathy (mean of its turns) on 1-5.
        conv_recognised: bool, whether the cluster came from the recogniser.
        turn_conv: int64, conversation row of each assistant turn.
        turn_index: int32, 1-based index of the turn among its conversation's assistant turns.
        turn_score: float64, reward-model score of each assistant turn on 1-5.
        conv_human: float64, conversation-level human perceived rating (NaN where absent).
        turn_human: float64, per-turn human empathy label (NaN where absent).
    """

    clusters: tuple[str, ...]
    conv_cluster: np.ndarray
    conv_desired: np.ndarray
    conv_perceived: np.ndarray
    conv_recognised: np.ndarray
    turn_conv: np.ndarray
    turn_index: np.ndarray
    turn_score: np.ndarray
    conv_human: np.ndarray
    turn_human: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.conv_cluster)
        for name in ("conv_desired", "conv_perceived", "conv_recognised", "conv_human"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, expected {n}")
        t = len(self.turn_conv)
        for name in ("turn_index", "turn_score", "turn_human"):
            if len(getattr(self, name)) != t:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, expected {t}")

    @property
    def n_conversations(self) -> int:
        return len(self.conv_cluster)

    @classmethod
    def from_scores(cls, scores: list[ConversationScore], clusters: tuple[str, ...]) -> ScoreTable:
        """Build a table from per-conversation scores (used by tests and small callers)."""
        index = {name: i for i, name in enumerate(clusters)}
        turn_conv: list[int] = []
        turn_index: list[int] = []
        turn_score: list[float] = []
        turn_human: list[float] = []
        for row, s in enumerate(scores):
            for k, value in enumerate(s.turn_scores):
                turn_conv.append(row)
                turn_index.append(k + 1)
                turn_score.append(value)
                human = s.human_turns[k] if k < len(s.human_turns) else float("nan")
                turn_human.append(float("nan") if human is None else human)
        return cls(
            clusters=clusters,
            conv_cluster=np.array([index[s.cluster] for s in scores], dtype=np.int32),
            conv_desired=np.array([s.desired for s in scores], dtype=np.float64),
            conv_perceived=np.array([s.perceived for s in scores], dtype=np.float64),
            conv_recognised=np.array(
                [s.task_source is TaskSource.RECOGNISED for s in scores], dtype=bool
            ),
            turn_conv=np.array(turn_conv, dtype=np.int64),
            turn_index=np.array(turn_index, dtype=np.int32),
            turn_score=np.array(turn_score, dtype=np.float64),
            conv_human=np.array(
                [np.nan if s.human_perceived is None else s.human_perceived for s in scores],
                dtype=np.float64,
            ),
            turn_human=np.array(turn_human, dtype=np.float64),
        )

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("ScoreTable is not serialisable by design")
