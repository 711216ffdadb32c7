"""The default bundle's head: one ridge regression over two kinds of labels (pure numpy).

A turn's score is ``w . f(turn) + b`` with ``f`` the frozen encoder's features of the turn
(``[r, c, r*c, log(1 + response tokens)]``, or the response pooled at a few layers and the log
length; see :func:`edge_eval.training.train.make_graph`).
Two sources constrain ``w``:

- **conversations rated by people** (iEval): the rating constrains the mean of the turn scores,
  which is how ``edge-eval score`` aggregates a conversation, so each conversation contributes
  one row, the mean of its turn features, with its rating as target;
- **turns with a label** (the project's synthetic data): one row per turn;
- **contrasts** (the project's graded replies, several to one message): each reply's features
  and label minus the mean of its group's, so they constrain only how replies to the same
  message are ordered and spaced, never the level (no intercept is fitted on them).

Each source gets a share of the total sample weight (``turn_share`` for the labelled turns,
``contrast_share`` for the contrasts), so the balance does not depend on how many rows each
has. Features outside the chosen :class:`HeadFeatures` set get weight zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from edge_eval.errors import ConfigError

__all__ = [
    "HeadFeatures",
    "HeadFit",
    "affine_calibrated",
    "centre_within_groups",
    "feature_mask",
    "fit_head",
    "fit_weighted_ridge",
]


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
    x: np.ndarray,
    y: np.ndarray,
    alpha: float,
    sample_weight: np.ndarray,
    *,
    centred_x: np.ndarray | None = None,
    centred_y: np.ndarray | None = None,
    centred_weight: float = 0.0,
    centred_sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept; ``sample_weight`` is normalised to sum 1.

    ``centred_x``/``centred_y``: rows already centred (see :func:`centre_within_groups`) that
    take ``centred_weight`` of the total weight (the other rows ``1 - centred_weight``) and
    constrain the coefficients only: the intercept comes from the other rows' means.
    ``centred_sample_weight``: how that share is split among the centred rows (normalised to
    sum 1; default: equally).
    """
    if alpha <= 0:
        raise ConfigError("the ridge strength must be positive")
    if not 0.0 <= centred_weight < 1.0:
        raise ConfigError("the centred rows' share of the weight must lie in [0, 1)")
    w = np.asarray(sample_weight, dtype=np.float64)
    w = w / w.sum()
    mx = w @ x
    my = float(w @ y)
    xc = x - mx
    w = w * (1.0 - centred_weight)
    gram = (xc * w[:, None]).T @ xc
    moment = (xc * w[:, None]).T @ (y - my)
    if centred_weight > 0.0:
        if centred_x is None or centred_y is None or len(centred_y) == 0:
            raise ConfigError("a share for centred rows needs centred rows")
        if centred_sample_weight is None:  # equal weights
            v = centred_weight / len(centred_y)
            gram = gram + v * (centred_x.T @ centred_x)
            moment = moment + v * (centred_x.T @ centred_y)
        else:
            u = np.asarray(centred_sample_weight, dtype=np.float64)
            u = centred_weight * u / u.sum()
            gram = gram + (centred_x * u[:, None]).T @ centred_x
            moment = moment + (centred_x * u[:, None]).T @ centred_y
    coef = np.linalg.solve(gram + alpha * np.eye(x.shape[1]), moment)
    return coef, my - float(mx @ coef)


