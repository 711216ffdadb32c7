"""Conversations rated by people as a whole (e.g. iEval), for training and validating a head.

A conversation's rating constrains the mean of its turn scores, which is exactly how
``edge-eval score`` aggregates a conversation ("turn-first"). With a linear head on frozen
features that is a ridge regression on the mean of the conversation's turn features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_eval.conversations import iter_conversations, turn_inputs
from edge_eval.errors import ConfigError
from edge_eval.reward.base import TurnInput

__all__ = [
    "RatedConversations",
    "grouped_folds",
    "ieval_group",
    "ieval_system",
    "rated_conversations",
]


def ieval_group(conversation_id: str) -> str:
    """The person (PART) of an iEval id ``ieval-PART-VALENCE-BOT``; any other id is its own group.

    One person rated four bots on one situation: their chats share a group, so a split by group
    never puts one person's ratings on both sides.
    """
    parts = conversation_id.split("-")
    if len(parts) >= 4 and parts[0] == "ieval":
        return parts[1]
    return conversation_id


def ieval_system(conversation_id: str) -> str | None:
    """The chatbot (BOT) of an iEval id ``ieval-PART-VALENCE-BOT``; None for any other id."""
    parts = conversation_id.split("-")
    if len(parts) >= 4 and parts[0] == "ieval":
        return parts[3]
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RatedConversations:
    """Assistant turns of conversations that carry a whole-conversation rating.

    Attributes:
        turns: every assistant turn (with its context), conversation by conversation.
        conversation_of_turn: row of each turn's conversation in ``ratings``.
        ratings: each conversation's ``perceived_empathy`` (1-5).
        groups: each conversation's group (same person), as integers.
        systems: each conversation's chatbot, as integers (-1: not known).
        response_words: words of each turn's response (for the length baseline).
        ids: each conversation's id ("" when it has none), to match per-reply labels.
    """

    turns: tuple[TurnInput, ...]
    conversation_of_turn: np.ndarray
    ratings: np.ndarray
    groups: np.ndarray
    systems: np.ndarray
    response_words: np.ndarray
    ids: tuple[str, ...] = ()

    def conversation_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of per-turn ``values`` (rows) over each conversation's turns."""
        n = len(self.ratings)
        values = np.asarray(values, dtype=np.float64)
        flat = values.reshape(len(values), -1)
        out = np.zeros((n, flat.shape[1]))
        np.add.at(out, self.conversation_of_turn, flat)
        counts = np.bincount(self.conversation_of_turn, minlength=n).astype(np.float64)
        out /= counts[:, None]
        return out.reshape((n, *values.shape[1:]))


def rated_conversations(path: Path) -> RatedConversations:
    """The conversations of a JSONL file that carry ``perceived_empathy`` and an assistant turn."""
    turns: list[TurnInput] = []
    conv: list[int] = []
    ratings: list[float] = []
    group_names: list[str] = []
    system_names: list[str | None] = []
    ids: list[str] = []
    for line, conversation in enumerate(iter_conversations(path), start=1):
        inputs = turn_inputs(conversation)
        if conversation.perceived_empathy is None or not inputs:
            continue
        row = len(ratings)
        ratings.append(float(conversation.perceived_empathy))
        # A conversation without an id is its own group (named by its line, never shown).
        group_names.append(ieval_group(conversation.id or f"line-{line}"))
        system_names.append(ieval_system(conversation.id or ""))
        ids.append(conversation.id or "")
        turns.extend(inputs)
        conv.extend([row] * len(inputs))
    if not ratings:
        raise ConfigError(
            "no conversation in the file carries a `perceived_empathy` rating",
            hint="A human-rated training file needs `perceived_empathy` (1-5) per conversation.",
        )
    index = {name: i for i, name in enumerate(sorted(set(group_names)))}
    known = {name: i for i, name in enumerate(sorted({n for n in system_names if n}))}
    return RatedConversations(
        turns=tuple(turns),
        conversation_of_turn=np.asarray(conv, dtype=np.int64),
        ratings=np.asarray(ratings, dtype=np.float64),
        groups=np.asarray([index[g] for g in group_names], dtype=np.int64),
        systems=np.asarray([known.get(n, -1) if n else -1 for n in system_names], dtype=np.int64),
        response_words=np.asarray([len(t.response.split()) for t in turns], dtype=np.float64),
        ids=tuple(ids),
    )


def grouped_folds(groups: np.ndarray, k: int = 5) -> np.ndarray:
    """Fold of each item: groups in sorted order dealt round-robin into ``k`` folds."""
    if k < 2:
        raise ConfigError("cross-validation needs at least 2 folds")
    uniq = np.unique(groups)
    fold_of_group = {g: i % k for i, g in enumerate(uniq)}
    return np.asarray([fold_of_group[g] for g in groups], dtype=np.int64)
