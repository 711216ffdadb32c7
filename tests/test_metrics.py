"""Metrics against hand-computed values (the arithmetic is in the comments)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_eval import metrics


def rng(seed: int = 0) -> np.random.Generator:
    return metrics.group_rng(seed, "test")


def test_normalisation_maps_both_scales_to_unit_interval() -> None:
    # d = (desired - 1) / 2: 1 -> 0, 2 -> 0.5, 3 -> 1;  p = (perceived - 1) / 4: 1, 3, 5 -> 0, .5, 1
    assert metrics.normalise_desired(np.array([1.0, 2.0, 3.0])).tolist() == [0.0, 0.5, 1.0]
    assert metrics.normalise_perceived(np.array([1.0, 3.0, 5.0, 2.0])).tolist() == [
        0.0,
        0.5,
        1.0,
        0.25,
    ]


def test_gap_summary_hand_computed() -> None:
    # desired 3, 3, 2 -> d = 1, 1, .5 ; perceived 4, 3, 4 -> p = .75, .5, .75
    # g = d - p = .25, .5, -.25 ; e = .25, .5, .25
    # mean d = 2.5/3 = .833333 ; mean p = 2/3 = .666667 ; mean g = .5/3 = .166667 ;
    # mean e = 1/3 = .333333 ; tolerance .25: under = #(g > .25) / 3 = 1/3 (g = .25 is aligned);
    # over = #(g < -.25) / 3 = 0 (g = -.25 is aligned) ; raw means: 8/3 and 11/3
    d = metrics.normalise_desired(np.array([3.0, 3.0, 2.0]))
    p = metrics.normalise_perceived(np.array([4.0, 3.0, 4.0]))
    s = metrics.summarise_gap(d, p, tolerance=0.25, rng=rng(), n_boot=500)
    assert s.n == 3
    assert s.desired.mean == pytest.approx(2.5 / 3)
    assert s.perceived.mean == pytest.approx(2 / 3)
    assert s.gap.mean == pytest.approx(0.5 / 3)
    assert s.error.mean == pytest.approx(1 / 3)
    assert s.share_under == pytest.approx(1 / 3)
    assert s.share_over == 0.0
    assert s.desired_raw == pytest.approx(8 / 3)
    assert s.perceived_raw == pytest.approx(11 / 3)
    for est in (s.desired, s.perceived, s.gap, s.error):
        assert est.low <= est.mean <= est.high


def test_shares_under_and_over() -> None:
    # g = .5, -.5, 0, .1 with tolerance .125: under = 1/4 (only .5), over = 1/4 (only -.5)
    d = np.array([1.0, 0.0, 0.5, 0.6])
    p = np.array([0.5, 0.5, 0.5, 0.5])
    s = metrics.summarise_gap(d, p, tolerance=0.125, rng=rng(), n_boot=10)
    assert (s.share_under, s.share_over) == (0.25, 0.25)
    assert s.error.mean == pytest.approx((0.5 + 0.5 + 0.0 + 0.1) / 4)


def test_bootstrap_interval_of_two_points_spans_both() -> None:
    # Resampling [0, 1] gives means 0, .5, 1 with probabilities 1/4, 1/2, 1/4: with 2000
    # resamples the 2.5% and 97.5% quantiles are 0 and 1 (each end has ~500 draws).
    s = metrics.summarise_gap(
        np.array([0.0, 1.0]), np.array([0.0, 0.0]), tolerance=0.1, rng=rng(), n_boot=2000
    )
    assert (s.desired.low, s.desired.mean, s.desired.high) == (0.0, 0.5, 1.0)
    # p is constant: its interval collapses on the mean
    assert (s.perceived.low, s.perceived.high) == (0.0, 0.0)


def test_bootstrap_is_deterministic_for_a_seed_and_contains_the_mean() -> None:
    values = np.random.default_rng(7).uniform(0, 1, size=(2, 50))
    a = metrics.summarise_gap(values[0], values[1], tolerance=0.1, rng=rng(3))
    b = metrics.summarise_gap(values[0], values[1], tolerance=0.1, rng=rng(3))
    c = metrics.summarise_gap(values[0], values[1], tolerance=0.1, rng=rng(4))
    assert a == b
    assert a.perceived != c.perceived  # another seed gives another interval
    for est in (a.desired, a.perceived, a.gap, a.error):
        assert est.low < est.mean < est.high
        # a 95% interval of a mean of 50 uniforms is about +-2 * 0.29 / sqrt(50) = +-0.08 wide
        assert 0.03 < est.high - est.low < 0.3


def test_bootstrap_does_not_depend_on_chunking() -> None:
    # n = 3000 forces several chunks; the reference draws all resamples in one call.
    n, n_boot = 3000, 400
    values = np.random.default_rng(1).uniform(0, 1, size=n)
    s = metrics.summarise_gap(values, np.zeros(n), tolerance=0.1, rng=rng(5), n_boot=n_boot)
    rows = rng(5).integers(0, n, size=(n_boot, n), dtype=np.int32)
    means = values[rows].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    assert (s.desired.low, s.desired.high) == (pytest.approx(low), pytest.approx(high))


def test_group_rng_depends_on_seed_and_key_only() -> None:
    draw = lambda seed, key: metrics.group_rng(seed, key).integers(0, 1 << 30)  # noqa: E731
    assert draw(0, "a") == draw(0, "a")
    assert draw(0, "a") != draw(0, "b")
    assert draw(0, "a") != draw(1, "a")


def test_turn_curve_and_slope_hand_computed() -> None:
    # conv 0: scores 5, 4, 3 -> p 1, .75, .5 ; conv 1: 3, 3 -> .5, .5 ; conv 2: 1 -> 0
    # index 1: (1 + .5 + 0)/3 = .5 (n 3) ; index 2: (.75 + .5)/2 = .625 (n 2) ; index 3: .5 (n 1)
    # slope: x = 1,2,3,1,2,1 ; mean x = 10/6 ; dx = -2/3, 1/3, 4/3, -2/3, 1/3, -2/3
    #   sum dx^2 = (4+1+16+4+1+4)/9 = 30/9 ; sum dx*y = -2/3 + .25 + 2/3 - 1/3 + 1/6 + 0 = 1/12
    #   slope = (1/12) / (30/9) = 0.025
    conv = np.array([0, 0, 0, 1, 1, 2])
    index = np.array([1, 2, 3, 1, 2, 1])
    p = metrics.normalise_perceived(np.array([5.0, 4.0, 3.0, 3.0, 3.0, 1.0]))
    summary = metrics.summarise_turns(conv, index, p)
    assert [(c.index, c.n) for c in summary.cells] == [(1, 3), (2, 2), (3, 1)]
    assert [c.perceived for c in summary.cells] == pytest.approx([0.5, 0.625, 0.5])
    assert summary.slope == pytest.approx(0.025)
    # only conv 0 has 3 turns: first third = turn 1 (p 1), last third = turn 3 (p .5)
    assert summary.retention == pytest.approx(0.5)


def test_retention_thirds_hand_computed() -> None:
    # conv 0, T = 3: ceil(3/3) = 1 -> first {1}: p 1 ; last {3}: p .5
    # conv 1, T = 5: ceil(5/3) = 2 -> first {1, 2}: p 1, 1 ; last {4, 5}: p .5, 0 ; turn 3 unused
    # conv 2, T = 2: too short, ignored (its p 0, 0 would otherwise lower the first third)
    # retention = mean(.5, .5, 0) / mean(1, 1, 1) = 1/3
    conv = np.array([0, 0, 0, 1, 1, 1, 1, 1, 2, 2])
    index = np.array([1, 2, 3, 1, 2, 3, 4, 5, 1, 2])
    p = np.array([1.0, 0.9, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0])
    assert metrics.retention(conv, index, p) == pytest.approx(1 / 3)


def test_retention_undefined_cases() -> None:
    # no conversation with 3 turns
    assert metrics.retention(np.array([0, 0]), np.array([1, 2]), np.array([0.5, 0.5])) is None
    # first-third mean is 0: the ratio is undefined
    zero_start = metrics.retention(np.array([0, 0, 0]), np.array([1, 2, 3]), np.array([0, 1, 1]))
    assert zero_start is None
    assert metrics.retention(np.array([]), np.array([]), np.array([])) is None


def test_ols_slope_hand_computed_and_undefined() -> None:
    # y = 0, .5, 1 at x = 1, 2, 3: slope .5
    assert metrics.ols_slope(np.array([1, 2, 3]), np.array([0.0, 0.5, 1.0])) == pytest.approx(0.5)
    # x = 1, 1, 2, 2 ; y = .2, .4, .9, .7: slope = mean(y|2) - mean(y|1) = .8 - .3 = .5
    slope = metrics.ols_slope(np.array([1, 1, 2, 2]), np.array([0.2, 0.4, 0.9, 0.7]))
    assert slope == pytest.approx(0.5)
    assert metrics.ols_slope(np.array([2, 2]), np.array([0.1, 0.3])) is None
    assert metrics.ols_slope(np.array([1]), np.array([0.1])) is None


def test_baseline_comparison_hand_computed() -> None:
    # E_base .4, E_cand .1: 100 * (.4 - .1) / .4 = 75 ; p .5 -> .6: factor 1.2
    assert metrics.gap_reduction(0.4, 0.1) == pytest.approx(75.0)
    assert metrics.gap_reduction(0.2, 0.3) == pytest.approx(-50.0)  # worse than the baseline
    assert metrics.score_factor(0.5, 0.6) == pytest.approx(1.2)
    assert metrics.gap_reduction(0.0, 0.1) is None
    assert metrics.score_factor(0.0, 0.6) is None


def test_summarise_gap_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        metrics.summarise_gap(np.array([]), np.array([]), tolerance=0.1, rng=rng())
    with pytest.raises(ValueError):
        metrics.summarise_gap(np.array([0.1]), np.array([0.1, 0.2]), tolerance=0.1, rng=rng())
