"""The default bundle's head: one ridge regression over two kinds of labels (pure numpy).

A turn's score is ``w . f(turn) + b`` with ``f`` the frozen encoder's features of the turn
(``[r, c, r*c, log(1 + response tokens)]``, or the response pooled at a few layers and the log
length; see :func:`edge_eval.training.train.make_graph`).
Two sources constrain ``w``:

- **conversations rated by people** (iEval): the rating constrains the mean of the turn scores,
  which is how ``edge-eval score`` aggregates a conversation, so each conversation contributes
  one row, the mean of its turn features, with its rating as target;
- **turns with a label** (the project's synthetic data): one row per turn.

Each source gets a share of the total sample weight (``turn_share`` for the labelled turns), so
the balance does not depend on how many rows each has. Features outside the chosen
:class:`HeadFeatures` set get weight zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from edge_eval.errors import ConfigError

__all__ = ["HeadFeatures", "HeadFit", "feature_mask", "fit_head", "fit_weighted_ridge"]


class HeadFeatures(str, Enum):
    """Which encoder features the head reads."""

    RESPONSE_LENGTH = "response+length"
    """The pooled response ``r`` and the log response length (context left out)."""
    ALL_LENGTH = "all+length"
    """``[r, c, r*c]`` and the log response length."""
    LAYERS_LENGTH = "layers+length"
    """The response pooled at each of a few encoder layers, and the log response length."""


def feature_mask(features: HeadFeatures, hidden: int, *, layers: int = 0) -> np.ndarray:
    """Boolean mask over the feature columns.

    Columns: ``[r, c, r*c, log length]`` (``3 * hidden + 1``), or for
    :attr:`HeadFeatures.LAYERS_LENGTH` the pooled response at ``layers`` layers and the log
    length (``layers * hidden + 1``, all used).
    """
    if features is HeadFeatures.LAYERS_LENGTH:
        if layers < 1:
            raise ConfigError("a head on pooled layers needs at least one layer")
        return np.ones(layers * hidden + 1, dtype=bool)
    mask = np.zeros(3 * hidden + 1, dtype=bool)
    mask[:hidden] = True
    mask[-1] = True
    if features is HeadFeatures.ALL_LENGTH:
        mask[:] = True
    return mask


def fit_weighted_ridge(
    x: np.ndarray, y: np.ndarray, alpha: float, sample_weight: np.ndarray
) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept; ``sample_weight`` is normalised to sum 1."""
    if alpha <= 0:
        raise ConfigError("the ridge strength must be positive")
    w = np.asarray(sample_weight, dtype=np.float64)
    w = w / w.sum()
    mx = w @ x
    my = float(w @ y)
    xc = x - mx
    gram = (xc * w[:, None]).T @ xc
    coef = np.linalg.solve(gram + alpha * np.eye(x.shape[1]), (xc * w[:, None]).T @ (y - my))
    return coef, my - float(mx @ coef)


@dataclass(frozen=True, slots=True, kw_only=True)
class HeadFit:
    """A fitted head: ``weight`` over all feature columns (masked ones zero), and ``bias``."""

    weight: np.ndarray
    bias: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Raw scores of feature rows."""
        return np.asarray(x, dtype=np.float64) @ self.weight + self.bias


def fit_head(
    mask: np.ndarray,
    *,
    alpha: float,
    conversation_x: np.ndarray,
    conversation_y: np.ndarray,
    turn_x: np.ndarray | None = None,
    turn_y: np.ndarray | None = None,
    turn_share: float = 0.0,
) -> HeadFit:
    """Ridge over conversation rows (mean turn features) and, with ``turn_share``, turn rows."""
    if not 0.0 <= turn_share < 1.0:
        raise ConfigError("the labelled turns' share of the weight must lie in [0, 1)")
    rows = [conversation_x[:, mask]]
    targets = [conversation_y]
    weights = [np.full(len(conversation_y), (1.0 - turn_share) / len(conversation_y))]
    if turn_share > 0.0:
        if turn_x is None or turn_y is None or len(turn_y) == 0:
            raise ConfigError("a share for labelled turns needs labelled turns")
        rows.append(turn_x[:, mask])
        targets.append(turn_y)
        weights.append(np.full(len(turn_y), turn_share / len(turn_y)))
    coef, bias = fit_weighted_ridge(
        np.vstack(rows), np.concatenate(targets), alpha, np.concatenate(weights)
    )
    weight = np.zeros(mask.shape[0], dtype=np.float64)
    weight[mask] = coef
    return HeadFit(weight=weight, bias=bias)
