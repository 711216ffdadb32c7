"""The rubric head (``BuildConfig.rubric_head``): fitted on the reply labels of the training
conversations only, then mapped onto people's ratings by an affine calibration.

Pure numpy on seeded data: the calibration against hand-computed values, the rows a fold's head
may read (differential: the held-out conversations' labels and ratings cannot move it), NaN
labels skipped, and the configuration's guard.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edge_eval.errors import ConfigError
from edge_eval.reward.base import TurnInput
from edge_eval.training.build import BuildConfig, RubricRows, fit_rated_head
from edge_eval.training.head import HeadFit, affine_calibrated
from edge_eval.training.human import RatedConversations

WIDTH = 5


def test_affine_calibration_matches_hand_values_and_keeps_the_head_linear() -> None:
    fit = HeadFit(weight=np.array([1.0, 0.0, 2.0]), bias=0.5)
    x = np.array([[0.0, 9.0, 0.0], [1.0, 9.0, 0.0], [0.0, 9.0, 1.0]])  # scores 0.5, 1.5, 2.5
    y = np.array([2.0, 2.5, 3.0])  # = 0.5 * score + 1.75
    out = affine_calibrated(fit, x, y)
    np.testing.assert_allclose(out.weight, [0.5, 0.0, 1.0])
    assert out.bias == pytest.approx(0.5 * 0.5 + 1.75)
    np.testing.assert_allclose(out.predict(x), y)
    # the mean of mapped turn scores is the mapped mean: a conversation's score stays the mean
    np.testing.assert_allclose(out.predict(x.mean(0, keepdims=True)), [y.mean()])
    with pytest.raises(ConfigError, match="two distinct"):
        affine_calibrated(fit, np.tile(x[:1], (3, 1)), y)  # every row scores the same


def _rated(n_conv: int, turns: int, seed: int) -> tuple[RatedConversations, np.ndarray]:
    rng = np.random.default_rng(seed)
    conv = np.repeat(np.arange(n_conv), turns)
    x = rng.normal(size=(n_conv * turns, WIDTH))
    x[:, -1] = rng.uniform(1.0, 4.0, size=len(x))  # the log-length column
    rated = RatedConversations(
        turns=tuple(TurnInput(context=(("user", "u"),), response="r") for _ in conv),
        conversation_of_turn=conv,
        ratings=rng.uniform(1.0, 5.0, size=n_conv),
        groups=np.arange(n_conv) // 4,
        systems=np.arange(n_conv) % 4,
        response_words=np.ones(len(conv)),
    )
    return rated, x


def test_a_folds_rubric_head_reads_only_its_training_conversations() -> None:
    rated, x = _rated(40, 3, 0)
    rng = np.random.default_rng(1)
    level = np.clip(x[:, :4] @ [1.0, -0.5, 0.3, 0.2] + 3.0, 1.0, 5.0)
    level[5] = np.nan  # an unlabelled reply is skipped, never a NaN in the fit
    conv_x = rated.conversation_mean(x)
    train = np.arange(40) < 30
    config = BuildConfig(ridge_alpha=1e-3, turn_share=0.1, contrast_share=0.0, rubric_head=True)
    synth_x, synth_y = rng.normal(size=(12, WIDTH)), rng.uniform(1, 5, 12)
    mask = np.ones(WIDTH, dtype=bool)

    def fit(lv: np.ndarray, ratings: np.ndarray) -> HeadFit:
        return fit_rated_head(
            replace(rated, ratings=ratings), conv_x, train, mask, config, synth_x, synth_y,
            None, RubricRows(x, lv),
        )  # fmt: skip

    base = fit(level, rated.ratings)
    assert np.isfinite(base.weight).all() and np.isfinite(base.bias)
    # least squares with an intercept: on its training conversations the mean is people's mean
    assert base.predict(conv_x[train]).mean() == pytest.approx(rated.ratings[train].mean())
    # the held-out conversations' labels and ratings cannot move the head
    test_turns = ~train[rated.conversation_of_turn]
    other_level = level.copy()
    other_level[test_turns] = 5.0 - np.nan_to_num(level[test_turns])
    other_ratings = rated.ratings.copy()
    other_ratings[~train] = 1.0
    moved = fit(other_level, other_ratings)
    np.testing.assert_array_equal(moved.weight, base.weight)
    assert moved.bias == base.bias
    # ... while a training conversation's label does move it
    changed = level.copy()
    changed[0] = 1.0 if level[0] > 3 else 5.0
    assert not np.array_equal(fit(changed, rated.ratings).weight, base.weight)
    # the order comes from the labels, not from the (here random) ratings: the held-out
    # conversations' scores follow their mean label
    labelled_mean = rated.conversation_mean(np.nan_to_num(level, nan=3.0))
    assert np.corrcoef(base.predict(conv_x[~train]), labelled_mean[~train])[0, 1] > 0.5


def test_the_rubric_head_needs_the_reply_labels() -> None:
    with pytest.raises(ConfigError, match="label-layers"):
        BuildConfig(rubric_head=True, label_layers=0)
    assert BuildConfig(rubric_head=True).rubric_head
    assert not BuildConfig().rubric_head
