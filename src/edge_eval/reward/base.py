"""What every reward model offers: score assistant turns in context on the 1-5 scale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["RewardModel", "TurnInput"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnInput:
    """One assistant turn to score, with the conversation before it.

    Attributes:
        context: the preceding messages as ``(role, content)`` pairs, oldest first.
        response: the assistant turn's text.
    """

    context: tuple[tuple[str, str], ...]
    response: str

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("TurnInput holds conversation text and is not serialisable")


@runtime_checkable
class RewardModel(Protocol):
    """A scorer of assistant turns. Implementations: ONNX bundle, GGUF judge, preference model."""

    @property
    def kind(self) -> str:
        """A fixed label for reports and manifests, e.g. ``"onnx-regression"``."""
        ...

    def score_turns(self, turns: Sequence[TurnInput]) -> np.ndarray:
        """Scores on 1-5 (float64, one per turn, NaN where a turn could not be scored)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the manifest records: kind, file names and SHA-256, providers. No input data."""
        ...
