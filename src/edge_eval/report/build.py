"""Build the aggregate report: merged partial sums in, metrics behind the privacy gate out.

:func:`finalize_report` is the one place a report is made: from a :class:`ScorePartial` (one
machine's, or the exact merge of many shards' or devices'), it applies the privacy gate (and DP,
when it is on) exactly once and derives every figure from the sums. :func:`build_report` is
``finalize_report(partial_from_table(table))`` for a score table held in memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from edge_eval import metrics
from edge_eval.errors import ArtifactError, ConfigError, PrivacyViolation
from edge_eval.partial import PartialHeader, ScorePartial, partial_from_table
from edge_eval.privacy.settings import PrivacySettings
from edge_eval.privacy.suppression import DEFAULT_MIN_COUNT, CellStatus, cell_status
from edge_eval.report.schema import (
    CLUSTER_NAME_PATTERN,
    INTERVAL_METHODS,
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
    "finalize_report",
]

_DECIMALS = 6
INTERVAL_METHOD = "student_t"  # mean ± t(n-1) s / sqrt(n), from merged sums (edge_eval.metrics)


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
        interval: the interval method's label (``student_t``: computable from merged sums;
            ``dp_normal`` under differential privacy, see :mod:`edge_eval.report.dp`).
        confidence: interval level.
        differential_privacy: ``None`` (exact figures, not DP-protected) or the release's
            ``{epsilon, delta, mechanism}``.
        scorer_validity: the scorer's measured agreement with people, from its bundle
            (:func:`edge_eval.reward.bundle.scorer_validity`): allowlisted labels and numbers.
    """

    model_kind: str
    min_count: int
    tolerance: float
    interval: str = INTERVAL_METHOD
    confidence: float = metrics.CONFIDENCE
    differential_privacy: Mapping[str, Any] | None = None
    scorer_validity: tuple[Mapping[str, Any], ...] = ()

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
        if self.interval not in INTERVAL_METHODS:
            raise ConfigError(f"the interval method must be one of {', '.join(INTERVAL_METHODS)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_kind": self.model_kind,
            "min_count": int(self.min_count),
            "tolerance": float(self.tolerance),
            "interval": self.interval,
            "confidence": float(self.confidence),
            "differential_privacy": (
                None
                if self.differential_privacy is None
                else {
                    "epsilon": float(self.differential_privacy["epsilon"]),
                    "delta": float(self.differential_privacy["delta"]),
                    "mechanism": str(self.differential_privacy["mechanism"]),
                }
            ),
            **(
                {"scorer_validity": [dict(v) for v in self.scorer_validity]}
                if self.scorer_validity
                else {}
            ),
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
        privacy_record: under DP, what the release spent (for the manifest; never written
            into the report, never the noise).
    """

    parameters: ReportParameters
    clusters: tuple[GroupReport, ...]
    overall: GroupReport
    baseline: BaselineComparison | None = None
    privacy_record: Mapping[str, Any] | None = None

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


@dataclass(slots=True)
class _Sums:
    """Sums of one group behind the gate (a published cluster, or the pool of them)."""

    gap: list[int] = field(default_factory=lambda: [0] * 10)
    cells: dict[int, tuple[int, int]] = field(default_factory=dict)  # index -> (n, Σp)
    retention: list[int] = field(default_factory=lambda: [0] * 4)  # first Σ, n, last Σ, n

    def add(self, other: _Sums) -> None:
        self.gap = [a + b for a, b in zip(self.gap, other.gap, strict=True)]
        for i, (n, sp) in other.cells.items():
            n0, sp0 = self.cells.get(i, (0, 0))
            self.cells[i] = (n0 + n, sp0 + sp)
        self.retention = [a + b for a, b in zip(self.retention, other.retention, strict=True)]


def _published_prefix(cell_n: list[int], min_count: int) -> int:
    """How many leading turn cells hold at least k turns (cell counts never grow with the index:
    every conversation that reached turn i reached turn i - 1, so published cells are a prefix)."""
    m = 0
    while m < len(cell_n) and cell_n[m] >= min_count:
        m += 1
    if any(n >= min_count for n in cell_n[m:]):
        raise PrivacyViolation("turn cell counts grow with the turn index: the sums are corrupt")
    return m


def _cluster_sums(partial: ScorePartial, c: int, min_count: int) -> _Sums:
    cell_n = [int(v) for v in partial.cell_n[c]]
    cell_p = [int(v) for v in partial.cell_p[c]]
    width = len(cell_n)
    m = _published_prefix(cell_n, min_count)
    sums = _Sums(gap=[int(v) for v in partial.groups[c]])
    sums.cells = {i + 1: (cell_n[i], cell_p[i]) for i in range(m)}
    # retention over the conversations cut to the published cells 1..m (see edge_eval.partial)
    first = last = count = 0
    for t in range(3, m + 1):
        n_t = cell_n[t - 1] - (cell_n[t] if t < width else 0)  # conversations of length t
        first += int(partial.exact_first[c, t - 1])
        last += int(partial.exact_last[c, t - 1])
        count += n_t * -(-t // 3)
    if m >= 3 and m < width:
        longer = cell_n[m]  # conversations with more than m turns, cut at m
        first += int(partial.cut_first[c, m - 1])
        last += int(partial.cut_last[c, m - 1])
        count += longer * -(-m // 3)
    sums.retention = [first, count, last, count]
    return sums


def _figures(name: str | None, sums: _Sums, fixed_point_bits: int) -> GroupReport:
    one = 1 << fixed_point_bits
    n, under, over, sd, sd2, sp, sp2, sdp, se, se2 = sums.gap
    sg, sg2 = sd - sp, sd2 - 2 * sdp + sp2

    def est(total: int, total_sq: int, bounds: tuple[float, float]) -> metrics.Estimate:
        return metrics.interval_from_sums(
            n, Fraction(total, one), Fraction(total_sq, one * one), bounds=bounds
        )

    d_est, p_est = est(sd, sd2, (0.0, 1.0)), est(sp, sp2, (0.0, 1.0))
    gap = metrics.GapSummary(
        n=n,
        desired=d_est,
        perceived=p_est,
        gap=est(sg, sg2, (-1.0, 1.0)),
        error=est(se, se2, (0.0, 1.0)),
        desired_raw=1.0 + 2.0 * d_est.mean,
        perceived_raw=1.0 + 4.0 * p_est.mean,
        share_under=under / n,
        share_over=over / n,
    )
    cells = tuple(
        metrics.TurnCell(index=i, n=cn, perceived=float(Fraction(cp, cn * one)))
        for i, (cn, cp) in sorted(sums.cells.items())
    )
    # OLS slope of p on the index over every published (conversation, turn) point
    big_n = sum(cn for cn, _ in sums.cells.values())
    sx = sum(i * cn for i, (cn, _) in sums.cells.items())
    sxx = sum(i * i * cn for i, (cn, _) in sums.cells.items())
    sy = sum(cp for _, cp in sums.cells.values())
    sxy = sum(i * cp for i, (_, cp) in sums.cells.items())
    denominator = big_n * sxx - sx * sx
    slope = (
        None
        if big_n < 2 or denominator == 0
        else float(Fraction(big_n * sxy - sx * sy, denominator * one))
    )
    first, n_first, last, n_last = sums.retention
    retention = (
        None if n_first == 0 or first == 0 else float(Fraction(last * n_first, n_last * first))
    )
    return GroupReport(
        name=name,
        status=GroupStatus.PUBLISHED,
        gap=gap,
        turns=metrics.TurnSummary(cells=cells, slope=slope, retention=retention),
    )


def _released(partial: ScorePartial, privacy: PrivacySettings) -> ScorePartial:
    """The sums the report may be computed from. Differential privacy hooks in here: noise the
    merged sums once (with a DP library's integer mechanisms), before the gate reads counts."""
    del privacy
    return partial


def finalize_report(
    partial: ScorePartial,
    *,
    model_kind: str,
    privacy: PrivacySettings | None = None,
    baseline: dict[str, Any] | None = None,
    scorer_validity: tuple[Mapping[str, Any], ...] = (),
) -> ScoreReport:
    """Make the report from merged partial sums: the privacy gate, once, then every figure.

    Args:
        partial: the sums of every conversation (one machine's, or the merge of many).
        model_kind: label of the reward model kind, e.g. ``"minilm-onnx-int8"``.
        privacy: the gate's settings (k, and DP when on); the default is k = 11, no DP.
        baseline: a validated report dict (see :func:`edge_eval.report.load_report`) to
            compare against.
        scorer_validity: the scorer's agreement with people, shown with the figures.

    The gate (:mod:`edge_eval.privacy.suppression`): a cluster with fewer than k conversations
    is withheld, a turn cell with fewer than k turns is left out, and pooled figures use
    published cells only. The result is validated against the schema before it is returned.
    """
    privacy = privacy or PrivacySettings()
    header = partial.header
    _check_labels(header)
    min_count = privacy.min_count
    if privacy.differential_privacy is not None:
        return _finalize_dp(
            partial,
            model_kind=model_kind,
            privacy=privacy,
            baseline=baseline,
            scorer_validity=scorer_validity,
        )
    params = ReportParameters(
        model_kind=model_kind,
        min_count=min_count,
        tolerance=header.tolerance,
        scorer_validity=scorer_validity,
    )
    released = _released(partial, privacy)
    groups: list[GroupReport] = []
    pooled = _Sums()
    statuses: set[CellStatus] = set()
    for c, name in enumerate(header.clusters):
        status = cell_status(int(released.groups[c, 0]), min_count)
        statuses.add(status)
        if status is not CellStatus.PUBLISHED:
            groups.append(GroupReport(name=name, status=GroupStatus(status.value)))
            continue
        sums = _cluster_sums(released, c, min_count)
        pooled.add(sums)
        groups.append(_figures(name, sums, header.fixed_point_bits))
    if CellStatus.PUBLISHED in statuses:
        overall = _figures(None, pooled, header.fixed_point_bits)
    elif CellStatus.WITHHELD in statuses:
        overall = GroupReport(name=None, status=GroupStatus.WITHHELD)
    else:
        overall = GroupReport(name=None, status=GroupStatus.EMPTY)
    report = ScoreReport(parameters=params, clusters=tuple(groups), overall=overall)
    if baseline is not None:
        comparison = _compare_reports(report.to_dict(), baseline)
        report = ScoreReport(
            parameters=params, clusters=tuple(groups), overall=overall, baseline=comparison
        )
    validate_report_dict(report.to_dict())
    return report


def _finalize_dp(
    partial: ScorePartial,
    *,
    model_kind: str,
    privacy: PrivacySettings,
    baseline: dict[str, Any] | None,
    scorer_validity: tuple[Mapping[str, Any], ...] = (),
) -> ScoreReport:
    """The DP branch of the gate: one OpenDP release of the merged sums, then post-processing."""
    from edge_eval.report.dp import cluster_sums_from_partial, dp_groups

    config = privacy.differential_privacy
    assert config is not None
    out = dp_groups(
        cluster_sums_from_partial(partial, max_turns=config.max_turns),
        partial.header.clusters,
        min_count=privacy.min_count,
        config=config,
    )
    params = ReportParameters(
        model_kind=model_kind,
        min_count=privacy.min_count,
        tolerance=partial.header.tolerance,
        interval="dp_normal",
        scorer_validity=scorer_validity,
        differential_privacy={
            "epsilon": config.epsilon,
            "delta": config.delta,
            "mechanism": config.mechanism,
        },
    )
    report = ScoreReport(
        parameters=params,
        clusters=out.clusters,
        overall=out.overall,
        privacy_record=out.accounting,
    )
    if baseline is not None:
        report = ScoreReport(
            parameters=params,
            clusters=out.clusters,
            overall=out.overall,
            baseline=_compare_reports(report.to_dict(), baseline),
            privacy_record=out.accounting,
        )
    validate_report_dict(report.to_dict())
    return report


def _check_labels(header: PartialHeader) -> None:
    for name in header.clusters:
        if CLUSTER_NAME_PATTERN.fullmatch(name) is None:
            raise ConfigError(
                "a profile cluster name is not a valid report label",
                hint="Cluster names use lower-case letters, digits and '_' (at most 64 "
                "characters) and start with a letter.",
            )


def build_report(
    table: ScoreTable,
    *,
    clusters: tuple[str, ...],
    tolerance: float,
    model_kind: str,
    min_count: int = DEFAULT_MIN_COUNT,
    baseline: dict[str, Any] | None = None,
    scorer_validity: tuple[Mapping[str, Any], ...] = (),
) -> ScoreReport:
    """Aggregate a score table into a report, behind the privacy gate.

    ``finalize_report(partial_from_table(table))``: the same code path as a merged run.

    Args:
        table: the scores (stays in memory).
        clusters: the profile's cluster names, in profile order (the table's must match).
        tolerance: |gap| at or below it counts as aligned (the profile's ``[metrics]``).
        model_kind: label of the reward model kind, e.g. ``"minilm-onnx-int8"``.
        min_count: suppression threshold k; clusters and turn cells below it are withheld.
        baseline: a validated report dict to compare against.
        scorer_validity: the scorer's agreement with people, shown with the figures.
    """
    if not math.isfinite(tolerance):
        raise ConfigError("the gap tolerance must be a finite number")
    if not 0.0 <= tolerance <= 1.0:
        raise ConfigError("the gap tolerance must lie in [0, 1]")
    # label checks first: they name the problem better than a header mismatch would
    ReportParameters(model_kind=model_kind, min_count=min_count, tolerance=tolerance)
    header = PartialHeader(clusters=tuple(clusters), tolerance=tolerance)
    _check_labels(header)
    partial = partial_from_table(table, header)
    return finalize_report(
        partial,
        model_kind=model_kind,
        privacy=PrivacySettings(min_count=min_count),
        baseline=baseline,
        scorer_validity=scorer_validity,
    )
