"""Differential privacy for the published figures, through OpenDP's mechanisms.

**Privacy unit: one conversation** (add or remove one conversation; DESIGN.md §4). Every figure
a report publishes is a function of these per-cluster sums, each over the conversations of one
cluster, with every value clamped to [0, 1] before it is added:

    n             conversations                          (each adds 1)
    sum_d         normalised desired empathy d           (each adds d ∈ [0, 1])
    sum_p         normalised perceived empathy p         (each adds p ∈ [0, 1])
    sum_e         alignment error e = |d - p|            (each adds e ∈ [0, 1])
    n_under       conversations with g > tolerance       (each adds 0 or 1)
    n_over        conversations with g < -tolerance      (each adds 0 or 1)
    cell_n[i]     conversations that reached turn i      (i = 1..max_turns; each adds 0 or 1)
    cell_p[i]     sum of the per-turn p at turn i        (each adds p_i ∈ [0, 1])

A conversation belongs to one cluster, so adding it changes one cluster's entry of each vector
by at most 1: each of the six conversation-level vectors has L1 and L2 sensitivity 1; the two
turn-cell vectors have L1 sensitivity ``max_turns`` and L2 sensitivity √max_turns (one entry per
turn index). Each vector gets its own OpenDP measurement (``make_laplace`` on an L1 metric for
pure ε-DP, ``make_gaussian`` on an L2 metric under zCDP when ``delta`` > 0), with the noise
scale calibrated by OpenDP's ``binary_search_param`` to its share of the budget
(:data:`DEFAULT_SPLIT`). Shares add up (sequential composition): pure ε adds; under zCDP the ρ
add and the total is converted to (ε, δ) by OpenDP's ``make_zCDP_to_approxDP`` /
``make_fix_delta``. Noise is drawn by OpenDP (not seedable, never recorded).

Everything else is post-processing of these releases and public parameters, so it costs no
further budget:

- a cluster is published when its noisy n (rounded) reaches k; a turn cell when its noisy count
  does (so the suppression decision itself is private);
- means = noisy sum / noisy n, clipped to their range; gap = mean d - mean p; shares = noisy
  counts / noisy n; raw-scale means from the normalised ones;
- intervals: normal 95% intervals whose variance is a bound on the sampling variance of a
  mean of values in [0, 1] with that mean (m (1 - m) / n) plus the known variance of the noise
  (the bootstrap reads individual conversations and is not used under DP);
- the turn curve's slope: least squares over the published cells weighted by their counts
  (the pooled slope of the exact report equals exactly this weighted fit); retention needs
  each conversation's thirds and is withheld (``null``);
- overall figures pool the published clusters' noisy figures.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_eval.errors import ConfigError, MissingDependencyError

__all__ = [
    "DEFAULT_MAX_TURNS",
    "DEFAULT_SPLIT",
    "ClusterSums",
    "DPConfig",
    "DPRelease",
    "NoisyCluster",
    "release_dp",
    "release_values",
    "require_opendp",
]

DEFAULT_MAX_TURNS = 10
#: The share of the budget each released vector gets (sums to 1).
DEFAULT_SPLIT: Mapping[str, float] = {
    "n": 0.2,
    "sum_d": 0.1,
    "sum_p": 0.2,
    "sum_e": 0.2,
    "n_under": 0.05,
    "n_over": 0.05,
    "cell_n": 0.1,
    "cell_p": 0.1,
}
_CELL_KEYS = ("cell_n", "cell_p")


def require_opendp() -> Any:
    """``opendp.prelude`` with its contrib features on, or a MissingDependencyError."""
    try:
        import opendp.prelude as dp
    except ImportError as exc:
        raise MissingDependencyError("opendp", "privacy") from exc
    dp.enable_features("contrib")
    return dp


@dataclass(frozen=True, slots=True, kw_only=True)
class DPConfig:
    """Options of a differentially private release.

    Attributes:
        epsilon: the run's ε (> 0).
        delta: the run's δ; 0 means pure ε-DP (Laplace), > 0 zCDP with Gaussian noise.
        max_turns: turn-index cells 1..max_turns are released (bounds a conversation's
            contribution to the curve).
        split: share of the budget per released vector; keys of :data:`DEFAULT_SPLIT`.
    """

    epsilon: float
    delta: float = 0.0
    max_turns: int = DEFAULT_MAX_TURNS
    split: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPLIT))

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise ConfigError("--epsilon must be a positive number")
        if not (math.isfinite(self.delta) and 0.0 <= self.delta < 1e-3):
            raise ConfigError(
                "--delta must lie in [0, 0.001)",
                hint="δ should be far below 1/n; 1e-6 or smaller is usual.",
            )
        if not 1 <= self.max_turns <= 1000:
            raise ConfigError("the DP turn limit must lie in 1..1000")
        if set(self.split) != set(DEFAULT_SPLIT) or any(
            not (math.isfinite(v) and v > 0) for v in self.split.values()
        ):
            raise ConfigError(f"the DP split needs a positive share for {', '.join(DEFAULT_SPLIT)}")
        if abs(sum(self.split.values()) - 1.0) > 1e-9:
            raise ConfigError("the DP split's shares must add up to 1")

    @property
    def mechanism(self) -> str:
        return "gaussian-zcdp" if self.delta > 0 else "laplace"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSums:
    """Exact sums of one cluster (see the module docstring); local, never written.

    Attributes:
        n, sum_d, sum_p, sum_e, n_under, n_over: conversation-level sums.
        cell_n, cell_p: per turn index 1..max_turns (arrays of length max_turns).
    """

    n: float
    sum_d: float
    sum_p: float
    sum_e: float
    n_under: float
    n_over: float
    cell_n: np.ndarray
    cell_p: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class NoisyCluster:
    """One cluster's noisy sums and the noise variance of each (public: they are DP outputs)."""

    values: Mapping[str, np.ndarray | float]
    noise_var: Mapping[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class DPRelease:
    """The noisy sums of every cluster and what they cost.

    Attributes:
        clusters: noisy sums per cluster, in the order given.
        accounting: what the manifest records (mechanism, ε, δ, split, per vector its
            sensitivity, scale and loss); never the noise or a noisy value.
    """

    clusters: tuple[NoisyCluster, ...]
    accounting: Mapping[str, Any]


def _sensitivities(max_turns: int, *, l2: bool) -> dict[str, float]:
    cell = math.sqrt(max_turns) if l2 else float(max_turns)
    return {key: (cell if key in _CELL_KEYS else 1.0) for key in DEFAULT_SPLIT}


@functools.lru_cache(maxsize=64)
def _total_rho(epsilon: float, delta: float) -> float:
    """The largest ρ (zCDP) whose conversion to approximate DP stays within (ε, δ)."""
    dp = require_opendp()
    space = (dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float))

    def make(scale: float) -> Any:
        return dp.c.make_fix_delta(
            dp.c.make_zCDP_to_approxDP(dp.m.make_gaussian(*space, scale)), delta
        )

    scale = dp.binary_search_param(make, d_in=1.0, d_out=(epsilon, delta))
    return float(dp.m.make_gaussian(*space, scale).map(1.0))


