"""The report schema is an allowlist: anything else is a PrivacyViolation."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from edge_eval.errors import PrivacyViolation
from edge_eval.report import report_problems, validate_report_dict

PLANTED = "zq_planted_c0nversation_text_77"


def violation(d: Any) -> str:
    with pytest.raises(PrivacyViolation) as info:
        validate_report_dict(d)
    message = str(info.value)
    assert PLANTED not in message  # problems name positions, never the offending content
    return message


def test_valid_report_passes(hand_report: dict[str, Any]) -> None:
    validate_report_dict(hand_report)
    assert report_problems(hand_report) == []
    assert hand_report["schema_version"] == 2
    assert hand_report["kind"] == "edge-eval.score-report"


@pytest.mark.parametrize(
    "where",
    [
        lambda d: d,
        lambda d: d["parameters"],
        lambda d: d["clusters"][0],
        lambda d: d["clusters"][0]["desired"],
        lambda d: d["clusters"][0]["turns"],
        lambda d: d["clusters"][0]["turns"]["cells"][0],
        lambda d: d["clusters"][2],  # a withheld cluster
        lambda d: d["overall"],
    ],
)
def test_an_extra_key_anywhere_is_refused(hand_report: dict[str, Any], where: Any) -> None:
    d = copy.deepcopy(hand_report)
    where(d)[PLANTED] = 1
    assert "not in the schema" in violation(d)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("clusters", 0, "cluster"), f"{PLANTED} free text"),
        (("clusters", 0, "cluster"), "Distressing"),  # upper case: not a cluster name
        (("clusters", 0, "status"), PLANTED),
        (("parameters", "model_kind"), f"/home/user/{PLANTED}.onnx"),
        (("clusters", 0, "n"), PLANTED),
        (("clusters", 0, "desired", "mean"), PLANTED),
        (("kind",), PLANTED),
    ],
)
def test_a_free_text_value_is_refused(
    hand_report: dict[str, Any], path: tuple[Any, ...], value: str
) -> None:
    d = copy.deepcopy(hand_report)
    target: Any = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    violation(d)


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, True, "0.5", None, [0.5], {"mean": 0.5}, 1.5, -0.1]
)
def test_numbers_must_be_finite_numbers_in_range(hand_report: dict[str, Any], value: Any) -> None:
    d = copy.deepcopy(hand_report)
    d["clusters"][0]["perceived"]["mean"] = value
    violation(d)


def test_a_withheld_cell_carrying_figures_is_refused(hand_report: dict[str, Any]) -> None:
    d = copy.deepcopy(hand_report)
    assert d["clusters"][2] == {"cluster": "work_assignment_writing", "status": "withheld"}
    d["clusters"][2]["n"] = 4
    assert "not in the schema" in violation(d)
    d = copy.deepcopy(hand_report)
    d["clusters"][2]["perceived"] = copy.deepcopy(d["clusters"][0]["perceived"])
    violation(d)


def test_an_empty_cell_holds_n_zero_only(hand_report: dict[str, Any]) -> None:
    d = copy.deepcopy(hand_report)
    d["clusters"][2] = {"cluster": "work_assignment_writing", "status": "empty", "n": 0}
    validate_report_dict(d)
    d["clusters"][2]["n"] = 3
    violation(d)


def test_published_counts_below_min_count_are_refused(hand_report: dict[str, Any]) -> None:
    d = copy.deepcopy(hand_report)
    d["parameters"]["min_count"] = 12  # distressing has 11
    assert "below min_count" in violation(d)
    d = copy.deepcopy(hand_report)
    d["clusters"][1]["turns"]["cells"][0]["n"] = 5
    assert "below min_count" in violation(d)


def test_overall_figures_must_be_the_published_clusters(hand_report: dict[str, Any]) -> None:
    # a tampered overall that would let a withheld cluster be worked out by differencing
    d = copy.deepcopy(hand_report)
    d["overall"]["n"] += 4
    assert "overall.n" in violation(d)
    d = copy.deepcopy(hand_report)
    d["overall"]["perceived"]["mean"] += 0.01
    assert "overall.perceived.mean" in violation(d)
    d = copy.deepcopy(hand_report)
    d["overall"]["turns"]["cells"][0]["n"] += 4
    assert "overall.turns.cells[0].n" in violation(d)
    d = copy.deepcopy(hand_report)
    d["overall"]["turns"]["cells"].append({"index": 9, "n": 11, "perceived": 0.5})
    violation(d)


def test_missing_keys_and_wrong_shapes_are_listed_together(hand_report: dict[str, Any]) -> None:
    d = copy.deepcopy(hand_report)
    del d["clusters"][0]["n"]
    del d["parameters"]["interval"]
    message = violation(d)
    assert "clusters[0]: missing key 'n'" in message
    assert "parameters: missing key 'interval'" in message
    for bad in (None, [], "report", {"schema_version": 2}):
        violation(bad)
    d = copy.deepcopy(hand_report)
    d["schema_version"] = 1  # bootstrap-interval reports (n_boot, seed) are no longer read
    violation(d)
    d = copy.deepcopy(hand_report)
    d["parameters"]["interval"] = "bootstrap"
    assert "parameters.interval" in violation(d)


def test_duplicate_cluster_names_are_refused(hand_report: dict[str, Any]) -> None:
    d = copy.deepcopy(hand_report)
    d["clusters"][1]["cluster"] = d["clusters"][0]["cluster"]
    assert "unique" in violation(d)
