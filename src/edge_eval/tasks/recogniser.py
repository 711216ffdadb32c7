"""The task recogniser: assigns a cluster from a conversation's user turns.

Nearest prototype in the reward encoder's embedding space: each cluster's prototype is the
normalised mean embedding of labelled training conversations' user turns (computed when the
bundle is built, stored in the bundle as numbers only). A conversation is embedded the same way
and takes the cluster with the highest cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_eval.conversations import Conversation
from edge_eval.errors import ConfigError

__all__ = ["PrototypeRecogniser", "recogniser_text"]

#: How many user turns (from the start) describe the task.
USER_TURNS = 2


def recogniser_text(conversation: Conversation) -> str:
    """The text the recogniser reads: the first user turns, joined."""
    users = [m.content for m in conversation.messages if m.role == "user" and m.content.strip()]
    return "\n".join(users[:USER_TURNS]) if users else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PrototypeRecogniser:
    """Nearest-prototype classifier over unit-norm embeddings.

    Attributes:
        clusters: cluster names, one per prototype row.
        prototypes: float32 array [clusters, dim], rows of unit norm.
    """

    clusters: tuple[str, ...]
    prototypes: np.ndarray

    def __post_init__(self) -> None:
        if self.prototypes.ndim != 2 or self.prototypes.shape[0] != len(self.clusters):
            raise ConfigError("recogniser: one prototype row per cluster is needed")

    def restrict(self, names: Sequence[str]) -> PrototypeRecogniser:
        """Keep only the prototypes of ``names`` (a profile's clusters); all must be known."""
        missing = [n for n in names if n not in self.clusters]
        if missing:
            raise ConfigError(
                "the reward bundle's task recogniser knows no prototype for cluster(s) "
                + ", ".join(missing),
                hint="Give those conversations a `task`, or use a bundle built for this profile.",
            )
        rows = [self.clusters.index(n) for n in names]
        return PrototypeRecogniser(clusters=tuple(names), prototypes=self.prototypes[rows])

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Index (into ``clusters``) of the nearest prototype for each embedding row."""
        if len(embeddings) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.argmax(embeddings @ self.prototypes.T, axis=1)