def release_dp(sums: Sequence[ClusterSums], config: DPConfig) -> DPRelease:
    """Release every cluster's sums through OpenDP, one measurement per vector.

    This is the single place where noise is added; call it once per report, on exact sums
    (e.g. merged partial results), then derive every published figure from its output.
    """
    require_opendp()
    gaussian = config.delta > 0
    sens = _sensitivities(config.max_turns, l2=gaussian)
    n_clusters = len(sums)
    rho_total = _total_rho(config.epsilon, config.delta) if gaussian else None
    vectors: dict[str, np.ndarray] = {
        key: np.array([float(getattr(s, key)) for s in sums], dtype=np.float64)
        for key in DEFAULT_SPLIT
        if key not in _CELL_KEYS
    }
    for key in _CELL_KEYS:
        vectors[key] = (
            np.concatenate([np.asarray(getattr(s, key), dtype=np.float64) for s in sums])
            if n_clusters
            else np.zeros(0)
        )
    noisy: dict[str, np.ndarray] = {}
    noise_var: dict[str, float] = {}
    per_vector: dict[str, dict[str, float]] = {}
    spent_pure = 0.0
    spent_rho = 0.0
    for key, share in config.split.items():
        target = share * (rho_total if rho_total is not None else config.epsilon)
        scale, measurement, loss = _calibrated(gaussian, sens[key], target)
        exact = vectors[key]
        noisy[key] = (
            np.asarray(measurement(exact.tolist()), dtype=np.float64) if exact.size else exact
        )
        noise_var[key] = scale**2 if gaussian else 2.0 * scale**2
        per_vector[key] = {"share": share, "sensitivity": sens[key], "scale": scale, "loss": loss}
        if gaussian:
            spent_rho += loss
        else:
            spent_pure += loss
    epsilon_spent = _epsilon_of_rho(spent_rho, config.delta) if gaussian else spent_pure
    clusters = []
    for c in range(n_clusters):
        values: dict[str, np.ndarray | float] = {
            key: float(noisy[key][c]) for key in DEFAULT_SPLIT if key not in _CELL_KEYS
        }
        for key in _CELL_KEYS:
            values[key] = noisy[key][c * config.max_turns : (c + 1) * config.max_turns]
        clusters.append(NoisyCluster(values=values, noise_var=dict(noise_var)))
    accounting = {
        "library": "opendp",
        "mechanism": config.mechanism,
        "privacy_unit": "one conversation (added or removed)",
        "epsilon": float(config.epsilon),
        "delta": float(config.delta),
        "epsilon_spent": epsilon_spent,
        "loss_measure": "zero-concentrated (rho)" if gaussian else "pure epsilon",
        "rho_total": rho_total,
        "max_turns": config.max_turns,
        "clamp": [0.0, 1.0],
        "composition": "sequential over the released vectors; parallel over clusters",
        "released": per_vector,
        "intervals": "post-processing: sampling-variance bound m(1-m)/n plus the noise variance",
        "shares": "post-processing: noisy counts under/over divided by the noisy n",
        "retention": "withheld (needs per-conversation thirds)",
    }
    return DPRelease(clusters=tuple(clusters), accounting=accounting)


