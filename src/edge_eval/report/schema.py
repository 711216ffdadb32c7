"""The report's JSON schema: an allowlist of numeric fields, booleans and fixed labels.

A report can hold nothing else: no key outside the schema, no string other than a fixed label,
a cluster name (``^[a-z][a-z0-9_]{0,63}$``, taken from the profile) or a reward-model kind
label (``^[a-z0-9][a-z0-9._-]{0,63}$``). :func:`validate_report_dict` also checks the
suppression rules of :mod:`edge_eval.privacy.suppression` on the numbers themselves.

Layout (schema_version 2; version 1 had bootstrap intervals, ``n_boot`` and ``seed``)::

    schema_version: 2
    kind: "edge-eval.score-report"
    parameters: {model_kind, min_count, tolerance, interval: "student_t" | "dp_normal",
                 confidence, differential_privacy (optional): null | {epsilon, delta, mechanism},
                 scorer_validity (optional): [{set, level, protocol, n, spearman, low, high,
                 bias}]}   the scorer's measured agreement with people, from its bundle.json:
                 set, level and protocol are fixed labels, the rest numbers
    clusters: [group with "cluster"]          one per profile cluster, in profile order
    overall:  group without "cluster"         pooled over the published clusters
    baseline: null | {model_kind, overall: comparison, clusters: [comparison with "cluster"]}

    group, by status:
      published: {status, n, desired, perceived, gap, error (each {mean, low, high}),
                  desired_raw, perceived_raw, share_under, share_over,
                  turns: {cells: [{index, n, perceived}], slope, retention}}
      withheld:  {status}                    fewer than min_count conversations
      empty:     {status, n: 0}
    comparison, by status:
      published:   {status, gap_reduction_pct, score_factor, error_base, error_candidate,
                    perceived_base, perceived_candidate}
      unavailable: {status}                  a side is not published
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from edge_eval.errors import PrivacyViolation

__all__ = [
    "CLUSTER_NAME_PATTERN",
    "DP_MECHANISMS",
    "VALIDITY_LEVELS",
    "VALIDITY_PROTOCOLS",
    "VALIDITY_SETS",
    "INTERVAL_METHODS",
    "MODEL_KIND_PATTERN",
    "REPORT_KIND",
    "SCHEMA_VERSION",
    "ComparisonStatus",
    "GroupStatus",
    "report_problems",
    "schema_problems",
    "scorer_validity_problems",
    "suppression_problems",
    "validate_report_dict",
]

SCHEMA_VERSION = 2
REPORT_KIND = "edge-eval.score-report"
CLUSTER_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
MODEL_KIND_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
#: ``student_t``: mean ± t s/√n from exact sums; ``dp_normal``: under differential privacy, a
#: normal interval from a sampling-variance bound plus the known noise variance.
INTERVAL_METHODS = ("student_t", "dp_normal")
#: OpenDP mechanisms a DP report may name (see edge_eval.privacy.dp).
DP_MECHANISMS = ("laplace", "gaussian-zcdp")
#: Human-rated validation sets a report may name (fixed label -> what people rated).
VALIDITY_SETS = {
    "ieval": "iEval: each user rated the whole chat (1-5)",
    "empathetic_exchanges": "EmpatheticExchanges: annotators graded each reply (5ES, 1-5)",
    "ieval_unseen_chatbot": "iEval, on a chatbot the scorer never saw (each of its chatbots "
    "held out in turn, with the people who rated it)",
}
VALIDITY_LEVELS = ("turn", "conversation")
#: ``unseen``: the scorer never saw the set; ``grouped-5-fold-cv``: each fold's model was
#: trained without its test fold; ``leave-one-chatbot-out``: that and without the chatbot
#: scored, whose ``bias`` is then the one of the chatbot furthest off (mean predicted − mean
#: human on that chatbot's conversations).
VALIDITY_PROTOCOLS = ("unseen", "grouped-5-fold-cv", "leave-one-chatbot-out")
_TOLERANCE = 1e-5  # published figures are rounded to 6 decimals


class GroupStatus(str, Enum):
    """What a report shows of a cluster or of the overall group."""

    PUBLISHED = "published"
    WITHHELD = "withheld"
    EMPTY = "empty"


class ComparisonStatus(str, Enum):
    """Whether a baseline comparison could be made (both sides published)."""

    PUBLISHED = "published"
    UNAVAILABLE = "unavailable"


# --- a tiny schema language -------------------------------------------------------------------

Check = Callable[[Any, str, list[str]], None]


def _number(lo: float | None = None, hi: float | None = None, *, nullable: bool = False) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if value is None and nullable:
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{where}: must be a number")
        elif not math.isfinite(value):
            problems.append(f"{where}: must be a finite number")
        elif (lo is not None and value < lo - _TOLERANCE) or (
            hi is not None and value > hi + _TOLERANCE
        ):
            problems.append(f"{where}: out of range [{lo}, {hi}]")

    return check


def _integer(lo: int, hi: int | None = None) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: must be an integer")
        elif value < lo or (hi is not None and value > hi):
            problems.append(f"{where}: out of range [{lo}, {hi}]")

    return check


def _const(expected: object) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if type(value) is not type(expected) or value != expected:
            problems.append(f"{where}: must be {expected!r}")

    return check


def _choice(labels: tuple[str, ...]) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, str) or value not in labels:
            problems.append(f"{where}: must be one of {', '.join(labels)}")

    return check


def _pattern(pattern: re.Pattern[str], what: str) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        # the value is never quoted: it may be anything
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            problems.append(f"{where}: must be {what}")

    return check


@dataclass(frozen=True, slots=True)
class _Object:
    fields: Mapping[str, Check]
    optional: frozenset[str] = frozenset()

    def __call__(self, value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{where}: must be an object")
            return
        unknown = [key for key in value if key not in self.fields]
        if unknown:
            problems.append(
                f"{where}: {len(unknown)} key(s) not in the schema "
                f"(allowed: {', '.join(self.fields)})"
            )
        for key, check in self.fields.items():
            if key not in value:
                if key not in self.optional:
                    problems.append(f"{where}: missing key {key!r}")
            else:
                check(value[key], f"{where}.{key}", problems)


@dataclass(frozen=True, slots=True)
class _List:
    item: Check

    def __call__(self, value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, list):
            problems.append(f"{where}: must be a list")
            return
        for i, entry in enumerate(value):
            self.item(entry, f"{where}[{i}]", problems)


@dataclass(frozen=True, slots=True)
class _ByStatus:
    """An object whose allowed fields depend on its ``status`` label."""

    variants: Mapping[str, _Object]

    def __call__(self, value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{where}: must be an object")
            return
        status = value.get("status")
        variant = self.variants.get(status) if isinstance(status, str) else None
        if variant is None:
            problems.append(f"{where}.status: must be one of {', '.join(self.variants)}")
            return
        variant(value, where, problems)


def _nullable(check: Check) -> Check:
    def wrapped(value: Any, where: str, problems: list[str]) -> None:
        if value is not None:
            check(value, where, problems)

    return wrapped


_cluster_name = _pattern(CLUSTER_NAME_PATTERN, "a cluster name matching ^[a-z][a-z0-9_]{0,63}$")
_model_kind = _pattern(MODEL_KIND_PATTERN, "a model kind matching ^[a-z0-9][a-z0-9._-]{0,63}$")
_unit = _number(0.0, 1.0)


def _estimate(lo: float, hi: float) -> _Object:
    return _Object({"mean": _number(lo, hi), "low": _number(lo, hi), "high": _number(lo, hi)})


def _group(named: bool) -> _ByStatus:
    name: dict[str, Check] = {"cluster": _cluster_name} if named else {}
    published: dict[str, Check] = {
        **name,
        "status": _const(GroupStatus.PUBLISHED.value),
        "n": _integer(1),
        "desired": _estimate(0.0, 1.0),
        "perceived": _estimate(0.0, 1.0),
        "gap": _estimate(-1.0, 1.0),
        "error": _estimate(0.0, 1.0),
        "desired_raw": _number(1.0, 3.0),
        "perceived_raw": _number(1.0, 5.0),
        "share_under": _unit,
        "share_over": _unit,
        "turns": _Object(
            {
                "cells": _List(
                    _Object({"index": _integer(1), "n": _integer(1), "perceived": _unit})
                ),
                "slope": _number(-1.0, 1.0, nullable=True),
                "retention": _number(0.0, nullable=True),
            }
        ),
    }
    return _ByStatus(
        {
            GroupStatus.PUBLISHED.value: _Object(published),
            GroupStatus.WITHHELD.value: _Object(
                {**name, "status": _const(GroupStatus.WITHHELD.value)}
            ),
            GroupStatus.EMPTY.value: _Object(
                {**name, "status": _const(GroupStatus.EMPTY.value), "n": _const(0)}
            ),
        }
    )


def _comparison(named: bool) -> _ByStatus:
    name: dict[str, Check] = {"cluster": _cluster_name} if named else {}
    return _ByStatus(
        {
            ComparisonStatus.PUBLISHED.value: _Object(
                {
                    **name,
                    "status": _const(ComparisonStatus.PUBLISHED.value),
                    "gap_reduction_pct": _number(nullable=True),
                    "score_factor": _number(0.0, nullable=True),
                    "error_base": _unit,
                    "error_candidate": _unit,
                    "perceived_base": _unit,
                    "perceived_candidate": _unit,
                }
            ),
            ComparisonStatus.UNAVAILABLE.value: _Object(
                {**name, "status": _const(ComparisonStatus.UNAVAILABLE.value)}
            ),
        }
    )


#: A scorer's agreement with people as reports (and compare.json) carry it.
_SCORER_VALIDITY = _List(
    _Object(
        {
            "set": _choice(tuple(VALIDITY_SETS)),
            "level": _choice(VALIDITY_LEVELS),
            "protocol": _choice(VALIDITY_PROTOCOLS),
            "n": _integer(1),
            "spearman": _number(-1.0, 1.0, nullable=True),
            "low": _number(-1.0, 1.0, nullable=True),
            "high": _number(-1.0, 1.0, nullable=True),
            "bias": _number(-4.0, 4.0, nullable=True),
        }
    )
)

_REPORT = _Object(
    {
        "schema_version": _const(SCHEMA_VERSION),
        "kind": _const(REPORT_KIND),
        "parameters": _Object(
            {
                "model_kind": _model_kind,
                "min_count": _integer(1),
                "tolerance": _number(0.0, 1.0),
                "interval": _choice(INTERVAL_METHODS),
                "confidence": _number(0.0, 1.0),
                "differential_privacy": _nullable(
                    _Object(
                        {
                            "epsilon": _number(0.0),
                            "delta": _number(0.0, 1.0),
                            "mechanism": _choice(DP_MECHANISMS),
                        }
                    )
                ),
                "scorer_validity": _SCORER_VALIDITY,
            },
            # absent in reports made before them; scorer_validity also when none is recorded
            optional=frozenset({"differential_privacy", "scorer_validity"}),
        ),
        "clusters": _List(_group(named=True)),
        "overall": _group(named=False),
        "baseline": _nullable(
            _Object(
                {
                    "model_kind": _model_kind,
                    "overall": _comparison(named=False),
                    "clusters": _List(_comparison(named=True)),
                }
            )
        ),
    }
)


# --- the suppression rules, checked on the numbers ----------------------------------------------


def _suppression_problems(d: dict[str, Any]) -> list[str]:
    """Check published counts against min_count and overall figures against published parts."""
    problems: list[str] = []
    k = d["parameters"]["min_count"]
    clusters = d["clusters"]
    names = [c["cluster"] for c in clusters]
    if len(set(names)) != len(names):
        problems.append("clusters: cluster names must be unique")
    published = [c for c in clusters if c["status"] == GroupStatus.PUBLISHED.value]
    for i, c in enumerate(clusters):
        if c["status"] != GroupStatus.PUBLISHED.value:
            continue
        if c["n"] < k:
            problems.append(f"clusters[{i}].n: a published count is below min_count")
        for j, cell in enumerate(c["turns"]["cells"]):
            if cell["n"] < k:
                problems.append(f"clusters[{i}].turns.cells[{j}].n: below min_count")
            if cell["n"] > c["n"]:
                problems.append(f"clusters[{i}].turns.cells[{j}].n: exceeds the cluster's n")
        indices = [cell["index"] for cell in c["turns"]["cells"]]
        if indices != sorted(set(indices)):
            problems.append(f"clusters[{i}].turns.cells: indices must be unique and increasing")

    overall = d["overall"]
    if overall["status"] == GroupStatus.PUBLISHED.value:
        if not published:
            problems.append("overall: published although no cluster is published")
            return problems
        total = sum(c["n"] for c in published)
        if overall["n"] != total:
            problems.append("overall.n: differs from the sum of the published clusters' n")
        for key in ("desired", "perceived", "gap", "error"):
            weighted = sum(c["n"] * c[key]["mean"] for c in published) / total
            if abs(weighted - overall[key]["mean"]) > _TOLERANCE:
                problems.append(f"overall.{key}.mean: differs from the published clusters' mean")
        by_index: dict[int, list[tuple[int, float]]] = {}
        for c in published:
            for cell in c["turns"]["cells"]:
                by_index.setdefault(cell["index"], []).append((cell["n"], cell["perceived"]))
        cells = overall["turns"]["cells"]
        if sorted(cell["index"] for cell in cells) != sorted(by_index):
            problems.append("overall.turns.cells: indices differ from the published cluster cells")
        for j, cell in enumerate(cells):
            parts = by_index.get(cell["index"], [])
            n = sum(m for m, _ in parts)
            if cell["n"] != n:
                problems.append(f"overall.turns.cells[{j}].n: differs from the published cells")
            elif n and abs(sum(m * v for m, v in parts) / n - cell["perceived"]) > _TOLERANCE:
                problems.append(
                    f"overall.turns.cells[{j}].perceived: differs from the published cells"
                )
    elif published:
        problems.append("overall: must be published when a cluster is published")
    elif overall["status"] == GroupStatus.EMPTY.value and any(
        c["status"] == GroupStatus.WITHHELD.value for c in clusters
    ):
        problems.append("overall: must be withheld, not empty, when a cluster is withheld")
    return problems


def schema_problems(d: object) -> list[str]:
    """How ``d`` departs from the allowlist alone (keys, types, ranges, fixed labels)."""
    problems: list[str] = []
    _REPORT(d, "report", problems)
    return problems


def scorer_validity_problems(value: object) -> list[str]:
    """How a ``scorer_validity`` list departs from the allowlist (as :func:`schema_problems`)."""
    problems: list[str] = []
    _SCORER_VALIDITY(value, "scorer_validity", problems)
    return problems


def suppression_problems(d: dict[str, Any]) -> list[str]:
    """How a report that passes :func:`schema_problems` breaks the suppression rules."""
    return _suppression_problems(d)


def report_problems(d: object) -> list[str]:
    """Every way ``d`` departs from the report schema and the suppression rules.

    Problems name positions (``clusters[2].n``) and allowlisted keys only, never a value or an
    unknown key, so they can be shown safely whatever the input holds.
    """
    problems: list[str] = []
    _REPORT(d, "report", problems)
    if problems:
        return problems
    assert isinstance(d, dict)
    return _suppression_problems(d)


def validate_report_dict(d: object) -> None:
    """Raise :class:`PrivacyViolation` listing every problem, if ``d`` is not a valid report."""
    problems = report_problems(d)
    if problems:
        shown = problems[:20]
        more = f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise PrivacyViolation(
            "the report does not follow the edge-eval report schema: " + "; ".join(shown) + more
        )
