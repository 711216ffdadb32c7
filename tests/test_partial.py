"""Mergeable partial results: exact, associative merge; finalize(partial(all)) is the report."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from edge_eval import metrics
from edge_eval.errors import ConfigError
from edge_eval.partial import (
    PartialHeader,
    ScorePartial,
    merge_partials,
    partial_from_table,
)
from edge_eval.privacy.settings import PrivacySettings
from edge_eval.privacy.suppression import plan_suppression
from edge_eval.report import build_report, finalize_report
from edge_eval.scores import ConversationScore, ScoreTable, TaskSource

CLUSTERS = ("distressing_social_personal", "learning_skills", "work_assignment_writing")
HEADER = PartialHeader(clusters=CLUSTERS, tolerance=0.125)


def random_scores(rng: np.random.Generator, n: int, max_turns: int = 9) -> list[ConversationScore]:
    out = []
    for _ in range(n):
        k = int(rng.integers(1, max_turns + 1))
        out.append(
            ConversationScore(
                cluster=CLUSTERS[int(rng.choice(3, p=[0.5, 0.35, 0.15]))],
                task_source=TaskSource.GIVEN,
                desired=float(rng.choice([1.0, 2.0, 3.0, 2.5])),
                turn_scores=tuple(float(v) for v in rng.uniform(1.0, 5.0, size=k)),
            )
        )
    return out


def partial_of(scores: list[ConversationScore]) -> ScorePartial:
    return partial_from_table(ScoreTable.from_scores(scores, CLUSTERS), HEADER)


@pytest.mark.parametrize("seed", range(6))
def test_merge_is_exact_associative_commutative_with_identity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = random_scores(rng, 150)
    cuts = sorted(rng.choice(np.arange(1, 150), size=3, replace=False).tolist())
    a, b, c, d = (partial_of(part) for part in np.split(np.array(scores, dtype=object), cuts))
    whole = partial_of(scores)
    assert a.merge(b).merge(c).merge(d) == whole  # the merge of the shards is the whole
    assert a.merge(b.merge(c.merge(d))) == whole  # associative
    assert d.merge(b).merge(a).merge(c) == whole  # commutative
    empty = ScorePartial.empty(HEADER)
    assert a.merge(empty) == a and empty.merge(a) == a  # identity
    assert merge_partials([], HEADER) == empty
    assert merge_partials([c, a, d, b], HEADER) == whole
    assert whole != a


def test_random_partials_merge_exactly_as_vectors() -> None:
    rng = np.random.default_rng(9)
    parts = [partial_of(random_scores(rng, int(rng.integers(0, 30)))) for _ in range(5)]
    width = max(p.max_turns for p in parts)
    total = np.sum([np.array(p.padded(width).to_vector(), dtype=object) for p in parts], axis=0)
    assert ScorePartial.from_vector(HEADER, width, total.tolist()) == merge_partials(parts, HEADER)
    again = ScorePartial.from_dict(json.loads(json.dumps(parts[0].to_dict())))
    assert again == parts[0]
    with pytest.raises(ValueError, match="expected"):
        ScorePartial.from_vector(HEADER, width, [0, 1])


def test_partials_of_different_profiles_do_not_merge() -> None:
    other = PartialHeader(clusters=CLUSTERS, tolerance=0.2)
    with pytest.raises(ConfigError, match="different profiles"):
        ScorePartial.empty(HEADER).merge(ScorePartial.empty(other))


def test_a_partial_holds_counts_and_sums_only() -> None:
    d = partial_of(random_scores(np.random.default_rng(3), 40)).to_dict()
    assert set(d) == {"clusters", "tolerance", "fixed_point_bits", "max_turns", "vector"}
    assert all(type(v) is int and v >= 0 for v in d["vector"])
    assert d["clusters"] == list(CLUSTERS)


def reference_report(scores: list[ConversationScore], k: int) -> dict:
    """The figures computed the pre-partial way: from per-conversation and per-turn arrays."""
    table = ScoreTable.from_scores(scores, CLUSTERS)
    plan = plan_suppression(table, min_count=k)
    turn_cluster = table.conv_cluster[table.turn_conv]
    out = {}
    for i, name in enumerate([*CLUSTERS, None]):
        if name is None:
            cm, tm = plan.conv_published, plan.turn_published
        else:
            if plan.cluster_status[i].value != "published":
                continue
            cm = plan.conv_published & (table.conv_cluster == i)
            tm = plan.turn_published & (turn_cluster == i)
        d = metrics.normalise_desired(table.conv_desired[cm])
        p = metrics.normalise_perceived(table.conv_perceived[cm])
        turns = metrics.summarise_turns(
            table.turn_conv[tm],
            table.turn_index[tm],
            metrics.normalise_perceived(table.turn_score[tm]),
        )
        t = metrics.student_t_quantile(0.975, d.size - 1)
        ci = {}
        for key, x, lo, hi in (
            ("desired", d, 0, 1),
            ("perceived", p, 0, 1),
            ("gap", d - p, -1, 1),
            ("error", np.abs(d - p), 0, 1),
        ):
            half = t * x.std(ddof=1) / math.sqrt(x.size)
            ci[key] = (x.mean(), max(lo, x.mean() - half), min(hi, x.mean() + half))
        out[name] = (d.size, ci, turns, (d - p > 0.125).mean(), (d - p < -0.125).mean())
    return out


@pytest.mark.parametrize(("seed", "k"), [(0, 11), (1, 11), (2, 5), (3, 25), (4, 2)])
def test_finalize_matches_the_figures_computed_from_every_value(seed: int, k: int) -> None:
    # k cuts long turn cells off (retention is then taken over cut conversations)
    scores = random_scores(np.random.default_rng(seed), 120)
    report = finalize_report(
        partial_of(scores), model_kind="m", privacy=PrivacySettings(min_count=k)
    ).to_dict()
    ref = reference_report(scores, k)
    groups = {g["cluster"]: g for g in report["clusters"]} | {None: report["overall"]}
    assert {n for n, g in groups.items() if g["status"] == "published"} == set(ref)
    for name, (n, ci, turns, under, over) in ref.items():
        g = groups[name]
        assert g["n"] == n
        for key, (mean, low, high) in ci.items():
            assert g[key]["mean"] == pytest.approx(mean, abs=2e-6)
            assert g[key]["low"] == pytest.approx(low, abs=2e-6)
            assert g[key]["high"] == pytest.approx(high, abs=2e-6)
        assert (g["share_under"], g["share_over"]) == (
            pytest.approx(under, abs=1e-6),
            pytest.approx(over, abs=1e-6),
        )
        cells = [(c.index, c.n, round(c.perceived, 6)) for c in turns.cells]
        got = [(c["index"], c["n"], c["perceived"]) for c in g["turns"]["cells"]]
        assert [c[:2] for c in got] == [c[:2] for c in cells]
        assert [c[2] for c in got] == pytest.approx([c[2] for c in cells], abs=2e-6)
        for key in ("slope", "retention"):
            want = getattr(turns, key)
            assert (g["turns"][key] is None) == (want is None)
            if want is not None:
                assert g["turns"][key] == pytest.approx(want, abs=2e-6)
    assert (
        any(len(g["turns"]["cells"]) < 9 for g in groups.values() if g["status"] == "published")
        or k <= 2
    )


def test_a_shard_with_few_conversations_in_a_cluster_contributes_invisibly() -> None:
    rng = np.random.default_rng(5)
    big = random_scores(rng, 100)
    small = [s for s in random_scores(rng, 40) if s.cluster == CLUSTERS[2]][:3]
    assert len(small) == 3  # fewer than k = 11 in that cluster on that shard
    merged = finalize_report(partial_of(big).merge(partial_of(small)), model_kind="m")
    whole = build_report(
        ScoreTable.from_scores(big + small, CLUSTERS),
        clusters=CLUSTERS,
        tolerance=0.125,
        model_kind="m",
    )
    assert merged.to_dict() == whole.to_dict()
    alone = finalize_report(partial_of(small), model_kind="m").to_dict()
    assert [g["status"] for g in alone["clusters"]] == ["empty", "empty", "withheld"]


def test_one_conversation_has_the_whole_range_as_interval() -> None:
    est = metrics.interval_from_sums(1, 1, 1, bounds=(0.0, 1.0))
    assert (est.mean, est.low, est.high) == (1.0, 0.0, 1.0)
    # .4, .4, .6, .6: mean .5, s^2 = (1.04 - 4 * .25) / 3, half width t(3) s / 2 = 0.1837
    est = metrics.interval_from_sums(4, Fraction(2), Fraction(104, 100), bounds=(0.0, 1.0))
    half = metrics.student_t_quantile(0.975, 3) * math.sqrt(0.04 / 3) / 2
    assert (est.low, est.high) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    assert half == pytest.approx(0.1837, abs=1e-4)
    # clipped to the scale: 0, 0, 1, 1 spans more than [0, 1]
    est = metrics.interval_from_sums(4, 2, 2, bounds=(0.0, 1.0))
    assert (est.low, est.high) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("df", "expected"),
    # scipy.stats.t.ppf(0.975, df), scipy 1.17.1
    [
        (1, 12.706204736174694),
        (5, 2.5705818356363146),
        (10, 2.228138851986274),
        (30, 2.0422724563012378),
        (1000, 1.9623390808264083),
        (10**7, 1.959964221767205),
    ],
)
def test_student_t_quantile_against_published_values(df: int, expected: float) -> None:
    assert metrics.student_t_quantile(0.975, df) == pytest.approx(expected, rel=1e-9)
    assert metrics.student_t_quantile(0.025, df) == pytest.approx(-expected, rel=1e-9)