@functools.lru_cache(maxsize=256)
def _calibrated(gaussian: bool, sensitivity: float, target: float) -> tuple[float, Any, float]:
    """The smallest noise scale whose OpenDP privacy map at ``sensitivity`` stays within
    ``target`` (ρ for Gaussian, ε for Laplace): (scale, measurement, its loss). Cached: the
    search is deterministic, and the measurement draws fresh noise on every call."""
    dp = require_opendp()
    domain = dp.vector_domain(dp.atom_domain(T=float, nan=False))
    if gaussian:
        metric = dp.l2_distance(T=float)

        def make(scale: float) -> Any:
            return dp.m.make_gaussian(domain, metric, scale)

    else:
        metric = dp.l1_distance(T=float)

        def make(scale: float) -> Any:
            return dp.m.make_laplace(domain, metric, scale)

    scale = float(dp.binary_search_param(make, d_in=sensitivity, d_out=target))
    measurement = make(scale)
    return scale, measurement, float(measurement.map(sensitivity))


def _epsilon_of_rho(rho: float, delta: float) -> float:
    """ε at ``delta`` of a total ρ, by OpenDP's conversion (through a unit-sensitivity Gaussian)."""
    dp = require_opendp()
    scale = 1.0 / math.sqrt(2.0 * rho)
    space = (dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float))
    converted = dp.c.make_fix_delta(
        dp.c.make_zCDP_to_approxDP(dp.m.make_gaussian(*space, scale)), delta
    )
    return float(converted.map(1.0)[0])


def release_values(
    values: Mapping[str, tuple[float, float, float]], config: DPConfig
) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """Release named scalar sums through OpenDP, each with its own share of the budget.

    ``values`` maps a name to ``(exact sum, sensitivity, share)``: the sensitivity is the most
    one conversation can change that sum (L1 for Laplace, L2 for Gaussian, which coincide for a
    scalar); the shares add up to 1. Returns the noisy values, the noise variance of each, and
    the accounting for the manifest (never the noise). Used by ``validate --epsilon``.
    """
    require_opendp()
    if abs(sum(share for _, _, share in values.values()) - 1.0) > 1e-9:
        raise ConfigError("the DP shares must add up to 1")
    gaussian = config.delta > 0
    rho_total = _total_rho(config.epsilon, config.delta) if gaussian else None
    noisy: dict[str, float] = {}
    variance: dict[str, float] = {}
    released: dict[str, dict[str, float]] = {}
    spent = 0.0
    for name, (exact, sensitivity, share) in values.items():
        target = share * (rho_total if rho_total is not None else config.epsilon)
        scale, measurement, loss = _calibrated(gaussian, float(sensitivity), target)
        noisy[name] = float(measurement([float(exact)])[0])
        variance[name] = scale**2 if gaussian else 2.0 * scale**2
        released[name] = {"share": share, "sensitivity": sensitivity, "scale": scale, "loss": loss}
        spent += loss
    accounting = {
        "library": "opendp",
        "mechanism": config.mechanism,
        "privacy_unit": "one conversation (added or removed)",
        "epsilon": float(config.epsilon),
        "delta": float(config.delta),
        "epsilon_spent": _epsilon_of_rho(spent, config.delta) if gaussian else spent,
        "released": released,
    }
    return noisy, variance, accounting
