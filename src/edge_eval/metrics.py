"""Empathy-gap metrics (DESIGN.md §1): pure numpy on values, no I/O.

Definitions, for one group of conversations (a task cluster, or all published ones):

- ``d = (desired - 1) / 2`` and ``p = (perceived - 1) / 4``, both in [0, 1]; a conversation's
  perceived empathy is the mean of its assistant turns' scores ("turn-first").
- Signed gap ``g = d - p`` (positive: colder than wanted) and alignment error ``e = |g|``.
- Group figures: n conversations; mean d, p, g and e, each with a 95% Student-t interval
  ``mean ± t(0.975, n-1) · s / sqrt(n)`` (s the sample standard deviation over conversations,
  clipped to the value's range), computed from the sums n, Σx and Σx² alone so that partial
  results merge exactly (:mod:`edge_eval.partial`); ``share_under = mean(g > tolerance)`` and
  ``share_over = mean(g < -tolerance)``; the raw-scale means of desired (1-3) and perceived (1-5).
  Every mean is over conversations, so overall figures are weighted by conversations.
- Per-turn curve: at each assistant-turn index (1-based), the mean per-turn p and its n.
- Slope: the ordinary-least-squares slope of per-turn p on turn index, pooled over all
  (conversation, turn) points; ``None`` when fewer than two distinct indices are present.
- Retention: over conversations with T >= 3 assistant turns, the first third is a
  conversation's turns 1..ceil(T/3) and the last third its turns T-ceil(T/3)+1..T;
  retention = (mean p of all last-third turns) / (mean p of all first-third turns), both
  pooled over turns; ``None`` when no conversation has 3 turns or the first-third mean is 0.
- Against a baseline: gap reduction % = 100 (E_base - E_cand) / E_base with E the mean
  alignment error, and score factor = mean p_cand / mean p_base; ``None`` when the
  denominator is 0.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

import numpy as np

__all__ = [
    "CONFIDENCE",
    "DEFAULT_N_BOOT",
    "Estimate",
    "GapSummary",
    "TurnCell",
    "TurnSummary",
    "gap_reduction",
    "group_rng",
    "interval_from_sums",
    "normalise_desired",
    "normalise_perceived",
    "ols_slope",
    "retention",
    "score_factor",
    "student_t_quantile",
    "summarise_gap",
    "summarise_turns",
    "turn_curve",
]

DEFAULT_N_BOOT = 2000
CONFIDENCE = 0.95
_BOOT_CHUNK_ELEMENTS = 1 << 20  # resampled indices held in memory at once


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """A mean with its 95% interval.

    Attributes:
        mean: the sample mean.
        low: lower bound of the interval.
        high: upper bound of the interval.
    """

    mean: float
    low: float
    high: float


@dataclass(frozen=True, slots=True, kw_only=True)
class GapSummary:
    """Gap figures of one group of conversations (all means over conversations).

    Attributes:
        n: number of conversations.
        desired: normalised desired empathy d.
        perceived: normalised perceived empathy p.
        gap: signed gap g = d - p.
        error: alignment error e = |g|.
        desired_raw: mean desired empathy on its 1-3 scale.
        perceived_raw: mean perceived empathy on its 1-5 scale.
        share_under: share of conversations with g > tolerance (colder than wanted).
        share_over: share of conversations with g < -tolerance (warmer than wanted).
    """

    n: int
    desired: Estimate
    perceived: Estimate
    gap: Estimate
    error: Estimate
    desired_raw: float
    perceived_raw: float
    share_under: float
    share_over: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnCell:
    """Mean per-turn p of the turns at one assistant-turn index.

    Attributes:
        index: 1-based assistant-turn index.
        n: number of turns at that index (= conversations that reached it).
        perceived: mean normalised perceived empathy p of those turns.
    """

    index: int
    n: int
    perceived: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnSummary:
    """How perceived empathy holds over a conversation.

    Attributes:
        cells: the per-turn curve, by increasing index.
        slope: OLS slope of per-turn p on turn index (``None`` if undefined).
        retention: last-third / first-third mean p (``None`` if undefined).
    """

    cells: tuple[TurnCell, ...]
    slope: float | None
    retention: float | None


def normalise_desired(desired: np.ndarray) -> np.ndarray:
    """Desired empathy on 1-3 to d in [0, 1]."""
    return (np.asarray(desired, dtype=np.float64) - 1.0) / 2.0


def normalise_perceived(perceived: np.ndarray) -> np.ndarray:
    """Perceived empathy on 1-5 to p in [0, 1]."""
    return (np.asarray(perceived, dtype=np.float64) - 1.0) / 4.0


def group_rng(seed: int, key: str) -> np.random.Generator:
    """A generator seeded from ``(seed, key)``.

    The key is a group's name, so a cluster's intervals depend on the seed and on its own data
    only, not on the order or number of the other clusters.
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([seed, *words])


