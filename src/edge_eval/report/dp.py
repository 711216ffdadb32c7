"""A report's figures under differential privacy: exact sums in, noisy published groups out.

:func:`dp_groups` is the DP branch of the report's single privacy gate: it releases the sums of
every cluster once through :func:`edge_eval.privacy.dp.release_dp` (OpenDP) and derives every
published figure from that release by post-processing (see :mod:`edge_eval.privacy.dp` for the
mechanisms, the split of the budget and what is withheld). Its input, :class:`ClusterSums`, is
what mergeable partial results hold, so a sharded or federated run noises the merged totals
once, exactly like a single machine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_eval import metrics
from edge_eval.privacy.dp import ClusterSums, DPConfig, NoisyCluster, release_dp
from edge_eval.privacy.suppression import CellStatus, cell_status
from edge_eval.report.schema import GroupStatus
from edge_eval.scores import ScoreTable

__all__ = [
    "DPGroups",
    "cluster_sums_from_partial",
    "cluster_sums_from_table",
    "dp_groups",
]

_Z = 1.959963984540054  # standard normal 97.5% quantile


@dataclass(frozen=True, slots=True, kw_only=True)
class DPGroups:
    """The published groups of a DP report and what the release cost.

    Attributes:
        clusters: one group per cluster, in the order given.
        overall: the pool of the published clusters.
        accounting: for the manifest (mechanisms, parameters, budget spent; never the noise).
    """

    clusters: tuple[Any, ...]  # GroupReport
    overall: Any  # GroupReport
    accounting: Mapping[str, Any]


def cluster_sums_from_table(
    table: ScoreTable, *, tolerance: float, max_turns: int
) -> list[ClusterSums]:
    """Exact per-cluster sums of a score table, every value clamped to [0, 1]."""
    d = np.clip(metrics.normalise_desired(table.conv_desired), 0.0, 1.0)
    p = np.clip(metrics.normalise_perceived(table.conv_perceived), 0.0, 1.0)
    g = d - p
    e = np.abs(g)
    turn_cluster = table.conv_cluster[table.turn_conv]
    turn_p = np.clip(metrics.normalise_perceived(table.turn_score), 0.0, 1.0)
    out = []
    for c in range(len(table.clusters)):
        m = table.conv_cluster == c
        cell_n = np.zeros(max_turns)
        cell_p = np.zeros(max_turns)
        tm = (turn_cluster == c) & (table.turn_index <= max_turns)
        np.add.at(cell_n, table.turn_index[tm] - 1, 1.0)
        np.add.at(cell_p, table.turn_index[tm] - 1, turn_p[tm])
        out.append(
            ClusterSums(
                n=float(m.sum()),
                sum_d=float(d[m].sum()),
                sum_p=float(p[m].sum()),
                sum_e=float(e[m].sum()),
                n_under=float((g[m] > tolerance).sum()),
                n_over=float((g[m] < -tolerance).sum()),
                cell_n=cell_n,
                cell_p=cell_p,
            )
        )
    return out


def cluster_sums_from_partial(partial: Any, *, max_turns: int) -> list[ClusterSums]:
    """Per-cluster sums from a :class:`edge_eval.partial.ScorePartial` (fixed-point integers).

    Columns used: ``groups`` n, under, over, Σd, Σp, Σe and the turn arrays ``cell_n``,
    ``cell_p``, cut to the first ``max_turns`` indices.
    """
    one = float(1 << int(partial.header.fixed_point_bits))
    from edge_eval.partial import GROUP_FIELDS

    col = {name: i for i, name in enumerate(GROUP_FIELDS)}
    out = []
    for c in range(len(partial.header.clusters)):
        row = partial.groups[c]
        width = min(max_turns, int(partial.cell_n.shape[1]))
        cell_n = np.zeros(max_turns)
        cell_p = np.zeros(max_turns)
        cell_n[:width] = [float(v) for v in partial.cell_n[c, :width]]
        cell_p[:width] = [float(v) / one for v in partial.cell_p[c, :width]]
        out.append(
            ClusterSums(
                n=float(row[col["n"]]),
                sum_d=float(row[col["sd"]]) / one,
                sum_p=float(row[col["sp"]]) / one,
                sum_e=float(row[col["se"]]) / one,
                n_under=float(row[col["under"]]),
                n_over=float(row[col["over"]]),
                cell_n=np.clip(cell_n, 0.0, None),
                cell_p=np.clip(cell_p, 0.0, cell_n),
            )
        )
    return out


@dataclass(slots=True)
class _Noisy:
    """A group's noisy totals and the noise variance of each (public: DP outputs)."""

    n: float
    s: dict[str, float]
    var: dict[str, float]
    cells: dict[int, tuple[float, float, float, float]]  # index -> (n, Σp, var n, var Σp)


def _mean_estimate(
    total: float, n: float, var_total: float, var_n: float, lo: float, hi: float
) -> metrics.Estimate:
    """Noisy mean with a normal interval: sampling-variance bound plus the noise's variance."""
    mean = min(max(total / n, lo), hi)
    width = hi - lo
    u = (mean - lo) / width  # position in [0, 1]
    sampling = width * width * u * (1.0 - u) / n
    noise = (var_total + mean * mean * var_n) / (n * n)
    half = _Z * math.sqrt(sampling + noise)
    return metrics.Estimate(mean=mean, low=max(lo, mean - half), high=min(hi, mean + half))


