"""Derive a task profile from labelled conversations: the desired empathy of each cluster.

A cluster's calibrated ``desired_empathy`` is the mean of the ``desired_empathy`` of the
conversations whose ``task`` resolves to it, and its ``n`` is how many there were. A mean of
fewer than ``min_count`` conversations (the privacy threshold k, default 11) is never written:
by default the run is refused; with ``small=SmallClusters.PRIOR`` such clusters keep the base
profile's value with ``n = 0``, like clusters without any labelled conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from edge_eval._io import atomic_write_text
from edge_eval.errors import ConfigError, InputError, PrivacyViolation
from edge_eval.tasks.profile import ClusterSpec, Profile, dump_profile, load_profile

__all__ = [
    "CalibrationReport",
    "ClusterCalibration",
    "SmallClusters",
    "calibrate_profile",
    "write_calibrated_profile",
]

DEFAULT_MIN_COUNT = 11


class SmallClusters(str, Enum):
    """What to do with a cluster that has some, but fewer than ``min_count``, labels."""

    FAIL = "fail"  # refuse the whole run
    PRIOR = "prior"  # keep the base profile's value for that cluster (n = 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterCalibration:
    """One cluster's outcome.

    Attributes:
        name: the cluster.
        n: labelled conversations of this cluster that were used (0 when the prior was kept).
        desired: the calibrated desired empathy (1-3), or the prior when ``n`` is 0.
        prior: the base profile's value.
        withheld: True when the cluster had labels but fewer than ``min_count``.
    """

    name: str
    n: int
    desired: float
    prior: float
    withheld: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationReport:
    """The calibrated profile and how it was derived (counts only).

    Attributes:
        profile: the new profile (clusters, aliases and tolerance of the base one).
        clusters: per-cluster outcome, in the profile's order.
        conversations: conversations read.
        without_task: conversations without a task the profile knows (not used).
        without_desired: conversations with a known task but no ``desired_empathy`` (not used).
        min_count: the privacy threshold applied.
    """

    profile: Profile
    clusters: tuple[ClusterCalibration, ...]
    conversations: int
    without_task: int
    without_desired: int
    min_count: int


def calibrate_profile(
    src: Path | str,
    *,
    base: Profile | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
    small: SmallClusters | str = SmallClusters.FAIL,
    name: str = "calibrated",
    on_error: str = "fail",
) -> CalibrationReport:
    """Read ``src`` (conversations JSON Lines) and derive desired empathy per cluster.

    Raises:
        PrivacyViolation: a cluster has labels from fewer than ``min_count`` conversations and
            ``small`` is ``"fail"``.
        InputError: no conversation has both a known task and ``desired_empathy``.
    """
    from edge_eval.conversations import iter_conversations

    if min_count < 1:
        raise ConfigError("--min-count must be at least 1")
    policy = SmallClusters(small)
    base = base if base is not None else load_profile(None)
    sums = dict.fromkeys(base.names, 0.0)
    counts = dict.fromkeys(base.names, 0)
    conversations = without_task = without_desired = 0
    for conv in iter_conversations(Path(src), on_error=on_error):
        conversations += 1
        cluster = None if conv.task is None else base.resolve_task(conv.task)
        if cluster is None:
            without_task += 1
            continue
        if conv.desired_empathy is None:
            without_desired += 1
            continue
        sums[cluster] += conv.desired_empathy
        counts[cluster] += 1
    if not any(counts.values()):
        raise InputError(
            "no conversation has both a task the profile knows and a desired_empathy",
            category="no_labels",
            hint="calibrate needs conversations with 'task' and 'desired_empathy' "
            "(e.g. from `edge-eval import sense7`).",
        )
    small_clusters = [c for c in base.names if 0 < counts[c] < min_count]
    if small_clusters and policy is SmallClusters.FAIL:
        raise PrivacyViolation(
            f"cluster(s) {', '.join(small_clusters)} have desired_empathy from fewer than "
            f"{min_count} conversations; their mean would not be private, so nothing was written",
            hint="Label more conversations for them, or pass --small prior to keep the base "
            "profile's value for those clusters.",
        )
    outcomes = []
    specs: list[ClusterSpec] = []
    for spec in base.clusters:
        n = counts[spec.name]
        withheld = 0 < n < min_count
        if n == 0 or withheld:
            outcomes.append(
                ClusterCalibration(
                    name=spec.name,
                    n=0,
                    desired=spec.desired_empathy,
                    prior=spec.desired_empathy,
                    withheld=withheld,
                )
            )
            specs.append(replace(spec, n=0))
            continue
        desired = round(sums[spec.name] / n, 4)
        outcomes.append(
            ClusterCalibration(name=spec.name, n=n, desired=desired, prior=spec.desired_empathy)
        )
        specs.append(replace(spec, desired_empathy=desired, n=n))
    profile = Profile(name=name, clusters=tuple(specs), tolerance=base.tolerance)
    return CalibrationReport(
        profile=profile,
        clusters=tuple(outcomes),
        conversations=conversations,
        without_task=without_task,
        without_desired=without_desired,
        min_count=min_count,
    )


def write_calibrated_profile(report: CalibrationReport, out: Path | str) -> Path:
    """Write the calibrated profile as TOML (atomically); the file loads with ``load_profile``."""
    header = (
        "# Task profile derived by `edge-eval calibrate` from labelled conversations.\n"
        "# n = conversations behind each cluster's desired_empathy (0: the prior was kept);\n"
        f"# clusters with fewer than {report.min_count} conversations keep the prior.\n"
    )
    out = Path(out)
    atomic_write_text(out, header + dump_profile(report.profile))
    return out