def _bootstrap_means(columns: np.ndarray, *, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Means of each column of ``columns`` (k, n) over ``n_boot`` bootstrap resamples.

    Conversations (the n axis) are resampled with replacement, the same resample for every
    column. Resamples are drawn in chunks so memory stays bounded; the draws do not depend on
    the chunk size. Returns an array (n_boot, k).
    """
    n = columns.shape[1]
    chunk = max(1, min(n_boot, _BOOT_CHUNK_ELEMENTS // max(n, 1)))
    index_type = np.int32 if n < 2**31 else np.int64
    means = np.empty((n_boot, columns.shape[0]), dtype=np.float64)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        rows = rng.integers(0, n, size=(stop - start, n), dtype=index_type)
        for k, column in enumerate(columns):
            means[start:stop, k] = np.take(column, rows).mean(axis=1)
    return means


def summarise_gap(
    d: np.ndarray,
    p: np.ndarray,
    *,
    tolerance: float,
    rng: np.random.Generator,
    n_boot: int = DEFAULT_N_BOOT,
) -> GapSummary:
    """Gap figures of a group from its conversations' normalised d and p (n >= 1)."""
    d = np.asarray(d, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if d.shape != p.shape or d.ndim != 1 or d.size == 0:
        raise ValueError("d and p must be non-empty 1-D arrays of the same length")
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    g = d - p
    e = np.abs(g)
    boot = _bootstrap_means(np.stack([d, p, e]), rng=rng, n_boot=n_boot)
    boot = np.stack([boot[:, 0], boot[:, 1], boot[:, 0] - boot[:, 1], boot[:, 2]], axis=1)
    tail = (1.0 - CONFIDENCE) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail], axis=0)
    means = (d.mean(), p.mean(), g.mean(), e.mean())
    d_est, p_est, g_est, e_est = (
        Estimate(mean=float(means[i]), low=float(low[i]), high=float(high[i])) for i in range(4)
    )
    return GapSummary(
        n=int(d.size),
        desired=d_est,
        perceived=p_est,
        gap=g_est,
        error=e_est,
        desired_raw=1.0 + 2.0 * d_est.mean,
        perceived_raw=1.0 + 4.0 * p_est.mean,
        share_under=float(np.mean(g > tolerance)),
        share_over=float(np.mean(g < -tolerance)),
    )


def turn_curve(turn_index: np.ndarray, turn_p: np.ndarray) -> tuple[TurnCell, ...]:
    """Mean per-turn p and n at each assistant-turn index present, by increasing index."""
    index = np.asarray(turn_index, dtype=np.int64)
    p = np.asarray(turn_p, dtype=np.float64)
    if index.size == 0:
        return ()
    counts = np.bincount(index)
    sums = np.bincount(index, weights=p)
    return tuple(
        TurnCell(index=int(i), n=int(counts[i]), perceived=float(sums[i] / counts[i]))
        for i in np.flatnonzero(counts)
    )