def _figures(name: str | None, g: _Noisy) -> Any:
    from edge_eval.report.build import GroupReport

    n = g.n
    d = _mean_estimate(g.s["sum_d"], n, g.var["sum_d"], g.var["n"], 0.0, 1.0)
    p = _mean_estimate(g.s["sum_p"], n, g.var["sum_p"], g.var["n"], 0.0, 1.0)
    e = _mean_estimate(g.s["sum_e"], n, g.var["sum_e"], g.var["n"], 0.0, 1.0)
    gap_total = g.s["sum_d"] - g.s["sum_p"]
    gap = _mean_estimate(gap_total, n, g.var["sum_d"] + g.var["sum_p"], g.var["n"], -1.0, 1.0)
    # keep gap = d - p where the clip allows (post-processing of the same release)
    gap_mean = min(max(d.mean - p.mean, -1.0), 1.0)
    gap = metrics.Estimate(mean=gap_mean, low=min(gap.low, gap_mean), high=max(gap.high, gap_mean))
    cells = tuple(
        metrics.TurnCell(index=i, n=int(cn), perceived=min(max(cp / cn, 0.0), 1.0))
        for i, (cn, cp, _, _) in sorted(g.cells.items())
    )
    return GroupReport(
        name=name,
        status=GroupStatus.PUBLISHED,
        gap=metrics.GapSummary(
            n=int(n),
            desired=d,
            perceived=p,
            gap=gap,
            error=e,
            desired_raw=1.0 + 2.0 * d.mean,
            perceived_raw=1.0 + 4.0 * p.mean,
            share_under=min(max(g.s["n_under"] / n, 0.0), 1.0),
            share_over=min(max(g.s["n_over"] / n, 0.0), 1.0),
        ),
        turns=metrics.TurnSummary(cells=cells, slope=_weighted_slope(cells), retention=None),
    )


def _weighted_slope(cells: Sequence[metrics.TurnCell]) -> float | None:
    """Least squares of the cell means on the index, weighted by the cell counts (equal to the
    pooled OLS slope over (conversation, turn) points when the cells are exact)."""
    if len(cells) < 2:
        return None
    x = np.array([c.index for c in cells], dtype=np.float64)
    y = np.array([c.perceived for c in cells], dtype=np.float64)
    w = np.array([c.n for c in cells], dtype=np.float64)
    xm = float(np.average(x, weights=w))
    ym = float(np.average(y, weights=w))
    sxx = float(np.sum(w * (x - xm) ** 2))
    if sxx == 0.0:
        return None
    slope = float(np.sum(w * (x - xm) * (y - ym)) / sxx)
    return min(max(slope, -1.0), 1.0)


def _noisy_group(noisy: NoisyCluster, min_count: int, max_turns: int) -> _Noisy | None:
    v = noisy.values
    n = float(round(float(v["n"])))  # type: ignore[arg-type]
    if cell_status(int(max(n, 0)), min_count) is not CellStatus.PUBLISHED:
        return None
    cell_n = np.asarray(v["cell_n"])
    cell_p = np.asarray(v["cell_p"])
    cells: dict[int, tuple[float, float, float, float]] = {}
    for i in range(max_turns):
        count = float(min(round(float(cell_n[i])), n))
        if count >= min_count:
            cells[i + 1] = (
                count,
                float(cell_p[i]),
                noisy.noise_var["cell_n"],
                noisy.noise_var["cell_p"],
            )
    return _Noisy(
        n=n,
        s={k: float(v[k]) for k in ("sum_d", "sum_p", "sum_e", "n_under", "n_over")},  # type: ignore[arg-type]
        var=dict(noisy.noise_var),
        cells=cells,
    )


def dp_groups(
    sums: Sequence[ClusterSums],
    names: Sequence[str],
    *,
    min_count: int,
    config: DPConfig,
) -> DPGroups:
    """Release ``sums`` once through OpenDP and build every published group from the release.

    A cluster is published when its noisy count (rounded) reaches ``min_count``; a turn cell
    likewise. Overall figures pool the published clusters' noisy totals (noise variances add).
    """
    from edge_eval.report.build import GroupReport

    release = release_dp(sums, config)
    groups = []
    pooled: _Noisy | None = None
    any_withheld = False
    for name, s, noisy in zip(names, sums, release.clusters, strict=True):
        g = _noisy_group(noisy, min_count, config.max_turns)
        if g is None:
            # an exact zero count is public knowledge only if we say so: every unpublished
            # cluster shows as withheld under DP (its noisy count decided it)
            del s
            groups.append(GroupReport(name=name, status=GroupStatus.WITHHELD))
            any_withheld = True
            continue
        group = _figures(name, g)
        groups.append(group)
        if pooled is None:
            pooled = _Noisy(
                n=0.0, s=dict.fromkeys(g.s, 0.0), var=dict.fromkeys(g.var, 0.0), cells={}
            )
        pooled.n += g.n
        # pool the published (clipped) means, so overall = the n-weighted mean of the clusters
        published = {
            "sum_d": group.gap.desired.mean,
            "sum_p": group.gap.perceived.mean,
            "sum_e": group.gap.error.mean,
            "n_under": group.gap.share_under,
            "n_over": group.gap.share_over,
        }
        for k, mean in published.items():
            pooled.s[k] += mean * g.n
        for k in g.var:
            pooled.var[k] += g.var[k]
        for i, (cn, cp, vn, vp) in g.cells.items():
            a = pooled.cells.get(i, (0.0, 0.0, 0.0, 0.0))
            # the pooled cell mean must equal the count-weighted mean of the published cells
            mean = min(max(cp / cn, 0.0), 1.0)
            pooled.cells[i] = (a[0] + cn, a[1] + mean * cn, a[2] + vn, a[3] + vp)
    if pooled is not None:
        overall = _figures(None, pooled)
    else:
        overall = GroupReport(
            name=None, status=GroupStatus.WITHHELD if any_withheld else GroupStatus.EMPTY
        )
    return DPGroups(clusters=tuple(groups), overall=overall, accounting=release.accounting)
