"""Small-cell and complementary suppression: which data a report may be computed from.

Policy, with ``k = min_count`` (default 11, so counts 1..10 are withheld):

1. **Cluster cells.** A task cluster with 1..k-1 conversations is *withheld*: its count and
   every figure derived from it (means, intervals, shares, curve, slope, retention, baseline
   comparison) are left out. A cluster with no conversation shows as *empty* (n = 0). Only a
   cluster with at least k conversations is *published*.
2. **Turn-index cells.** Within a published cluster, the cell of assistant-turn index i (the
   turns at that index, one per conversation that reached it) is published only if it holds at
   least k turns; otherwise it is left out of the curve.
3. **Complementary suppression.** Every published aggregate is computed only from data that
   lies in published cells: overall figures pool the conversations of published clusters only;
   the overall curve at index i pools only the clusters whose cell i is published; slopes and
   retention use only turns in published turn-index cells (a conversation's turns beyond its
   cluster's published cells are cut off before its thirds are taken). Hence the data of a
   withheld cell has no influence on any published number, and no difference between published
   totals and published parts (overall n minus the clusters' n, overall mean against the
   weighted cluster means, overall curve against the cluster curves) can reveal it.
4. **No input totals.** The number of conversations read, skipped or withheld is never
   published; overall n is the sum of the published clusters' n.

A conversation's own perceived empathy is the mean over *all* its assistant turns (DESIGN.md
§1), so a published cluster's conversation-level means include turns whose turn-index cell is
withheld. Those turns are pooled inside a cell of at least k conversations, each weighted by
the unpublished length of its conversation: differencing the cluster mean against the curve
gives only a mix of them with the same conversations' other turn-level values, from which the
withheld cell's count or mean cannot be solved.

All functions are pure: they take values and return values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from edge_eval.scores import ScoreTable

__all__ = [
    "DEFAULT_MIN_COUNT",
    "CellStatus",
    "Suppression",
    "cell_status",
    "plan_suppression",
]

DEFAULT_MIN_COUNT = 11


class CellStatus(str, Enum):
    """What a report shows of a cell."""

    PUBLISHED = "published"
    WITHHELD = "withheld"  # 1..k-1 members: nothing about it is shown
    EMPTY = "empty"  # no member


def cell_status(n: int, min_count: int) -> CellStatus:
    """The status of a cell with ``n`` members under threshold ``min_count``."""
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    if n <= 0:
        return CellStatus.EMPTY
    return CellStatus.PUBLISHED if n >= min_count else CellStatus.WITHHELD


@dataclass(frozen=True, slots=True, kw_only=True)
class Suppression:
    """Which conversations and turns a report may use.

    Attributes:
        min_count: the threshold k.
        cluster_status: status of each cluster, in the table's cluster order.
        conv_published: bool per conversation, True if its cluster is published.
        turn_published: bool per turn, True if its conversation's cluster is published and its
            (cluster, turn index) cell holds at least k turns.
    """

    min_count: int
    cluster_status: tuple[CellStatus, ...]
    conv_published: np.ndarray
    turn_published: np.ndarray


def plan_suppression(table: ScoreTable, *, min_count: int = DEFAULT_MIN_COUNT) -> Suppression:
    """Apply the policy of this module to a score table."""
    n_clusters = len(table.clusters)
    counts = np.bincount(table.conv_cluster, minlength=n_clusters)[:n_clusters]
    status = tuple(cell_status(int(c), min_count) for c in counts)
    published = np.array([s is CellStatus.PUBLISHED for s in status], dtype=bool)
    conv_published = published[table.conv_cluster] if n_clusters else np.zeros(0, dtype=bool)

    turn_cluster = table.conv_cluster[table.turn_conv].astype(np.int64)
    turn_index = table.turn_index.astype(np.int64)
    width = int(turn_index.max()) + 1 if turn_index.size else 1
    cell = turn_cluster * width + turn_index
    cell_counts = np.bincount(cell, minlength=n_clusters * width)
    turn_published = conv_published[table.turn_conv] & (cell_counts[cell] >= min_count)
    return Suppression(
        min_count=min_count,
        cluster_status=status,
        conv_published=conv_published,
        turn_published=turn_published,
    )