def centre_within_groups(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's features and label minus its group's means (a group of one becomes zero)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    _, index = np.unique(np.asarray(groups), return_inverse=True)
    counts = np.bincount(index).astype(np.float64)
    mean_x = np.zeros((len(counts), x.shape[1]))
    np.add.at(mean_x, index, x)
    mean_y = np.bincount(index, weights=y) / counts
    return x - mean_x[index] / counts[index, None], y - mean_y[index]


@dataclass(frozen=True, slots=True, kw_only=True)
class HeadFit:
    """A fitted head: ``weight`` over all feature columns (masked ones zero), and ``bias``."""

    weight: np.ndarray
    bias: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Raw scores of feature rows."""
        return np.asarray(x, dtype=np.float64) @ self.weight + self.bias


def affine_calibrated(fit: HeadFit, x: np.ndarray, y: np.ndarray) -> HeadFit:
    """``fit`` followed by the least-squares affine map of its scores of rows ``x`` onto ``y``.

    The map is folded into the head (a linear head stays linear, so a conversation's score is
    still the mean of its turns' scores): the rows set the scale, ``fit`` keeps the order
    (unless the slope comes out negative, which the caller's figures then show).
    """
    s = fit.predict(x)
    if len(s) < 2 or float(np.ptp(s)) == 0.0:
        raise ConfigError("an affine calibration needs rows with at least two distinct scores")
    slope, intercept = np.linalg.lstsq(np.c_[s, np.ones_like(s)], y, rcond=None)[0]
    return HeadFit(weight=float(slope) * fit.weight, bias=float(slope) * fit.bias + intercept)


def fit_head(
    mask: np.ndarray,
    *,
    alpha: float,
    conversation_x: np.ndarray,
    conversation_y: np.ndarray,
    turn_x: np.ndarray | None = None,
    turn_y: np.ndarray | None = None,
    turn_share: float = 0.0,
    contrast_x: np.ndarray | None = None,
    contrast_y: np.ndarray | None = None,
    contrast_share: float = 0.0,
    conversation_groups: np.ndarray | None = None,
    group_share: float = 0.0,
) -> HeadFit:
    """Ridge over conversation rows (mean turn features), turn rows and contrast rows.

    ``turn_share`` and ``contrast_share`` are those rows' shares of the total weight (the
    conversations get the rest); ``contrast_x``/``contrast_y`` are already centred within their
    groups (:func:`centre_within_groups`). ``group_share``: the share of the conversation rows
    centred within ``conversation_groups`` (who rated them); a rater with one conversation
    has nothing to compare and adds no row.
    """
    if not 0.0 <= turn_share < 1.0:
        raise ConfigError("the labelled turns' share of the weight must lie in [0, 1)")
    if not 0.0 <= group_share < 1.0:
        raise ConfigError("the within-rater rows' share of the weight must lie in [0, 1)")
    if not 0.0 <= contrast_share < 1.0 or turn_share + contrast_share + group_share >= 1.0:
        raise ConfigError(
            "the contrasts' share must lie in [0, 1) and leave the conversations some weight"
        )
    rest = 1.0 - turn_share - contrast_share - group_share
    rows = [conversation_x[:, mask]]
    targets = [conversation_y]
    weights = [np.full(len(conversation_y), rest / len(conversation_y))]
    centred_x: list[np.ndarray] = []
    centred_y: list[np.ndarray] = []
    centred_w: list[np.ndarray] = []
    sources = (
        (turn_x, turn_y, turn_share, "labelled turns", (rows, targets, weights)),
        (
            contrast_x,
            contrast_y,
            contrast_share,
            "contrast rows",
            (centred_x, centred_y, centred_w),
        ),
    )
    for x, y, share, what, (xs, ys, ws) in sources:
        if share > 0.0:
            if x is None or y is None or len(y) == 0:
                raise ConfigError(f"a share for {what} needs {what}")
            xs.append(x[:, mask])
            ys.append(y)
            ws.append(np.full(len(y), share / len(y)))
    if group_share > 0.0:
        if conversation_groups is None or len(conversation_groups) != len(conversation_y):
            raise ConfigError("a share for within-rater rows needs each conversation's rater")
        _, index, counts = np.unique(
            np.asarray(conversation_groups), return_inverse=True, return_counts=True
        )
        shared = counts[index] > 1
        if not shared.any():
            raise ConfigError("no rater rated more than one conversation: nothing to compare")
        gx, gy = centre_within_groups(
            conversation_x[shared][:, mask], conversation_y[shared], index[shared]
        )
        centred_x.append(gx)
        centred_y.append(gy)
        centred_w.append(np.full(len(gy), group_share / len(gy)))
    coef, bias = fit_weighted_ridge(
        np.vstack(rows),
        np.concatenate(targets),
        alpha,
        np.concatenate(weights),
        centred_x=np.vstack(centred_x) if centred_x else None,
        centred_y=np.concatenate(centred_y) if centred_y else None,
        centred_weight=contrast_share + group_share,
        # one source: equal weights, fit_weighted_ridge's own path (same arithmetic as before)
        centred_sample_weight=np.concatenate(centred_w) if len(centred_w) > 1 else None,
    )
    weight = np.zeros(mask.shape[0], dtype=np.float64)
    weight[mask] = coef
    return HeadFit(weight=weight, bias=bias)