def ols_slope(x: np.ndarray, y: np.ndarray) -> float | None:
    """OLS slope of y on x: sum((x - x̄)(y - ȳ)) / sum((x - x̄)²); ``None`` if x is constant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 2:
        return None
    dx = x - x.mean()
    sxx = float(np.dot(dx, dx))
    if sxx == 0.0:
        return None
    return float(np.dot(dx, y - y.mean()) / sxx)


def retention(turn_conv: np.ndarray, turn_index: np.ndarray, turn_p: np.ndarray) -> float | None:
    """Last-third over first-third mean p, pooled over turns of conversations with T >= 3.

    A conversation's T is its largest turn index among the given turns (its turns are 1..T);
    first third: indices <= ceil(T/3); last third: indices > T - ceil(T/3).
    """
    conv = np.asarray(turn_conv, dtype=np.int64)
    index = np.asarray(turn_index, dtype=np.int64)
    p = np.asarray(turn_p, dtype=np.float64)
    if conv.size == 0:
        return None
    length = np.zeros(int(conv.max()) + 1, dtype=np.int64)
    np.maximum.at(length, conv, index)
    t = length[conv]
    third = -(-t // 3)  # ceil(T / 3)
    eligible = t >= 3
    first = eligible & (index <= third)
    last = eligible & (index > t - third)
    if not first.any():
        return None
    first_mean = float(p[first].mean())
    if first_mean == 0.0:
        return None
    return float(p[last].mean()) / first_mean


def summarise_turns(
    turn_conv: np.ndarray, turn_index: np.ndarray, turn_p: np.ndarray
) -> TurnSummary:
    """Curve, slope and retention of a set of (conversation, turn) points."""
    return TurnSummary(
        cells=turn_curve(turn_index, turn_p),
        slope=ols_slope(turn_index, turn_p),
        retention=retention(turn_conv, turn_index, turn_p),
    )


def gap_reduction(error_base: float, error_candidate: float) -> float | None:
    """100 (E_base - E_cand) / E_base; ``None`` when the baseline error is 0."""
    if error_base == 0.0:
        return None
    return 100.0 * (error_base - error_candidate) / error_base


def score_factor(perceived_base: float, perceived_candidate: float) -> float | None:
    """Mean p_cand / mean p_base; ``None`` when the baseline's mean p is 0."""
    if perceived_base == 0.0:
        return None
    return perceived_candidate / perceived_base


# --- intervals from sums (mergeable) --------------------------------------------------------------

_T_NORMAL_DF = 100_000  # above it the Cornish-Fisher expansion is exact to ~1e-13


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b) for x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _t_upper_tail(t: float, df: int) -> float:
    """P(T > t) for t >= 0 under Student's t with ``df`` degrees of freedom."""
    return 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))


def student_t_quantile(prob: float, df: int) -> float:
    """The ``prob`` quantile of Student's t distribution with ``df`` >= 1 degrees of freedom.

    Bisection on the CDF (regularised incomplete beta); above 100,000 degrees of freedom the
    Cornish-Fisher expansion around the normal quantile. Needs no scipy.
    """
    if df < 1:
        raise ValueError("Student's t needs at least one degree of freedom")
    if not 0.0 < prob < 1.0:
        raise ValueError("the probability must lie strictly between 0 and 1")
    if prob < 0.5:
        return -student_t_quantile(1.0 - prob, df)
    if prob == 0.5:
        return 0.0
    z = NormalDist().inv_cdf(prob)
    if df > _T_NORMAL_DF:
        v = float(df)
        z3, z5, z7 = z**3, z**5, z**7
        return (
            z
            + (z3 + z) / (4 * v)
            + (5 * z5 + 16 * z3 + 3 * z) / (96 * v**2)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v**3)
        )
    tail = 1.0 - prob
    lo, hi = z, max(2.0 * z, 1.0)
    while _t_upper_tail(hi, df) > tail:
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if _t_upper_tail(mid, df) > tail:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def interval_from_sums(
    n: int,
    total: Fraction | int,
    total_sq: Fraction | int,
    *,
    bounds: tuple[float, float],
    confidence: float = CONFIDENCE,
) -> Estimate:
    """Mean and Student-t interval of a sample known only by n, Σx and Σx².

    ``mean ± t((1 + confidence) / 2, n - 1) · s / sqrt(n)`` with s² = (Σx² - (Σx)²/n) / (n - 1),
    evaluated exactly in rationals and rounded once; the bounds are clipped to ``bounds`` (the
    range the value can take). One observation has no spread to estimate: its interval is the
    whole range. Exact sums in, the same figures out, whatever order the sums were merged in.
    """
    if n < 1:
        raise ValueError("an interval needs at least one observation")
    total = Fraction(total)
    total_sq = Fraction(total_sq)
    mean = total / n
    lo_bound, hi_bound = bounds
    if n == 1:
        return Estimate(mean=float(mean), low=lo_bound, high=hi_bound)
    var_of_mean = (total_sq - total * total / n) / (n * (n - 1))
    if var_of_mean < 0:  # impossible for exact sums of real data
        raise ValueError("the sums are inconsistent (negative variance)")
    half = student_t_quantile((1.0 + confidence) / 2.0, n - 1) * math.sqrt(var_of_mean)
    m = float(mean)
    return Estimate(mean=m, low=max(lo_bound, m - half), high=min(hi_bound, m + half))
