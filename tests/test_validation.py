"""Agreement metrics against hand-computed values, the bootstrap and the privacy gate."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edge_eval.errors import ConfigError
from edge_eval.validation import (
    accuracy,
    bootstrap_ci,
    compare_level,
    conversation_pairs,
    level_bins,
    macro_f1,
    mean_absolute_error,
    partial_spearman,
    rank_average,
    round_labels,
    spearman,
    validate_scores,
    within1_accuracy,
)

TRUE = [1, 2, 3, 4, 5]
PRED = [1.4, 2.5, 2.6, 5.0, 4.4]  # rounded: 1, 3, 3, 5, 4


def test_round_labels_half_up_and_clipped() -> None:
    assert round_labels([0.2, 2.5, 3.49, 5.7, 1.5, 4.5]).tolist() == [1, 3, 3, 5, 2, 5]


def test_metrics_by_hand() -> None:
    assert accuracy(TRUE, PRED) == pytest.approx(2 / 5)  # 1=1 and 3=3
    assert within1_accuracy(TRUE, PRED) == pytest.approx(1.0)  # diffs 0,1,0,1,1
    # F1 per class: 1 -> 1, 2 -> 0, 3 -> 2*1/(2*1+1+0) = 2/3, 4 -> 0, 5 -> 0
    assert macro_f1(TRUE, PRED) == pytest.approx((1 + 2 / 3) / 5)
    assert mean_absolute_error(TRUE, PRED) == pytest.approx(2.9 / 5)
    # rank differences 0,0,0,-1,1: rho = 1 - 6*2 / (5*(25-1)) = 0.9
    assert spearman(TRUE, PRED) == pytest.approx(0.9)


def test_macro_f1_only_counts_classes_that_occur() -> None:
    # classes {2, 4}: class 2 tp=1 fp=1 fn=0 -> 2/3, class 4 tp=0 -> 0
    assert macro_f1([2, 4], [2, 2]) == pytest.approx((2 / 3 + 0) / 2)
    assert macro_f1([3, 3, 3], [3, 3, 3]) == 1.0


def test_spearman_with_ties_and_constants() -> None:
    assert rank_average(np.array([10.0, 20.0, 20.0, 5.0])).tolist() == [2.0, 3.5, 3.5, 1.0]
    # ranks [1, 2.5, 2.5, 4] vs [1, 2, 3, 4]: 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([2, 2, 2], [1, 2, 3]))


def test_partial_spearman_by_hand_and_by_residuals() -> None:
    # labels ranked 1..4, scores 2, 1, 4, 3, a baseline splitting them in two halves:
    # rho(labels, scores) 0.6 overall, but within each half the scores order them backwards
    labels, scores, halves = [1, 2, 3, 4], [2, 1, 4, 3], [0, 0, 1, 1]
    assert spearman(labels, scores) == pytest.approx(0.6)
    # rho with the halves: 4 / sqrt(5 * 4) on both sides -> (0.6 - 0.8) / (1 - 0.8) = -1
    assert partial_spearman(labels, scores, halves) == pytest.approx(-1.0)
    # the same figure as the correlation of the ranks' residuals after the baseline's ranks
    rng = np.random.default_rng(5)
    length = rng.integers(3, 60, size=200).astype(float)
    human = np.clip(np.round(1 + length / 20 + rng.normal(0, 1, 200)), 1, 5)
    model = human + 0.05 * length + rng.normal(0, 1.5, 200)
    ranks = [rank_average(np.asarray(v, dtype=float)) for v in (human, model, length)]
    design = np.c_[np.ones(200), ranks[2]]
    residuals = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in ranks[:2]]
    expected = np.corrcoef(*residuals)[0, 1]
    assert partial_spearman(human, model, length) == pytest.approx(expected)
    # undefined when the baseline already orders a side perfectly, or a side is constant
    assert math.isnan(partial_spearman([1, 2, 3], [1, 3, 2], [5, 6, 7]))
    assert math.isnan(partial_spearman([1, 2, 3], [2, 2, 2], [1, 3, 2]))
    with pytest.raises(ValueError, match="control has 2 values for 3 pairs"):
        partial_spearman([1, 2, 3], [1, 2, 3], [1, 2])


def test_metrics_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="pair up"):
        accuracy([1, 2], [1])
    with pytest.raises(ValueError, match="finite"):
        spearman([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="at least one"):
        mean_absolute_error([], [])


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(3)
    human = rng.integers(1, 6, size=60).astype(float)
    model = human + rng.normal(0, 1.2, size=60)
    first = bootstrap_ci(spearman, human, model, n_boot=300, seed=7)
    assert first == bootstrap_ci(spearman, human, model, n_boot=300, seed=7)
    assert first != bootstrap_ci(spearman, human, model, n_boot=300, seed=8)
    low, high = first
    assert low < spearman(human, model) < high
    assert -1.0 <= low < high <= 1.0
    # perfectly monotone data: every resample (that is not constant) has rho = 1
    assert bootstrap_ci(spearman, [1, 2, 3, 4, 5], [2, 4, 6, 8, 10], n_boot=50) == (1.0, 1.0)
    # only constant resamples possible -> undefined
    low, high = bootstrap_ci(spearman, [3, 3], [1, 1], n_boot=10)
    assert math.isnan(low) and math.isnan(high)


def test_compare_level_gate_drops_nan_pairs_first() -> None:
    human = [1, 2, 3, 4, 5] * 2 + [float("nan")]
    model = [1, 2, 3, 4, 5] * 2 + [3.0]
    assert compare_level(human, model, min_count=11) is None  # 10 finite pairs < 11
    level = compare_level(human, model, min_count=10, n_boot=50)
    assert level is not None
    assert level.n == 10
    assert level.spearman == pytest.approx(1.0)
    assert level.mae == 0.0 and level.accuracy == 1.0 and level.within1 == 1.0
    with pytest.raises(ConfigError):
        compare_level(human, model, min_count=0)


def test_conversation_pairs_turn_first_fallback() -> None:
    human, model = conversation_pairs(
        turn_human=[5, float("nan"), 2, float("nan"), float("nan")],
        turn_model=[3, 5, 1, 3, 4],
        turn_conv=[0, 0, 1, 1, 2],
        conv_human=[4.0, float("nan"), float("nan")],
    )
    # conv 0: its own rating (4), not its turn mean (5); conv 1: turn mean of [2]; conv 2: none
    assert human[:2].tolist() == [4.0, 2.0] and math.isnan(human[2])
    assert model.tolist() == [4.0, 2.0, 4.0]


def test_validate_scores_structure_and_gate() -> None:
    rng = np.random.default_rng(0)
    n_conv, per = 12, 3
    turn_conv = np.repeat(np.arange(n_conv), per)
    turn_human = rng.integers(1, 6, size=n_conv * per).astype(float)
    turn_model = np.clip(turn_human + rng.normal(0, 0.8, size=turn_human.size), 1, 5)
    turn_model[0] = np.nan  # one labelled turn the model could not score
    report = validate_scores(
        turn_human=turn_human,
        turn_model=turn_model,
        turn_conv=turn_conv,
        conv_human=np.full(n_conv, np.nan),
        n_boot=100,
    )
    data = report.to_dict()
    keys = ["n", "spearman", "spearman_ci", "mae", "accuracy", "macro_f1", "within1"]
    assert list(data) == ["turn", "conversation"]
    assert list(data["turn"]) == keys and list(data["conversation"]) == keys
    assert data["turn"]["n"] == n_conv * per - 1
    assert report.turns_unscored == 1
    assert data["conversation"]["n"] == n_conv
    assert data["turn"]["mae"] == pytest.approx(float(np.nanmean(np.abs(turn_human - turn_model))))
    json.dumps(data, allow_nan=False)  # plain JSON: no NaN

    # 10 conversations: below k=11 -> the conversation level is withheld, the turn level stays
    small = validate_scores(
        turn_human=turn_human[: 10 * per],
        turn_model=turn_model[: 10 * per],
        turn_conv=turn_conv[: 10 * per],
        conv_human=np.full(10, np.nan),
        n_boot=20,
    ).to_dict()
    assert small["conversation"] is None
    assert small["turn"] is not None and small["turn"]["n"] == 10 * per - 1


def test_no_labels_gives_nulls() -> None:
    report = validate_scores(
        turn_human=[np.nan] * 30,
        turn_model=[3.0] * 30,
        turn_conv=list(range(30)),
        conv_human=[np.nan] * 30,
    )
    assert report.to_dict() == {"turn": None, "conversation": None}


def test_undefined_rho_is_null_in_json() -> None:
    level = compare_level([3.0] * 12, [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2], n_boot=20)
    assert level is not None
    data = level.to_dict()
    assert data["spearman"] is None and data["spearman_ci"] == [None, None]
    assert data["accuracy"] == pytest.approx(2 / 12)  # the two 3s


def test_level_bins_by_hand_merge_small_levels_upwards() -> None:
    # people (rounded half up): 1.4 -> 1, 1.5 -> 2, 2.5 -> 3; the NaN pairs are dropped first
    human = np.array([1, 1.4, 1, 1.5, 2, 2.5, 3, 3, 4, 5, np.nan, 2])
    model = np.array([2.0, 2.2, 2.4, 3.0, 3.5, 2.0, 4.0, 3.0, 5.0, 4.0, 1.0, np.nan])
    bins = level_bins(human, model, min_count=3)
    # level 1: 3 pairs (a bin); 2: 2 pairs, so 2-3 together (2 + 3 = 5); 4 and 5 leave a
    # remainder of 2 pairs under 3, which joins the last bin: 2-5 with 7
    assert [(b.low, b.high, b.n) for b in bins] == [(1, 1, 3), (2, 5, 7)]
    # the bins tile the scale whatever levels occur: no level 1 or 5 here, one level 4
    rare = level_bins(np.array([2.0, 2, 3, 3, 4]), np.array([1.0, 2, 3, 4, 5]), min_count=2)
    assert [(b.low, b.high, b.n) for b in rare] == [(1, 2, 2), (3, 5, 3)]
    assert bins[0].mean_predicted == pytest.approx((2.0 + 2.2 + 2.4) / 3)
    assert bins[1].mean_predicted == pytest.approx((3.0 + 3.5 + 2.0 + 4.0 + 3.0 + 5.0 + 4.0) / 7)
    assert bins[0].to_dict() == {"levels": [1, 1], "n": 3, "mean_predicted": pytest.approx(2.2)}
    one_each = level_bins(np.array([1.0, 2, 3, 4, 5]), np.array([1.0, 2, 3, 4, 5]), min_count=1)
    assert [(b.low, b.n, b.mean_predicted) for b in one_each] == [(k, 1, k) for k in range(1, 6)]


@pytest.mark.parametrize("seed", range(20))
def test_level_bins_never_publish_a_small_group(seed: int) -> None:
    """Every bin holds at least k pairs and the bins add up to the level: no bin is withheld,
    so none can be recovered from the totals by difference."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(11, 60))
    human = rng.choice([1, 2, 3, 4, 5], size=n, p=rng.dirichlet(np.ones(5) * 0.3))
    model = rng.uniform(1, 5, size=n)
    bins = level_bins(human.astype(float), model, min_count=11)
    assert all(b.n >= 11 for b in bins)
    assert sum(b.n for b in bins) == n
    assert bins[0].low == 1 and bins[-1].high == 5
    assert all(a.high + 1 == b.low for a, b in zip(bins[:-1], bins[1:], strict=True))
    weighted = sum(b.n * b.mean_predicted for b in bins) / n
    assert weighted == pytest.approx(model.mean())
