"""How well a reward model agrees with people: SENSE-7's metrics, with intervals and a gate.

Two levels are compared, as in SENSE-7:

- **turn**: every assistant turn that has a human ``empathy`` label and a model score;
- **conversation**: every conversation with a human rating (its ``perceived_empathy``, or,
  where it has only turn labels, their turn-first mean) against the mean of its model turn
  scores.

On each level: accuracy, macro-F1 and within-1 accuracy on labels rounded half up and clipped
to 1-5; MAE and Spearman's rho on the continuous values, each with a seeded percentile
bootstrap interval. A level with fewer than ``min_count`` pairs (the privacy threshold k,
default 11) is withheld: it is reported as ``None`` (``null`` in JSON), never as a number.

The metric functions are pure (numpy only, no I/O). :func:`validate_conversations` is the stage
that reads a conversations file and scores it; it imports the loader and the model lazily.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_eval.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from edge_eval.conversations import LoadStats
    from edge_eval.privacy.dp import DPConfig
    from edge_eval.reward.base import RewardModel

__all__ = [
    "BASELINES",
    "DEFAULT_MIN_COUNT",
    "Baseline",
    "LevelAgreement",
    "LevelPanel",
    "ValidationReport",
    "accuracy",
    "bootstrap_ci",
    "compare_level",
    "conversation_pairs",
    "panel_level",
    "partial_spearman",
    "turn_baseline_features",
    "macro_f1",
    "mean_absolute_error",
    "rank_average",
    "round_labels",
    "spearman",
    "validate_conversations",
    "validate_scores",
    "within1_accuracy",
]

#: The privacy threshold k: a level with fewer pairs than this is withheld.
DEFAULT_MIN_COUNT = 11
#: The rating scale of per-turn and perceived empathy.
SCALE = (1, 5)
#: Trivial baselines the validity panel sets beside every scorer (fixed label -> what it is).
BASELINES = {
    "length_words": "response length in words",
    "question_mark": "contains '?'",
}

ArrayLike = Sequence[float] | np.ndarray


# --------------------------------------------------------------------------- pure metrics


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true, dtype=np.float64).reshape(-1)
    b = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"y_true has {a.size} values, y_pred {b.size}: they must pair up")
    if a.size == 0:
        raise ValueError("at least one pair is needed")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("values must be finite; drop unlabelled or unscored items first")
    return a, b


def round_labels(values: ArrayLike, *, low: int = SCALE[0], high: int = SCALE[1]) -> np.ndarray:
    """Round half up (2.5 -> 3, unlike numpy's half-to-even) and clip to ``[low, high]``."""
    x = np.asarray(values, dtype=np.float64)
    return np.clip(np.floor(x + 0.5), low, high).astype(np.int64)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of pairs whose rounded labels are equal."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean(round_labels(a) == round_labels(b)))


def within1_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of pairs whose rounded labels differ by at most one step."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean(np.abs(round_labels(a) - round_labels(b)) <= 1))


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted mean F1 over the rounded classes present in either ``y_true`` or ``y_pred``.

    A class with no true positive has F1 0 (scikit-learn's ``average="macro"`` with its default
    label set and ``zero_division=0``).
    """
    a, b = _pair(y_true, y_pred)
    t, p = round_labels(a), round_labels(b)
    scores = []
    for label in np.union1d(t, p):
        tp = int(np.sum((t == label) & (p == label)))
        fp = int(np.sum((t != label) & (p == label)))
        fn = int(np.sum((t == label) & (p != label)))
        denominator = 2 * tp + fp + fn
        scores.append(0.0 if tp == 0 else 2.0 * tp / denominator)
    return float(np.mean(scores))


def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute difference of the continuous values."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean(np.abs(a - b)))


def rank_average(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (``scipy.stats.rankdata`` default)."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Boundaries of runs of equal values in the sorted array.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], x.size]
    average = (starts + ends + 1) / 2.0  # mean of 1-based positions start+1 .. end
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def spearman(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Spearman's rho: Pearson correlation of average ranks. NaN when either side is constant."""
    a, b = _pair(y_true, y_pred)
    ra, rb = rank_average(a), rank_average(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denominator = math.sqrt(float(np.dot(ra, ra)) * float(np.dot(rb, rb)))
    if denominator == 0.0:
        return float("nan")
    return float(np.dot(ra, rb) / denominator)


def partial_spearman(y_true: ArrayLike, y_pred: ArrayLike, control: ArrayLike) -> float:
    """Spearman's rho of ``y_pred`` with ``y_true`` with ``control`` held fixed.

    The partial correlation of the three average-rank vectors: how far the scores order the
    labels beyond what ``control`` (e.g. response length) already orders. NaN when it is
    undefined (a constant side, or ``control`` ranking either side perfectly).
    """
    a, b = _pair(y_true, y_pred)
    c = np.asarray(control, dtype=np.float64).reshape(-1)
    if c.shape != a.shape:
        raise ValueError(f"control has {c.size} values for {a.size} pairs")
    r_ab, r_ac, r_bc = spearman(a, b), spearman(a, c), spearman(b, c)
    denominator = (1.0 - r_ac * r_ac) * (1.0 - r_bc * r_bc)
    if not math.isfinite(r_ab + r_ac + r_bc) or denominator <= 1e-12:
        return float("nan")
    return float((r_ab - r_ac * r_bc) / math.sqrt(denominator))


def bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resampled pairs (seeded).

    Resamples where the statistic is undefined (NaN, e.g. a constant resample for Spearman)
    are left out; if none is defined the interval is ``(nan, nan)``.
    """
    a, b = _pair(y_true, y_pred)
    return _bootstrap(statistic, (a, b), n_boot=n_boot, seed=seed, level=level)


def _bootstrap(
    statistic: Callable[..., float],
    arrays: tuple[np.ndarray, ...],
    *,
    n_boot: int,
    seed: int,
    level: float,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(*arrays)`` over resampled rows (equal-length arrays)."""
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    if not 0.0 < level < 1.0:
        raise ValueError("level must lie in (0, 1)")
    size = arrays[0].size
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot, dtype=np.float64)
    for i in range(n_boot):
        idx = rng.integers(0, size, size=size)
        values[i] = statistic(*(x[idx] for x in arrays))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return (float(low), float(high))


# --------------------------------------------------------------------------- one level


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelAgreement:
    """Agreement of model scores with human labels on one level (turn or conversation).

    Attributes:
        n: number of (human, model) pairs compared.
        spearman: Spearman's rho on the continuous values (NaN if a side is constant).
        spearman_ci: seeded percentile bootstrap interval of rho.
        mae: mean absolute error on the 1-5 scale.
        mae_ci: seeded percentile bootstrap interval of the MAE.
        accuracy: exact agreement of the rounded, clipped 1-5 labels.
        macro_f1: macro-averaged F1 of the rounded labels.
        within1: share of rounded labels at most one step apart.
    """

    n: int
    spearman: float
    spearman_ci: tuple[float, float]
    mae: float
    mae_ci: tuple[float, float]
    accuracy: float
    macro_f1: float
    within1: float

    def to_dict(self) -> dict[str, Any]:
        """The issue's JSON keys, in order; NaN becomes ``None`` (JSON ``null``)."""
        return {
            "n": self.n,
            "spearman": _finite_or_none(self.spearman),
            "spearman_ci": [_finite_or_none(v) for v in self.spearman_ci],
            "mae": _finite_or_none(self.mae),
            "accuracy": _finite_or_none(self.accuracy),
            "macro_f1": _finite_or_none(self.macro_f1),
            "within1": _finite_or_none(self.within1),
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def compare_level(
    human: ArrayLike,
    model: ArrayLike,
    *,
    min_count: int = DEFAULT_MIN_COUNT,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> LevelAgreement | None:
    """All metrics of one level, or ``None`` when fewer than ``min_count`` pairs are finite.

    Pairs where either side is NaN are dropped first (unlabelled or unscored items).
    """
    if min_count < 1:
        raise ConfigError("the minimum count must be at least 1")
    h = np.asarray(human, dtype=np.float64).reshape(-1)
    m = np.asarray(model, dtype=np.float64).reshape(-1)
    if h.shape != m.shape:
        raise ValueError(f"human has {h.size} values, model {m.size}: they must pair up")
    keep = np.isfinite(h) & np.isfinite(m)
    h, m = h[keep], m[keep]
    if h.size < min_count:
        return None
    return LevelAgreement(
        n=int(h.size),
        spearman=spearman(h, m),
        spearman_ci=bootstrap_ci(spearman, h, m, n_boot=n_boot, seed=seed, level=level),
        mae=mean_absolute_error(h, m),
        mae_ci=bootstrap_ci(
            lambda a, b: float(np.mean(np.abs(a - b))), h, m, n_boot=n_boot, seed=seed, level=level
        ),
        accuracy=accuracy(h, m),
        macro_f1=macro_f1(h, m),
        within1=within1_accuracy(h, m),
    )


# --------------------------------------------------------------------------- the panel


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """Spearman's rho of a trivial feature with the same human labels (a scorer must beat it).

    Attributes:
        name: a key of :data:`BASELINES`.
        spearman: rho of the feature with the labels (NaN if either side is constant).
        spearman_ci: seeded percentile bootstrap interval of rho.
        scorer_given: the scorer's rho with the labels with the feature held fixed
            (:func:`partial_spearman`): what the scorer orders beyond the baseline.
        scorer_given_ci: its seeded percentile bootstrap interval (the same resamples' seed).
    """

    name: str
    spearman: float
    spearman_ci: tuple[float, float]
    scorer_given: float = float("nan")
    scorer_given_ci: tuple[float, float] = (float("nan"), float("nan"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "spearman": _finite_or_none(self.spearman),
            "spearman_ci": [_finite_or_none(v) for v in self.spearman_ci],
            "scorer_given_baseline": _finite_or_none(self.scorer_given),
            "scorer_given_baseline_ci": [_finite_or_none(v) for v in self.scorer_given_ci],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelBin:
    """People's rounded levels ``low`` to ``high`` taken together: pairs and mean prediction."""

    low: int
    high: int
    n: int
    mean_predicted: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "levels": [self.low, self.high],
            "n": self.n,
            "mean_predicted": _finite_or_none(self.mean_predicted),
        }


def level_bins(human: np.ndarray, model: np.ndarray, *, min_count: int) -> tuple[LevelBin, ...]:
    """The scale level by level: the mean prediction at each level people gave (rounded half
    up), on finite pairs only.

    Adjacent levels are merged, from the lowest up, until each bin holds at least ``min_count``
    pairs (a remainder joins the last bin). No bin is withheld, so none can be recovered from
    the level's totals by difference, and the bins' counts add up to the level's ``n``. The
    bins tile the whole scale (the first starts at its lowest level, the last ends at its
    highest), so a bin's range does not tell which rare levels occur in it.
    """
    keep = np.isfinite(human) & np.isfinite(model)
    rounded, m = round_labels(human[keep]), model[keep]
    groups: list[list[int]] = []
    current: list[int] = []
    for value in np.unique(rounded).tolist():
        current.append(int(value))
        if int(np.isin(rounded, current).sum()) >= min_count:
            groups.append(current)
            current = []
    if current and groups:
        groups[-1] += current
    elif current:
        groups.append(current)
    bins = []
    for i, group in enumerate(groups):
        inside = np.isin(rounded, group)
        bins.append(
            LevelBin(
                low=SCALE[0] if i == 0 else groups[i - 1][-1] + 1,
                high=SCALE[1] if i == len(groups) - 1 else group[-1],
                n=int(inside.sum()),
                mean_predicted=float(m[inside].mean()),
            )
        )
    return tuple(bins)


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelPanel:
    """What the validity panel adds to a level: calibration and the trivial baselines.

    Attributes:
        n: pairs compared (the same as the level's).
        bias: mean predicted minus mean human rating (the gap d - p is absolute: scale matters).
        mean_human: mean human rating.
        mean_predicted: mean model score.
        baselines: :data:`BASELINES` on the same labels, in that order.
        by_level: the mean prediction at each level people gave (:func:`level_bins`).
    """

    n: int
    bias: float
    mean_human: float
    mean_predicted: float
    baselines: tuple[Baseline, ...] = ()
    by_level: tuple[LevelBin, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "bias": _finite_or_none(self.bias),
            "mean_human": _finite_or_none(self.mean_human),
            "mean_predicted": _finite_or_none(self.mean_predicted),
            "baselines": {b.name: b.to_dict() for b in self.baselines},
            "by_level": [b.to_dict() for b in self.by_level],
        }


def turn_baseline_features(responses: Sequence[str]) -> dict[str, np.ndarray]:
    """The :data:`BASELINES` of each response text: word count and whether it has a '?'."""
    return {
        "length_words": np.asarray([len(r.split()) for r in responses], dtype=np.float64),
        "question_mark": np.asarray([float("?" in r) for r in responses], dtype=np.float64),
    }


def panel_level(
    human: ArrayLike,
    model: ArrayLike,
    features: dict[str, ArrayLike],
    *,
    min_count: int = DEFAULT_MIN_COUNT,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> LevelPanel | None:
    """Bias and the baselines of one level, on exactly the pairs :func:`compare_level` keeps."""
    h = np.asarray(human, dtype=np.float64).reshape(-1)
    m = np.asarray(model, dtype=np.float64).reshape(-1)
    keep = np.isfinite(h) & np.isfinite(m)
    if int(keep.sum()) < min_count:
        return None
    h, m = h[keep], m[keep]
    baselines = []
    for name in BASELINES:
        if name not in features:
            continue
        f = np.asarray(features[name], dtype=np.float64).reshape(-1)
        if f.shape != keep.shape:
            raise ValueError(f"baseline {name} has {f.size} values for {keep.size} items")
        f = f[keep]
        baselines.append(
            Baseline(
                name=name,
                spearman=spearman(h, f),
                spearman_ci=bootstrap_ci(spearman, h, f, n_boot=n_boot, seed=seed, level=level),
                scorer_given=partial_spearman(h, m, f),
                scorer_given_ci=_bootstrap(
                    partial_spearman, (h, m, f), n_boot=n_boot, seed=seed, level=level
                ),
            )
        )
    return LevelPanel(
        n=int(h.size),
        bias=float(m.mean() - h.mean()),
        mean_human=float(h.mean()),
        mean_predicted=float(m.mean()),
        baselines=tuple(baselines),
        by_level=level_bins(h, m, min_count=min_count),
    )


# --------------------------------------------------------------------------- both levels


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    """Agreement of a reward model with people on both levels (``None``: withheld or absent).

    Attributes:
        turn: per assistant turn, model score vs human ``empathy`` label.
        conversation: per conversation, mean model score vs the human rating.
        turns_unscored: labelled turns the model could not score (NaN), left out of ``turn``.
        min_count: the privacy threshold applied to both levels.
        privacy_record: under differential privacy (``validate --epsilon``), what the release
            spent (see :mod:`edge_eval.privacy.dp_validation`); never in :meth:`to_dict`.
        turn_panel, conversation_panel: bias and trivial baselines of each level (the
            validity panel), when the baseline features were given; never in :meth:`to_dict`.
    """

    turn: LevelAgreement | None
    conversation: LevelAgreement | None
    turns_unscored: int = 0
    min_count: int = DEFAULT_MIN_COUNT
    privacy_record: dict[str, Any] | None = None
    turn_panel: LevelPanel | None = None
    conversation_panel: LevelPanel | None = None

    def to_dict(self) -> dict[str, Any]:
        """Exactly ``{"turn": {...} | null, "conversation": {...} | null}``."""
        return {
            "turn": None if self.turn is None else self.turn.to_dict(),
            "conversation": None if self.conversation is None else self.conversation.to_dict(),
        }

    def panel_dict(self) -> dict[str, Any]:
        """Bias and baselines per level: ``{"turn": {...} | null, "conversation": ...}``."""
        return {
            "turn": None if self.turn_panel is None else self.turn_panel.to_dict(),
            "conversation": (
                None if self.conversation_panel is None else self.conversation_panel.to_dict()
            ),
        }


def conversation_pairs(
    *,
    turn_human: ArrayLike,
    turn_model: ArrayLike,
    turn_conv: ArrayLike,
    conv_human: ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """Per conversation: (human rating, mean model turn score); NaN where either is missing.

    The human rating is the conversation's own ``conv_human`` when finite, else the turn-first
    mean of its finite turn labels. The model side is the mean of its finite turn scores.
    """
    th = np.asarray(turn_human, dtype=np.float64).reshape(-1)
    tm = np.asarray(turn_model, dtype=np.float64).reshape(-1)
    tc = np.asarray(turn_conv, dtype=np.int64).reshape(-1)
    ch = np.asarray(conv_human, dtype=np.float64).reshape(-1)
    if not th.size == tm.size == tc.size:
        raise ValueError("turn_human, turn_model and turn_conv must have one row per turn")
    n_conv = ch.size
    if tc.size and (tc.min() < 0 or tc.max() >= n_conv):
        raise ValueError("turn_conv points outside conv_human")

    def turn_mean(values: np.ndarray) -> np.ndarray:
        ok = np.isfinite(values)
        sums = np.bincount(tc[ok], weights=values[ok], minlength=n_conv)
        counts = np.bincount(tc[ok], minlength=n_conv)
        out = np.full(n_conv, np.nan)
        np.divide(sums, counts, out=out, where=counts > 0)
        return out

    human = np.where(np.isfinite(ch), ch, turn_mean(th))
    return human, turn_mean(tm)


def validate_scores(
    *,
    turn_human: ArrayLike,
    turn_model: ArrayLike,
    turn_conv: ArrayLike,
    conv_human: ArrayLike,
    min_count: int = DEFAULT_MIN_COUNT,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    turn_features: dict[str, ArrayLike] | None = None,
) -> ValidationReport:
    """Compare model scores with human labels on both levels, with the privacy gate.

    Args:
        turn_human: human ``empathy`` label of each assistant turn (NaN where absent), 1-5.
        turn_model: model score of each assistant turn (NaN where it could not score), 1-5.
        turn_conv: conversation row (0-based) of each assistant turn.
        conv_human: conversation-level human rating (``perceived_empathy``; NaN where absent).
        min_count: the privacy threshold k; a level with fewer pairs is withheld (``None``).
        n_boot, seed, level: the bootstrap's resamples, seed and interval level.
        turn_features: the :data:`BASELINES` of each turn (:func:`turn_baseline_features`);
            given, the report carries the validity panel (bias, baselines). A conversation's
            feature is the mean over its turns, as its model score is.
    """
    th = np.asarray(turn_human, dtype=np.float64).reshape(-1)
    tm = np.asarray(turn_model, dtype=np.float64).reshape(-1)
    conv_h, conv_m = conversation_pairs(
        turn_human=th, turn_model=tm, turn_conv=turn_conv, conv_human=conv_human
    )
    options: dict[str, Any] = {
        "min_count": min_count,
        "n_boot": n_boot,
        "seed": seed,
        "level": level,
    }
    turn_panel = conversation_panel = None
    if turn_features is not None:
        tc = np.asarray(turn_conv, dtype=np.int64).reshape(-1)
        n_conv = np.asarray(conv_human).reshape(-1).size
        conv_features = {}
        for name, values in turn_features.items():
            v = np.asarray(values, dtype=np.float64).reshape(-1)
            counts = np.bincount(tc, minlength=n_conv)
            sums = np.bincount(tc, weights=v, minlength=n_conv)
            conv_features[name] = np.divide(
                sums, counts, out=np.full(n_conv, np.nan), where=counts > 0
            )
        turn_panel = panel_level(th, tm, turn_features, **options)
        conversation_panel = panel_level(conv_h, conv_m, conv_features, **options)
    return ValidationReport(
        turn=compare_level(th, tm, **options),
        conversation=compare_level(conv_h, conv_m, **options),
        turns_unscored=int(np.sum(np.isfinite(th) & ~np.isfinite(tm))),
        min_count=min_count,
        turn_panel=turn_panel,
        conversation_panel=conversation_panel,
    )


# --------------------------------------------------------------------------- the stage


def validate_conversations(
    src: Path,
    model: RewardModel,
    *,
    on_error: str = "fail",
    min_count: int = DEFAULT_MIN_COUNT,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 32,
    stats: LoadStats | None = None,
    progress: Callable[[int], None] | None = None,
    dp: DPConfig | None = None,
    digests: list[bytes] | None = None,
) -> ValidationReport:
    """Score every assistant turn of ``src`` with ``model`` and compare with the human labels.

    Memory holds four numbers per turn and one per conversation, never the text of more than
    ``batch_size`` turns. ``stats`` receives the loader's counts (lines skipped by category);
    ``progress`` is called with the number of turns scored so far. With ``dp`` the figures are
    released under differential privacy (:mod:`edge_eval.privacy.dp_validation`); ``digests``
    receives each conversation's content digest for the privacy ledger (memory only).
    """
    from edge_eval.conversations import iter_conversations, turn_inputs

    turn_human: list[float] = []
    turn_model: list[float] = []
    turn_conv: list[int] = []
    conv_human: list[float] = []
    lengths: list[float] = []
    questions: list[float] = []
    pending: list[Any] = []

    def flush() -> None:
        if pending:
            scores = np.asarray(model.score_turns(pending), dtype=np.float64).reshape(-1)
            if scores.size != len(pending):
                from edge_eval.errors import ScoringError

                raise ScoringError(
                    f"the reward model returned {scores.size} scores for {len(pending)} turns"
                )
            turn_model.extend(float(s) for s in scores)
            pending.clear()
            if progress is not None:
                progress(len(turn_model))

    conversations = iter_conversations(Path(src), on_error=on_error, stats=stats)
    for row, conv in enumerate(conversations):
        if digests is not None:
            from edge_eval.privacy.ledger import digest_conversation

            digests.append(digest_conversation(conv))
        conv_human.append(
            float("nan") if conv.perceived_empathy is None else float(conv.perceived_empathy)
        )
        # turn_inputs yields one input per assistant turn with text, as assistant_turns lists them.
        for message, turn in zip(conv.assistant_turns, turn_inputs(conv), strict=True):
            turn_human.append(float("nan") if message.empathy is None else float(message.empathy))
            turn_conv.append(row)
            lengths.append(float(len(turn.response.split())))
            questions.append(float("?" in turn.response))
            pending.append(turn)
        if len(pending) >= batch_size:
            flush()
    flush()
    if dp is not None:
        import dataclasses

        from edge_eval.privacy.dp_validation import dp_validate_scores

        released, record = dp_validate_scores(
            turn_human=turn_human,
            turn_model=turn_model,
            turn_conv=turn_conv,
            conv_human=conv_human,
            config=dp,
            min_count=min_count,
        )
        unscored = sum(1 for h, m in zip(turn_human, turn_model, strict=True) if h == h and m != m)
        return dataclasses.replace(released, turns_unscored=unscored, privacy_record=record)
    return validate_scores(
        turn_human=turn_human,
        turn_model=turn_model,
        turn_conv=turn_conv,
        conv_human=conv_human,
        min_count=min_count,
        n_boot=n_boot,
        seed=seed,
        turn_features={"length_words": lengths, "question_mark": questions},
    )
