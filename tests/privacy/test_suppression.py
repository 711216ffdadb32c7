"""Small-cell and complementary suppression: a withheld cell leaves no trace in the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_eval.privacy.suppression import CellStatus, cell_status, plan_suppression
from edge_eval.report import build_report, render_html, render_markdown, render_terminal
from edge_eval.scores import ConversationScore, ScoreTable, TaskSource

CLUSTERS = ("alpha", "beta", "gamma", "delta")
DESIRED = {"alpha": 2.7, "beta": 1.4, "gamma": 2.0, "delta": 1.9}


def conv(cluster: str, *scores: float, desired: float | None = None) -> ConversationScore:
    return ConversationScore(
        cluster=cluster,
        task_source=TaskSource.GIVEN,
        desired=DESIRED[cluster] if desired is None else desired,
        turn_scores=tuple(float(s) for s in scores),
    )


def random_convs(cluster: str, n: int, seed: int, max_turns: int = 6) -> list[ConversationScore]:
    rng = np.random.default_rng(seed)
    return [
        conv(cluster, *rng.integers(1, 6, size=int(rng.integers(1, max_turns + 1))).tolist())
        for _ in range(n)
    ]


def report(scores: list[ConversationScore], **kwargs: object) -> dict:
    table = ScoreTable.from_scores(scores, CLUSTERS)
    options = {"clusters": CLUSTERS, "tolerance": 0.125, "model_kind": "test"}
    options.update(kwargs)
    return build_report(table, **options).to_dict()  # type: ignore[arg-type]


def test_cell_status_thresholds() -> None:
    assert cell_status(0, 11) is CellStatus.EMPTY
    assert cell_status(1, 11) is CellStatus.WITHHELD
    assert cell_status(10, 11) is CellStatus.WITHHELD
    assert cell_status(11, 11) is CellStatus.PUBLISHED
    with pytest.raises(ValueError):
        cell_status(5, 0)


def test_plan_marks_clusters_and_turn_cells() -> None:
    # alpha: 11 conversations, 1 of them with a 2nd turn -> turn cell 2 holds 1 turn (withheld)
    scores = [conv("alpha", 3) for _ in range(10)] + [conv("alpha", 3, 4)] + [conv("beta", 2, 2)]
    table = ScoreTable.from_scores(scores, CLUSTERS)
    plan = plan_suppression(table, min_count=11)
    assert plan.cluster_status == (
        CellStatus.PUBLISHED,
        CellStatus.WITHHELD,
        CellStatus.EMPTY,
        CellStatus.EMPTY,
    )
    assert plan.conv_published.tolist() == [True] * 11 + [False]
    # 11 first turns of alpha are published; alpha's 2nd turn and beta's turns are not
    assert plan.turn_published.tolist() == [True] * 11 + [False] + [False, False]


def small_cluster_scores(beta: list[ConversationScore]) -> list[ConversationScore]:
    # interleave so that removing beta also moves the other rows
    alpha, gamma = random_convs("alpha", 15, 1), random_convs("gamma", 20, 2)
    out: list[ConversationScore] = []
    for i in range(20):
        if i < len(alpha):
            out.append(alpha[i])
        if i < len(beta):
            out.append(beta[i])
        out.append(gamma[i])
    return out


def test_cluster_of_three_leaves_nothing_in_the_report() -> None:
    beta = [conv("beta", 5, 5, 5, 5, 5, 5, 5, 5), conv("beta", 1), conv("beta", 1, 2)]
    d = report(small_cluster_scores(beta))
    entries = {c["cluster"]: c for c in d["clusters"]}

    # the small cluster shows only that it is withheld; the empty one only that it is empty
    assert entries["beta"] == {"cluster": "beta", "status": "withheld"}
    assert entries["delta"] == {"cluster": "delta", "status": "empty", "n": 0}
    assert [entries[n]["n"] for n in ("alpha", "gamma")] == [15, 20]

    # nothing of it can be derived: overall = published clusters exactly
    published = [entries["alpha"], entries["gamma"]]
    overall = d["overall"]
    assert overall["n"] == 15 + 20
    for key in ("desired", "perceived", "gap", "error"):
        weighted = sum(c["n"] * c[key]["mean"] for c in published) / overall["n"]
        assert overall[key]["mean"] == pytest.approx(weighted, abs=2e-6)
    for key in ("share_under", "share_over"):
        weighted = sum(c["n"] * c[key] for c in published) / overall["n"]
        assert overall[key] == pytest.approx(weighted, abs=2e-6)
    for cell in overall["turns"]["cells"]:
        parts = [
            c2 for c in published for c2 in c["turns"]["cells"] if c2["index"] == cell["index"]
        ]
        assert cell["n"] == sum(p["n"] for p in parts)
        assert cell["perceived"] == pytest.approx(
            sum(p["n"] * p["perceived"] for p in parts) / cell["n"], abs=2e-6
        )

    # the overall figures equal those computed on the other clusters alone
    without = report(small_cluster_scores([]))
    assert without["overall"] == overall
    assert [c for c in without["clusters"] if c["cluster"] != "beta"] == [
        c for c in d["clusters"] if c["cluster"] != "beta"
    ]


def test_report_does_not_change_with_the_withheld_cluster_data() -> None:
    # Whatever beta holds (1..10 conversations, any scores and lengths), the report is the same.
    base = report(small_cluster_scores([conv("beta", 3)]))
    texts = (render_markdown(base), render_html(base), render_terminal(base))
    for n, seed in ((10, 5), (3, 6), (7, 7)):
        other = report(small_cluster_scores(random_convs("beta", n, seed, max_turns=12)))
        assert json.dumps(other, sort_keys=True) == json.dumps(base, sort_keys=True)
        assert (render_markdown(other), render_html(other), render_terminal(other)) == texts


def test_at_threshold_the_cluster_is_published() -> None:
    d = report(small_cluster_scores(random_convs("beta", 11, 9)))
    beta = next(c for c in d["clusters"] if c["cluster"] == "beta")
    assert beta["status"] == "published" and beta["n"] == 11
    assert d["overall"]["n"] == 15 + 11 + 20


def small_turn_cell_scores(tail: tuple[float, float]) -> list[ConversationScore]:
    # alpha: 10 conversations scored 5, 4, 3 and 2 scored 5, 4, 3, *tail ->
    #   cells 1..3 hold 12 turns each (published), cells 4 and 5 hold 2 (withheld)
    # gamma: 20 conversations of 4 turns 4, 4, 4, 2 -> cells 1..4 hold 20 (published)
    alpha = [conv("alpha", 5, 4, 3) for _ in range(10)] + [conv("alpha", 5, 4, 3, *tail)] * 2
    gamma = [conv("gamma", 4, 4, 4, 2) for _ in range(20)]
    return alpha + gamma


def test_small_turn_cell_of_a_published_cluster_is_withheld() -> None:
    d = report(small_turn_cell_scores((2.0, 1.0)))
    alpha, gamma = (next(c for c in d["clusters"] if c["cluster"] == n) for n in ("alpha", "gamma"))
    # alpha's curve: p = 1, .75, .5 at turns 1..3 (n 12); turns 4 and 5 are absent
    assert [(c["index"], c["n"], c["perceived"]) for c in alpha["turns"]["cells"]] == [
        (1, 12, 1.0),
        (2, 12, 0.75),
        (3, 12, 0.5),
    ]
    # slope over the published cells: p falls .25 per turn
    assert alpha["turns"]["slope"] == pytest.approx(-0.25)
    # retention over published cells: every conversation is cut to its 3 published turns,
    # first third = turn 1 (p 1), last third = turn 3 (p .5) -> .5. (Using the withheld
    # turns, the two long conversations would give a last third of p .25 and 0.)
    assert alpha["turns"]["retention"] == pytest.approx(0.5)
    # the overall cell 4 pools only gamma, whose cell 4 is published: n 20, p = (2-1)/4
    cell4 = next(c for c in d["overall"]["turns"]["cells"] if c["index"] == 4)
    assert (cell4["n"], cell4["perceived"]) == (20, 0.25)
    assert gamma["turns"]["cells"][3] == cell4
    assert [c["index"] for c in d["overall"]["turns"]["cells"]] == [1, 2, 3, 4]
    # alpha's 2 long conversations still count in its conversation-level means (DESIGN §1):
    # a 5, 4, 3 conversation has p = (4 - 1)/4 = .75, a 5, 4, 3, 2, 1 one p = (3 - 1)/4 = .5:
    # mean p = (10 * .75 + 2 * .5) / 12 = 8.5 / 12
    assert alpha["perceived"]["mean"] == pytest.approx(8.5 / 12, abs=1e-6)


def test_withheld_turn_cells_do_not_move_curves_slopes_or_retention() -> None:
    a = report(small_turn_cell_scores((2.0, 1.0)))
    b = report(small_turn_cell_scores((5.0, 5.0)))
    for x, y in zip([*a["clusters"], a["overall"]], [*b["clusters"], b["overall"]], strict=True):
        if x["status"] == "published":
            assert x["turns"] == y["turns"]
    # the conversation-level mean of alpha does include them (by definition): it moves
    assert a["clusters"][0]["perceived"]["mean"] != b["clusters"][0]["perceived"]["mean"]


def test_min_count_is_a_parameter() -> None:
    scores = [conv("alpha", 3)] * 5
    assert report(scores)["clusters"][0]["status"] == "withheld"
    d = report(scores, min_count=5)
    assert d["clusters"][0]["n"] == 5 and d["parameters"]["min_count"] == 5
    assert report([])["overall"] == {"status": "empty", "n": 0}
    assert report(scores)["overall"] == {"status": "withheld"}
