"""Build the aggregate report from a score table: metrics behind the privacy gate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_eval import metrics
from edge_eval.errors import ArtifactError, ConfigError, PrivacyViolation
from edge_eval.privacy.suppression import DEFAULT_MIN_COUNT, CellStatus, plan_suppression
from edge_eval.report.schema import (
    CLUSTER_NAME_PATTERN,
    MODEL_KIND_PATTERN,
    REPORT_KIND,
    SCHEMA_VERSION,
    ComparisonStatus,
    GroupStatus,
    validate_report_dict,
)
from edge_eval.scores import ScoreTable

__all__ = [
    "BaselineComparison",
    "Comparison",
    "GroupReport",
    "ReportParameters",
    "ScoreReport",
    "build_report",
]

_DECIMALS = 6
_OVERALL_KEY = "#overall"  # bootstrap stream of the overall group; no cluster name can match


def _r(x: float) -> float:
    return round(float(x), _DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _r_opt(x: float | None) -> float | None:
    return None if x is None else _r(x)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportParameters:
    """The parameters a report was computed with.

    Attributes:
        model_kind: label of the reward model kind that scored the turns.
        min_count: suppression threshold k (counts below it are withheld).
        tolerance: |gap| at or below it counts as aligned (normalised scale).
        n_boot: bootstrap resamples per interval.
        seed: bootstrap seed.
        confidence: interval level.
    """

    model_kind: str
    min_count: int
    tolerance: float
    n_boot: int
    seed: int
    confidence: float = metrics.CONFIDENCE

    def __post_init__(self) -> None:
        if MODEL_KIND_PATTERN.fullmatch(self.model_kind) is None:
            raise ConfigError(
                "the model kind label is not a valid label",
                hint="Use lower-case letters, digits, '.', '_' or '-' (at most 64 characters).",
            )
        if self.min_count < 1:
            raise ConfigError("min_count must be at least 1", hint="Pass --min-count 11 or more.")
        if not 0.0 <= self.tolerance <= 1.0:
            raise ConfigError("the gap tolerance must lie in [0, 1]")
        if self.n_boot < 1:
            raise ConfigError("n_boot must be at least 1")
        if self.seed < 0:
            raise ConfigError("the seed must be a non-negative integer")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_kind": self.model_kind,
            "min_count": int(self.min_count),
            "tolerance": float(self.tolerance),
            "n_boot": int(self.n_boot),
            "seed": int(self.seed),
            "confidence": float(self.confidence),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupReport:
    """What the report shows of a cluster (``name`` set) or of the overall group.

    Attributes:
        name: cluster name, ``None`` for the overall group.
        status: published, withheld or empty.
        gap: gap figures; present exactly when published.
        turns: per-turn curve, slope and retention over published turn cells; idem.
    """

    name: str | None
    status: GroupStatus
    gap: metrics.GapSummary | None = None
    turns: metrics.TurnSummary | None = None

    def __post_init__(self) -> None:
        published = self.status is GroupStatus.PUBLISHED
        if published != (self.gap is not None) or published != (self.turns is not None):
            raise PrivacyViolation("a group carries figures exactly when it is published")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.name is None else {"cluster": self.name}
        out["status"] = self.status.value
        if self.status is GroupStatus.EMPTY:
            out["n"] = 0
        if self.gap is None or self.turns is None:
            return out
        g = self.gap
        out.update(
            {
                "n": int(g.n),
                "desired": _estimate(g.desired),
                "perceived": _estimate(g.perceived),
                "gap": _estimate(g.gap),
                "error": _estimate(g.error),
                "desired_raw": _r(g.desired_raw),
                "perceived_raw": _r(g.perceived_raw),
                "share_under": _r(g.share_under),
                "share_over": _r(g.share_over),
                "turns": {
                    "cells": [
                        {"index": c.index, "n": c.n, "perceived": _r(c.perceived)}
                        for c in self.turns.cells
                    ],
                    "slope": _r_opt(self.turns.slope),
                    "retention": _r_opt(self.turns.retention),
                },
            }
        )
        return out


def _estimate(est: metrics.Estimate) -> dict[str, float]:
    return {"mean": _r(est.mean), "low": _r(est.low), "high": _r(est.high)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """A candidate group against the same group of a baseline report.

    Attributes:
        name: cluster name, ``None`` for the overall group.
        status: published when both sides are published, else unavailable.
        gap_reduction_pct: 100 (E_base - E_cand) / E_base (``None`` when E_base is 0).
        score_factor: mean p_cand / mean p_base (``None`` when p_base is 0).
        error_base, error_candidate: the two mean alignment errors E.
        perceived_base, perceived_candidate: the two mean normalised perceived empathies p.
    """

    name: str | None
    status: ComparisonStatus
    gap_reduction_pct: float | None = None
    score_factor: float | None = None
    error_base: float | None = None
    error_candidate: float | None = None
    perceived_base: float | None = None
    perceived_candidate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.name is None else {"cluster": self.name}
        out["status"] = self.status.value
        if self.status is ComparisonStatus.PUBLISHED:
            out.update(
                {
                    "gap_reduction_pct": _r_opt(self.gap_reduction_pct),
                    "score_factor": _r_opt(self.score_factor),
                    "error_base": _r_opt(self.error_base),
                    "error_candidate": _r_opt(self.error_candidate),
                    "perceived_base": _r_opt(self.perceived_base),
                    "perceived_candidate": _r_opt(self.perceived_candidate),
                }
            )
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineComparison:
    """The report against a baseline report.

    Attributes:
        model_kind: the baseline's reward model kind label.
        overall: overall comparison.
        clusters: one comparison per cluster of the candidate, in its order.
    """

    model_kind: str
    overall: Comparison
    clusters: tuple[Comparison, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_kind": self.model_kind,
            "overall": self.overall.to_dict(),
            "clusters": [c.to_dict() for c in self.clusters],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreReport:
    """The aggregate result of scoring: the only thing that may leave the machine.

    Attributes:
        parameters: privacy and metric parameters.
        clusters: one group per profile cluster, in profile order.
        overall: the overall group, pooled over the published clusters.
        baseline: comparison against a baseline report, if one was given.
    """

    parameters: ReportParameters
    clusters: tuple[GroupReport, ...]
    overall: GroupReport
    baseline: BaselineComparison | None = None

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON dict (allowlisted fields only)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": REPORT_KIND,
            "parameters": self.parameters.to_dict(),
            "clusters": [c.to_dict() for c in self.clusters],
            "overall": self.overall.to_dict(),
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
        }


def _compare(name: str | None, cand: dict[str, Any], base: dict[str, Any] | None) -> Comparison:
    published = GroupStatus.PUBLISHED.value
    if base is None or cand["status"] != published or base["status"] != published:
        return Comparison(name=name, status=ComparisonStatus.UNAVAILABLE)
    e_base, e_cand = base["error"]["mean"], cand["error"]["mean"]
    p_base, p_cand = base["perceived"]["mean"], cand["perceived"]["mean"]
    return Comparison(
        name=name,
        status=ComparisonStatus.PUBLISHED,
        gap_reduction_pct=metrics.gap_reduction(e_base, e_cand),
        score_factor=metrics.score_factor(p_base, p_cand),
        error_base=e_base,
        error_candidate=e_cand,
        perceived_base=p_base,
        perceived_candidate=p_cand,
    )


def _compare_reports(candidate: dict[str, Any], baseline: dict[str, Any]) -> BaselineComparison:
    try:
        validate_report_dict(baseline)
    except PrivacyViolation as exc:
        raise ArtifactError(
            f"the baseline is not a valid edge-eval report ({exc.message})",
            hint="Pass the report.json written by an earlier `edge-eval score` run.",
        ) from exc
    base_by_name = {c["cluster"]: c for c in baseline["clusters"]}
    return BaselineComparison(
        model_kind=baseline["parameters"]["model_kind"],
        overall=_compare(None, candidate["overall"], baseline["overall"]),
        clusters=tuple(
            _compare(c["cluster"], c, base_by_name.get(c["cluster"])) for c in candidate["clusters"]
        ),
    )


def _group(
    name: str | None,
    status: GroupStatus,
    table: ScoreTable,
    conv_mask: np.ndarray,
    turn_mask: np.ndarray,
    *,
    tolerance: float,
    seed: int,
    n_boot: int,
) -> GroupReport:
    if status is not GroupStatus.PUBLISHED:
        return GroupReport(name=name, status=status)
    d = metrics.normalise_desired(table.conv_desired[conv_mask])
    p = metrics.normalise_perceived(table.conv_perceived[conv_mask])
    rng = metrics.group_rng(seed, _OVERALL_KEY if name is None else name)
    return GroupReport(
        name=name,
        status=status,
        gap=metrics.summarise_gap(d, p, tolerance=tolerance, rng=rng, n_boot=n_boot),
        turns=metrics.summarise_turns(
            table.turn_conv[turn_mask],
            table.turn_index[turn_mask],
            metrics.normalise_perceived(table.turn_score[turn_mask]),
        ),
    )


def _check_table(table: ScoreTable, clusters: tuple[str, ...]) -> None:
    if len(set(clusters)) != len(clusters):
        raise ConfigError("the profile lists a cluster name twice")
    for name in clusters:
        if CLUSTER_NAME_PATTERN.fullmatch(name) is None:
            raise ConfigError(
                "a profile cluster name is not a valid report label",
                hint="Cluster names use lower-case letters, digits and '_' (at most 64 "
                "characters) and start with a letter.",
            )
    if tuple(table.clusters) != tuple(clusters):
        raise ConfigError(
            "the score table's clusters differ from the profile's clusters",
            hint="Build the score table with the same profile that is passed to build_report.",
        )
    values = (
        (table.conv_desired, 1.0, 3.0, "desired empathy"),
        (table.conv_perceived, 1.0, 5.0, "perceived empathy"),
        (table.turn_score, 1.0, 5.0, "turn score"),
    )
    for array, lo, hi, what in values:
        if array.size and not (
            np.all(np.isfinite(array)) and lo <= array.min() <= array.max() <= hi
        ):
            raise ConfigError(f"a {what} in the score table lies outside [{lo:g}, {hi:g}]")


def build_report(
    table: ScoreTable,
    *,
    clusters: tuple[str, ...],
    tolerance: float,
    model_kind: str,
    min_count: int = DEFAULT_MIN_COUNT,
    seed: int = 0,
    n_boot: int = metrics.DEFAULT_N_BOOT,
    baseline: dict[str, Any] | None = None,
) -> ScoreReport:
    """Aggregate a score table into a report, behind the privacy gate.

    Args:
        table: the scores (stays in memory).
        clusters: the profile's cluster names, in profile order (the table's must match).
        tolerance: |gap| at or below it counts as aligned (the profile's ``[metrics]``).
        model_kind: label of the reward model kind, e.g. ``"minilm-onnx-int8"``.
        min_count: suppression threshold k; clusters and turn cells below it are withheld.
        seed: bootstrap seed.
        n_boot: bootstrap resamples per interval.
        baseline: a validated report dict (see :func:`edge_eval.report.load_report`) to
            compare against.

    The result is validated against the schema and the suppression rules before it is
    returned; see :mod:`edge_eval.privacy.suppression` for the policy.
    """
    if not math.isfinite(tolerance):
        raise ConfigError("the gap tolerance must be a finite number")
    params = ReportParameters(
        model_kind=model_kind, min_count=min_count, tolerance=tolerance, n_boot=n_boot, seed=seed
    )
    _check_table(table, clusters)
    plan = plan_suppression(table, min_count=min_count)
    turn_cluster = table.conv_cluster[table.turn_conv]

    def group(
        name: str | None, status: GroupStatus, conv_mask: np.ndarray, turn_mask: np.ndarray
    ) -> GroupReport:
        return _group(
            name,
            status,
            table,
            conv_mask,
            turn_mask,
            tolerance=tolerance,
            seed=seed,
            n_boot=n_boot,
        )

    groups = tuple(
        group(
            name,
            GroupStatus(plan.cluster_status[i].value),
            plan.conv_published & (table.conv_cluster == i),
            plan.turn_published & (turn_cluster == i),
        )
        for i, name in enumerate(clusters)
    )
    statuses = set(plan.cluster_status)
    if CellStatus.PUBLISHED in statuses:
        overall_status = GroupStatus.PUBLISHED
    elif CellStatus.WITHHELD in statuses:
        overall_status = GroupStatus.WITHHELD
    else:
        overall_status = GroupStatus.EMPTY
    overall = group(None, overall_status, plan.conv_published, plan.turn_published)
    report = ScoreReport(parameters=params, clusters=groups, overall=overall)
    if baseline is not None:
        comparison = _compare_reports(report.to_dict(), baseline)
        report = ScoreReport(
            parameters=params, clusters=groups, overall=overall, baseline=comparison
        )
    validate_report_dict(report.to_dict())
    return report
