"""Mergeable partial results: everything a report needs from a shard of conversations, as sums.

A :class:`ScorePartial` holds, per task cluster, counts and exact integer sums (DESIGN.md §6):
scores are per conversation and every figure of the report is a function of sums, so shards
scored on other workers, processes or devices merge exactly, and the report is made once from
the merged sums by :func:`edge_eval.report.finalize_report` (which applies the privacy gate, and
DP when it is on, exactly once, at the end). A single-machine ``score`` is
``finalize_report(partial_from_table(all))``.

Exactness. Values are stored in fixed point: a normalised value v in [0, 1] (d, p, e, or a
turn's p) becomes the integer ``round(v * 2**FIXED_POINT_BITS)``, and every sum (of values, of
squares, of products) is a Python integer. Integer addition is associative and commutative, so
any merge order, any sharding and any secure-aggregation sum give the same bits. The rounding
(at most 2**-31 per value) is far below the report's 6 decimals.

Contents (C clusters, L the longest assistant-turn index seen; index j stands for turn j + 1):

- ``groups[c]``: n, under, over (conversations with g > tolerance / g < -tolerance), Σd, Σd²,
  Σp, Σp², Σdp, Σe, Σe² (conversation level; Σg and Σg² follow from Σd, Σp, Σd², Σp², Σdp).
- ``cell_n[c, j]``, ``cell_p[c, j]``: turns at index j + 1 and the sum of their p.
- ``exact_first[c, j]``, ``exact_last[c, j]``: over conversations with exactly j + 1 turns
  (j + 1 >= 3), the sum of p over their first and last thirds (retention).
- ``cut_first[c, j]``, ``cut_last[c, j]``: over conversations with more than j + 1 turns, cut
  to their first j + 1 turns (j + 1 >= 3), the same sums: the privacy gate may withhold turn
  cells past some index, and retention is then taken over the cut conversations.

No text, id, path, per-conversation or per-turn value is held: only counts and sums per
cluster, turn index and conversation length. Small cells are *not* suppressed here; that is
``finalize_report``'s job, on the merged totals, so a shard with few conversations in a cluster
still contributes, invisibly.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_eval.errors import ConfigError
from edge_eval.scores import ScoreTable

__all__ = [
    "FIXED_POINT_BITS",
    "GROUP_FIELDS",
    "PartialHeader",
    "ScorePartial",
    "merge_partials",
    "partial_from_table",
]

FIXED_POINT_BITS = 30
_ONE = 1 << FIXED_POINT_BITS
GROUP_FIELDS = ("n", "under", "over", "sd", "sd2", "sp", "sp2", "sdp", "se", "se2")
_TURN_FIELDS = ("cell_n", "cell_p", "exact_first", "exact_last", "cut_first", "cut_last")


@dataclass(frozen=True, slots=True, kw_only=True)
class PartialHeader:
    """What partials must share to be merged: the clusters, the tolerance, the fixed point.

    Attributes:
        clusters: the profile's cluster names, in profile order.
        tolerance: |g| at or below it counts as aligned (the under/over counts depend on it).
        fixed_point_bits: values are stored as round(v * 2**bits).
    """

    clusters: tuple[str, ...]
    tolerance: float
    fixed_point_bits: int = FIXED_POINT_BITS

    def __post_init__(self) -> None:
        if not math.isfinite(self.tolerance) or not 0.0 <= self.tolerance <= 1.0:
            raise ConfigError("the gap tolerance must lie in [0, 1]")
        if len(set(self.clusters)) != len(self.clusters):
            raise ConfigError("the profile lists a cluster name twice")


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    out.fill(0)
    return out


def _as_ints(values: np.ndarray) -> np.ndarray:
    """An object array of Python ints (exact, unbounded) with the shape of ``values``."""
    out = np.empty(values.shape, dtype=object)
    out.flat[:] = [int(v) for v in np.asarray(values).flat]
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ScorePartial:
    """Counts and exact sums of a shard of scored conversations (see the module docstring).

    Attributes:
        header: clusters, tolerance and fixed point; partials merge only under equal headers.
        groups: object array (C, 10) of Python ints, columns :data:`GROUP_FIELDS`.
        cell_n, cell_p, exact_first, exact_last, cut_first, cut_last: object arrays (C, L).
    """

    header: PartialHeader
    groups: np.ndarray
    cell_n: np.ndarray
    cell_p: np.ndarray
    exact_first: np.ndarray
    exact_last: np.ndarray
    cut_first: np.ndarray
    cut_last: np.ndarray

    def __post_init__(self) -> None:
        c = len(self.header.clusters)
        if self.groups.shape != (c, len(GROUP_FIELDS)):
            raise ValueError("groups must have one row per cluster and one column per field")
        width = self.cell_n.shape[1] if self.cell_n.ndim == 2 else -1
        for name in _TURN_FIELDS:
            if getattr(self, name).shape != (c, width):
                raise ValueError(f"{name} must have shape (clusters, max turns)")

    @classmethod
    def empty(cls, header: PartialHeader, max_turns: int = 0) -> ScorePartial:
        """The identity of :meth:`merge`: no conversation."""
        c = len(header.clusters)
        turn = {name: _zeros((c, max_turns)) for name in _TURN_FIELDS}
        return cls(header=header, groups=_zeros((c, len(GROUP_FIELDS))), **turn)

    @property
    def max_turns(self) -> int:
        """The longest assistant-turn index the turn arrays cover."""
        return int(self.cell_n.shape[1])

    @property
    def n_conversations(self) -> int:
        return int(sum(self.groups[:, 0]))

    def padded(self, max_turns: int) -> ScorePartial:
        """The same sums with turn arrays widened to ``max_turns`` (zeros past the end)."""
        if max_turns < self.max_turns:
            raise ValueError("a partial can be widened, not cut")
        if max_turns == self.max_turns:
            return self
        c = len(self.header.clusters)
        wide = {}
        for name in _TURN_FIELDS:
            out = _zeros((c, max_turns))
            out[:, : self.max_turns] = getattr(self, name)
            wide[name] = out
        return ScorePartial(header=self.header, groups=self.groups.copy(), **wide)

    def merge(self, other: ScorePartial) -> ScorePartial:
        """The partial of the union of both shards: exact, associative and commutative."""
        if other.header != self.header:
            raise ConfigError(
                "the partial results were made with different profiles or tolerances",
                hint="Score every shard with the same profile (clusters and tolerance).",
            )
        width = max(self.max_turns, other.max_turns)
        a, b = self.padded(width), other.padded(width)
        return ScorePartial(
            header=self.header,
            groups=a.groups + b.groups,
            **{name: getattr(a, name) + getattr(b, name) for name in _TURN_FIELDS},
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScorePartial) or other.header != self.header:
            return False
        width = max(self.max_turns, other.max_turns)
        a, b = self.padded(width), other.padded(width)
        return all(
            np.array_equal(getattr(a, name), getattr(b, name)) for name in ("groups", *_TURN_FIELDS)
        )

    __hash__ = None  # type: ignore[assignment]

    # --- a flat integer vector, for transports that sum vectors (secure aggregation) ---------

    def to_vector(self) -> list[int]:
        """Every count and sum, flattened in a fixed order (groups, then the turn arrays)."""
        out = [int(v) for v in self.groups.flat]
        for name in _TURN_FIELDS:
            out.extend(int(v) for v in getattr(self, name).flat)
        return out

    @classmethod
    def from_vector(
        cls, header: PartialHeader, max_turns: int, vector: Iterable[int]
    ) -> ScorePartial:
        """Inverse of :meth:`to_vector`; the sum of vectors is the vector of the merge."""
        values = [int(v) for v in vector]
        c = len(header.clusters)
        size = c * len(GROUP_FIELDS) + len(_TURN_FIELDS) * c * max_turns
        if len(values) != size:
            raise ValueError(f"expected {size} values, got {len(values)}")
        if any(v < 0 for v in values):
            raise ValueError("counts and sums of a partial are never negative")
        pos = c * len(GROUP_FIELDS)
        groups = _zeros((c, len(GROUP_FIELDS)))
        groups.flat[:] = values[:pos]
        turn = {}
        for name in _TURN_FIELDS:
            arr = _zeros((c, max_turns))
            arr.flat[:] = values[pos : pos + c * max_turns]
            turn[name] = arr
            pos += c * max_turns
        return cls(header=header, groups=groups, **turn)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (ints, lists, the header's labels): what a shard sends back to a driver."""
        return {
            "clusters": list(self.header.clusters),
            "tolerance": self.header.tolerance,
            "fixed_point_bits": self.header.fixed_point_bits,
            "max_turns": self.max_turns,
            "vector": self.to_vector(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScorePartial:
        expected = {"clusters", "tolerance", "fixed_point_bits", "max_turns", "vector"}
        if set(d) != expected:
            raise ValueError(f"a partial has exactly the keys {', '.join(sorted(expected))}")
        header = PartialHeader(
            clusters=tuple(d["clusters"]),
            tolerance=float(d["tolerance"]),
            fixed_point_bits=int(d["fixed_point_bits"]),
        )
        return cls.from_vector(header, int(d["max_turns"]), d["vector"])


def merge_partials(parts: Iterable[ScorePartial], header: PartialHeader) -> ScorePartial:
    """Merge any number of partials (none gives the empty partial of ``header``)."""
    out = ScorePartial.empty(header)
    for part in parts:
        out = out.merge(part)
    return out


def _fixed(values: np.ndarray) -> np.ndarray:
    """Normalised values in [0, 1] to int64 fixed point."""
    return np.rint(np.asarray(values, dtype=np.float64) * _ONE).astype(np.int64)


def _sum_by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Exact per-index sums of int64 ``values`` as Python ints (no overflow at any size)."""
    out = _zeros((size,))
    if size == 0 or index.size == 0:
        return out
    order = np.argsort(index, kind="stable")
    idx, vals = index[order], values[order]
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ends = np.r_[starts[1:], idx.size]
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        out[idx[s]] = sum(vals[s:e].tolist())  # Python ints: exact
    return out


def _sum_sq_by(index: np.ndarray, a: np.ndarray, b: np.ndarray, size: int) -> np.ndarray:
    """Exact per-index sums of a*b (int64 inputs, products up to 2**60) as Python ints."""
    out = _zeros((size,))
    if size == 0 or index.size == 0:
        return out
    order = np.argsort(index, kind="stable")
    idx = index[order]
    av, bv = a[order].tolist(), b[order].tolist()
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ends = np.r_[starts[1:], idx.size]
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        out[idx[s]] = sum(map(operator.mul, av[s:e], bv[s:e]))
    return out


def partial_from_table(table: ScoreTable, header: PartialHeader) -> ScorePartial:
    """The partial result of a score table (which stays in memory; the partial may travel)."""
    if tuple(table.clusters) != header.clusters:
        raise ConfigError(
            "the score table's clusters differ from the profile's clusters",
            hint="Build the score table with the same profile that is passed to build_report.",
        )
    _check_ranges(table)
    c = len(header.clusters)
    conv_cluster = table.conv_cluster.astype(np.int64)
    d = (table.conv_desired - 1.0) / 2.0
    p = (table.conv_perceived - 1.0) / 4.0
    g = d - p
    qd, qp = _fixed(d), _fixed(p)
    qe = np.abs(qd - qp)
    groups = _zeros((c, len(GROUP_FIELDS)))
    groups[:, 0] = _as_ints(np.bincount(conv_cluster, minlength=c)[:c])
    groups[:, 1] = _as_ints(np.bincount(conv_cluster[g > header.tolerance], minlength=c)[:c])
    groups[:, 2] = _as_ints(np.bincount(conv_cluster[g < -header.tolerance], minlength=c)[:c])
    groups[:, 3] = _sum_by(conv_cluster, qd, c)
    groups[:, 4] = _sum_sq_by(conv_cluster, qd, qd, c)
    groups[:, 5] = _sum_by(conv_cluster, qp, c)
    groups[:, 6] = _sum_sq_by(conv_cluster, qp, qp, c)
    groups[:, 7] = _sum_sq_by(conv_cluster, qd, qp, c)
    groups[:, 8] = _sum_by(conv_cluster, qe, c)
    groups[:, 9] = _sum_sq_by(conv_cluster, qe, qe, c)

    index = table.turn_index.astype(np.int64)  # 1-based
    width = int(index.max()) if index.size else 0
    out = ScorePartial.empty(header, width)
    out.groups[:, :] = groups
    if not index.size:
        return out
    qt = _fixed((table.turn_score - 1.0) / 4.0)
    tc = conv_cluster[table.turn_conv]
    length = np.zeros(table.n_conversations, dtype=np.int64)
    np.maximum.at(length, table.turn_conv, index)
    t = length[table.turn_conv]  # the turn's conversation length T
    third = -(-t // 3)
    cell = tc * width + (index - 1)
    size = c * width
    out.cell_n[:, :] = _as_ints(np.bincount(cell, minlength=size)).reshape(c, width)
    out.cell_p[:, :] = _sum_by(cell, qt, size).reshape(c, width)
    # exact length T >= 3: first third i <= ceil(T/3), last third i > T - ceil(T/3)
    at_t = tc * width + (t - 1)
    first = (t >= 3) & (index <= third)
    last = (t >= 3) & (index > t - third)
    out.exact_first[:, :] = _sum_by(at_t[first], qt[first], size).reshape(c, width)
    out.exact_last[:, :] = _sum_by(at_t[last], qt[last], size).reshape(c, width)
    # cut at M < T (M >= 3): turn i is in the first third of 1..M iff M >= 3i - 2, and in the
    # last third iff i <= M < 3i/2, i.e. M <= ceil(3i/2) - 1. Range additions over M, by
    # difference arrays (exact int64: each turn adds at most 2**30 twice per cell).
    for target, lo, hi in (
        (out.cut_first, np.maximum(3, 3 * index - 2), t - 1),
        (out.cut_last, np.maximum(3, index), np.minimum(t - 1, -(-3 * index // 2) - 1)),
    ):
        ok = lo <= hi
        start = tc[ok] * (width + 1) + (lo[ok] - 1)
        stop = tc[ok] * (width + 1) + hi[ok]  # one past the last M (0-based M - 1)
        diff = _sum_by(start, qt[ok], c * (width + 1)) - _sum_by(stop, qt[ok], c * (width + 1))
        target[:, :] = np.cumsum(diff.reshape(c, width + 1), axis=1)[:, :width]
    return out


def _check_ranges(table: ScoreTable) -> None:
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
