"""build_report: hand-computed figures, determinism, baseline comparison, reading reports back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from report_cases import CLUSTERS, conv, hand_scores, make_report

from edge_eval.errors import ArtifactError, ConfigError, PrivacyViolation
from edge_eval.report import build_report, load_report, render_json, write_report_files
from edge_eval.scores import ConversationScore, ScoreTable


def test_hand_computed_report(hand_report: dict[str, Any]) -> None:
    distressing, learning, writing = hand_report["clusters"]
    assert writing == {"cluster": "work_assignment_writing", "status": "withheld"}
    # distressing: 11 x d 1, p 1 -> g 0, e 0; intervals collapse on constant values
    assert distressing["n"] == 11
    assert distressing["desired"] == {"mean": 1.0, "low": 1.0, "high": 1.0}
    assert distressing["perceived"] == {"mean": 1.0, "low": 1.0, "high": 1.0}
    assert distressing["error"]["mean"] == 0.0
    assert (distressing["desired_raw"], distressing["perceived_raw"]) == (3.0, 5.0)
    assert (distressing["share_under"], distressing["share_over"]) == (0.0, 0.0)
    # learning: 22 x d 0, p .5 -> g -.5 (warmer than wanted), all over the .125 tolerance
    assert learning["n"] == 22
    assert learning["gap"] == {"mean": -0.5, "low": -0.5, "high": -0.5}
    assert (learning["share_under"], learning["share_over"]) == (0.0, 1.0)
    # overall, weighted by conversations over the published clusters (writing is withheld):
    # d = 11/33, p = (11 + 22 * .5)/33 = 2/3, g = -11/33, e = 11/33, over = 22/33
    overall = hand_report["overall"]
    assert overall["n"] == 33
    assert overall["desired"]["mean"] == pytest.approx(1 / 3, abs=1e-6)
    assert overall["perceived"]["mean"] == pytest.approx(2 / 3, abs=1e-6)
    assert overall["gap"]["mean"] == pytest.approx(-1 / 3, abs=1e-6)
    assert overall["error"]["mean"] == pytest.approx(1 / 3, abs=1e-6)
    assert overall["share_over"] == pytest.approx(2 / 3, abs=1e-6)
    assert overall["desired_raw"] == pytest.approx(1 + 2 / 3, abs=1e-6)
    # turn curve: index 1 and 2 pool both clusters (p 1 x 11, .5 x 22 -> 2/3); index 3 only
    # distressing (11 turns of p 1)
    cells = [(c["index"], c["n"], c["perceived"]) for c in overall["turns"]["cells"]]
    assert cells == [(1, 33, 0.666667), (2, 33, 0.666667), (3, 11, 1.0)]
    # slope over 33 + 33 + 11 points (x = 1, 2, 3; sum of y = 22, 22, 11): mean x = 132/77 =
    # 12/7, so dx = -5/7, 2/7, 9/7; sum dx*y = (-110 + 44 + 99)/7 = 33/7 ; sum dx^2 =
    # (33*25 + 33*4 + 11*81)/49 = 1848/49 = 264/7 ; slope = 33/264 = 1/8 (flat within each
    # cluster: it comes from the mix alone). Retention: only distressing has 3 turns: 1/1 = 1
    assert overall["turns"]["slope"] == 0.125
    assert overall["turns"]["retention"] == 1.0
    assert distressing["turns"]["slope"] == 0.0
    assert learning["turns"]["retention"] is None  # 2-turn conversations only
    assert hand_report["parameters"] == {
        "model_kind": "minilm-onnx-int8",
        "min_count": 11,
        "tolerance": 0.125,
        "interval": "student_t",
        "confidence": 0.95,
        "differential_privacy": None,  # says plainly: exact figures, not DP-protected
    }
    assert hand_report["baseline"] is None


def random_scores(seed: int) -> list[ConversationScore]:
    rng = np.random.default_rng(seed)
    out = []
    for cluster, n, desired in zip(CLUSTERS, (30, 25, 14), (2.7, 1.9, 1.4), strict=True):
        for _ in range(n):
            turns = rng.integers(1, 6, size=int(rng.integers(1, 7)))
            out.append(conv(cluster, desired, *turns.tolist()))
    return out


def test_report_is_deterministic_and_does_not_depend_on_input_order() -> None:
    # Student-t intervals from exact sums (schema 2): no seed; any order of the conversations
    # (a merge order, a sharding) gives the same report, bit for bit
    scores = random_scores(1)
    a = make_report(scores)
    assert make_report(scores) == a
    assert make_report(list(reversed(scores))) == a
    assert a["clusters"][0]["perceived"]["low"] < a["clusters"][0]["perceived"]["mean"]


def test_cluster_figures_do_not_depend_on_cluster_order() -> None:
    scores = random_scores(2)
    a = make_report(scores)
    reordered = tuple(reversed(CLUSTERS))
    b = make_report(scores, clusters=reordered)
    assert [c["cluster"] for c in b["clusters"]] == list(reordered)
    assert {c["cluster"]: c for c in a["clusters"]} == {c["cluster"]: c for c in b["clusters"]}
    assert a["overall"] == b["overall"]


def test_baseline_comparison_hand_computed() -> None:
    # baseline: distressing d 1, p .5 (turns 3) -> E .5 ; learning d 0, p .25 -> E .25
    # candidate: distressing p .75 (turns 4) -> E .25 ; learning has 5 conversations (withheld)
    # distressing: reduction 100 (.5 - .25)/.5 = 50 %, factor .75/.5 = 1.5
    base_scores = [conv("distressing_social_personal", 3.0, 3) for _ in range(12)] + [
        conv("learning_skills", 1.0, 2) for _ in range(12)
    ]
    baseline = make_report(base_scores, model_kind="system-prompt")
    cand_scores = [conv("distressing_social_personal", 3.0, 4) for _ in range(12)] + [
        conv("learning_skills", 1.0, 2) for _ in range(5)
    ]
    d = make_report(cand_scores, baseline=baseline)
    b = d["baseline"]
    assert b["model_kind"] == "system-prompt"
    assert b["clusters"][0] == {
        "cluster": "distressing_social_personal",
        "status": "published",
        "gap_reduction_pct": 50.0,
        "score_factor": 1.5,
        "error_base": 0.5,
        "error_candidate": 0.25,
        "perceived_base": 0.5,
        "perceived_candidate": 0.75,
    }
    assert b["clusters"][1] == {"cluster": "learning_skills", "status": "unavailable"}
    assert b["clusters"][2] == {"cluster": "work_assignment_writing", "status": "unavailable"}
    # overall: baseline E = (12 * .5 + 12 * .25)/24 = .375, p = (12*.5 + 12*.25)/24 = .375;
    # candidate overall = distressing only: E .25, p .75 -> 100 * .125/.375 = 33.3333 %, factor 2
    assert b["overall"]["gap_reduction_pct"] == pytest.approx(100 / 3, abs=1e-5)
    assert b["overall"]["score_factor"] == pytest.approx(2.0)


def test_invalid_baseline_is_an_artifact_error(hand_report: dict[str, Any]) -> None:
    bad = dict(hand_report, extra=1)
    with pytest.raises(ArtifactError, match="baseline is not a valid edge-eval report"):
        make_report(hand_scores(), baseline=bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model_kind": "My Model"}, "model kind"),
        ({"model_kind": ""}, "model kind"),
        ({"min_count": 0}, "min_count"),
        ({"tolerance": 2.0}, "tolerance"),
        ({"tolerance": float("nan")}, "tolerance"),
    ],
)
def test_bad_parameters_are_config_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_report(hand_scores(), **kwargs)


def test_cluster_names_must_be_labels_and_match_the_table() -> None:
    table = ScoreTable.from_scores(hand_scores(), CLUSTERS)
    with pytest.raises(ConfigError, match="differ"):
        build_report(table, clusters=CLUSTERS[:2], tolerance=0.1, model_kind="m")
    bad = ("Distressing Situations", "learning_skills", "work_assignment_writing")
    scores = [conv(bad[0], 3.0, 5)]
    with pytest.raises(ConfigError, match="not a valid report label"):
        build_report(
            ScoreTable.from_scores(scores, bad), clusters=bad, tolerance=0.1, model_kind="m"
        )


def test_out_of_range_scores_are_refused() -> None:
    table = ScoreTable.from_scores(hand_scores(), CLUSTERS)
    table.turn_score[0] = 7.0
    with pytest.raises(ConfigError, match="turn score"):
        build_report(table, clusters=CLUSTERS, tolerance=0.1, model_kind="m")


def test_write_and_load_round_trip(hand_report: dict[str, Any], tmp_path: Path) -> None:
    paths = write_report_files(hand_report, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["report.html", "report.json", "report.md"]
    assert load_report(paths["json"]) == hand_report
    assert paths["json"].read_text() == render_json(hand_report)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in paths.values()
    )


def test_write_refuses_an_invalid_dict_before_writing(
    hand_report: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(PrivacyViolation):
        write_report_files(dict(hand_report, note="free text"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


PLANTED = "zq_planted_77"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not UTF-8 JSON"),
        (b"\xff\xfe" + PLANTED.encode(), "not UTF-8 JSON"),
        (f'{{"{PLANTED}": '.encode(), "not UTF-8 JSON"),
        (b'{"schema_version": NaN}', "not UTF-8 JSON"),
        (json.dumps({PLANTED: 1}).encode(), "not a valid edge-eval report"),
    ],
)
def test_load_report_errors(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / f"{PLANTED}.json"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match=match) as info:
        load_report(path)
    assert PLANTED not in str(info.value) and PLANTED not in info.value.hint
    assert info.value.__cause__ is None or PLANTED not in str(info.value.__cause__)


def test_load_report_tampered_and_missing(hand_report: dict[str, Any], tmp_path: Path) -> None:
    tampered = json.loads(json.dumps(hand_report))
    tampered["clusters"][2]["n"] = 4  # a withheld cluster given its count back
    path = tmp_path / "report.json"
    path.write_text(json.dumps(tampered))
    with pytest.raises(ArtifactError, match=r"clusters\[2\]"):
        load_report(path)
    with pytest.raises(ArtifactError, match="cannot be read"):
        load_report(tmp_path / "missing.json")
