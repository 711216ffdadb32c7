"""The default bundle's head (pure numpy) and the rated-conversation loader, on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_eval.errors import ConfigError
from edge_eval.training.head import (
    HeadFeatures,
    centre_within_groups,
    feature_mask,
    fit_head,
    fit_weighted_ridge,
)
from edge_eval.training.human import grouped_folds, ieval_group, rated_conversations


def test_feature_mask_reads_response_and_length_or_everything() -> None:
    mask = feature_mask(HeadFeatures.RESPONSE_LENGTH, 4)
    assert mask.tolist() == [True] * 4 + [False] * 8 + [True]
    assert feature_mask(HeadFeatures.ALL_LENGTH, 4).all()


def test_a_conversation_rating_constrains_the_mean_of_its_turn_scores() -> None:
    rng = np.random.default_rng(0)
    hidden, n_conv, turns = 3, 400, 3
    true_w = rng.normal(size=3 * hidden + 1)
    x = rng.normal(size=(n_conv * turns, 3 * hidden + 1))
    conv = np.repeat(np.arange(n_conv), turns)
    turn_score = x @ true_w + 3.0
    ratings = np.bincount(conv, weights=turn_score) / turns
    conv_x = np.stack([x[conv == i].mean(0) for i in range(n_conv)])
    fit = fit_head(
        np.ones(3 * hidden + 1, bool), alpha=1e-6, conversation_x=conv_x, conversation_y=ratings
    )
    # Learned from conversation means only, it scores single turns like the true head.
    assert np.allclose(fit.predict(x), turn_score, atol=1e-3)
    masked = fit_head(
        feature_mask(HeadFeatures.RESPONSE_LENGTH, hidden),
        alpha=1e-6,
        conversation_x=conv_x,
        conversation_y=ratings,
    )
    assert np.all(masked.weight[hidden : 3 * hidden] == 0.0)


def test_turn_share_moves_the_head_towards_the_labelled_turns() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    y_conv, y_turn = x[:, 0], x[:, 1]  # two sources that disagree
    mask = np.ones(2, bool)
    kwargs = {"alpha": 1e-6, "conversation_x": x, "conversation_y": y_conv, "turn_x": x}
    low = fit_head(mask, turn_y=y_turn, turn_share=0.1, **kwargs)
    high = fit_head(mask, turn_y=y_turn, turn_share=0.9, **kwargs)
    assert low.weight[0] > 0.85 and high.weight[1] > 0.85
    with pytest.raises(ConfigError):
        fit_head(mask, turn_share=0.5, alpha=1.0, conversation_x=x, conversation_y=y_conv)
    with pytest.raises(ConfigError):
        fit_weighted_ridge(x, y_conv, 0.0, np.ones(200))


def test_centre_within_groups_subtracts_each_groups_means() -> None:
    x = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 0.0], [7.0, 7.0]])
    y = np.array([1.0, 5.0, 2.0, 9.0])
    cx, cy = centre_within_groups(x, y, np.array(["b", "b", "a", "c"]))
    assert cx.tolist() == [[-1.0, -5.0], [1.0, 5.0], [0.0, 0.0], [0.0, 0.0]]
    assert cy.tolist() == [-2.0, 2.0, 0.0, 0.0]


def test_contrasts_order_replies_but_never_set_the_level() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 2))
    y_conv = 3.0 + x[:, 0]
    # Graded replies: five per message, their order set by feature 1; each message at its own
    # level, far from the conversations' (+40 on labels, +5 on features).
    groups = np.repeat(np.arange(60), 5)
    gx = rng.normal(size=(300, 2))
    offset = rng.normal(size=60)[groups]
    gy = 40.0 * offset + gx[:, 1]
    cx, cy = centre_within_groups(gx + 5.0 * offset[:, None], gy, groups)
    mask = np.ones(2, bool)
    kwargs = {"alpha": 1e-6, "conversation_x": x, "conversation_y": y_conv}
    without = fit_head(mask, **kwargs)
    with_contrasts = fit_head(mask, contrast_x=cx, contrast_y=cy, contrast_share=0.5, **kwargs)
    assert abs(without.weight[1]) < 0.05 and with_contrasts.weight[1] > 0.3
    # The level comes from the rated conversations alone: their mean score is their mean rating,
    # whatever level the graded messages sat at (it was removed, not learned).
    assert np.mean(with_contrasts.predict(x)) == pytest.approx(np.mean(y_conv), abs=1e-9)
    sx, sy = centre_within_groups(gx, gy + 100.0, groups)
    shifted = fit_head(mask, contrast_x=sx, contrast_y=sy, contrast_share=0.5, **kwargs)
    assert np.allclose(shifted.weight, with_contrasts.weight)
    with pytest.raises(ConfigError, match="contrast"):
        fit_head(mask, contrast_share=0.2, **kwargs)
    with pytest.raises(ConfigError, match="conversations"):
        fit_head(mask, turn_x=x, turn_y=y_conv, turn_share=0.5, contrast_x=cx, contrast_y=cy,
                 contrast_share=0.5, **kwargs)  # fmt: skip


def test_within_rater_rows_remove_the_raters_leniency() -> None:
    rng = np.random.default_rng(3)
    raters = np.repeat(np.arange(100), 4)
    leniency = rng.normal(size=100)[raters]
    x = rng.normal(size=(400, 2))
    x[:, 1] += 2.0 * leniency  # feature 1 tells the rater, not how empathetic the reply was
    y = 3.0 + x[:, 0] + leniency
    mask = np.ones(2, bool)
    kwargs = {"alpha": 1e-6, "conversation_x": x, "conversation_y": y}
    plain = fit_head(mask, **kwargs)
    some = fit_head(mask, conversation_groups=raters, group_share=0.5, **kwargs)
    within = fit_head(mask, conversation_groups=raters, group_share=0.99, **kwargs)
    assert plain.weight[1] > 0.3 and plain.weight[1] > some.weight[1] > abs(within.weight[1])
    assert abs(within.weight[1]) < 0.05
    assert within.weight[0] == pytest.approx(1.0, abs=0.1)
    # The level still comes from the uncentred rows: mean score = mean rating.
    assert np.mean(within.predict(x)) == pytest.approx(np.mean(y), abs=1e-9)
    # A rater with one conversation adds nothing: dropping it changes no weight.
    alone = np.concatenate([raters, [1000]])
    x1, y1 = np.vstack([x, [[0.0, 50.0]]]), np.append(y, 40.0)
    one = fit_head(mask, alpha=1e-6, conversation_x=x1, conversation_y=y1,
                   conversation_groups=alone, group_share=0.9)  # fmt: skip
    two = fit_head(mask, alpha=1e-6, conversation_x=x1, conversation_y=y1,
                   conversation_groups=np.append(raters, [0]), group_share=0.9)  # fmt: skip
    assert not np.allclose(one.weight, two.weight)
    with pytest.raises(ConfigError, match="rater"):
        fit_head(mask, group_share=0.5, **kwargs)
    with pytest.raises(ConfigError, match="nothing to compare"):
        fit_head(mask, conversation_groups=np.arange(400), group_share=0.5, **kwargs)
    with pytest.raises(ConfigError, match="conversations some weight"):
        fit_head(mask, conversation_groups=raters, group_share=0.6, contrast_x=x, contrast_y=y,
                 contrast_share=0.5, **kwargs)  # fmt: skip


def test_centred_rows_can_share_their_weight_unequally() -> None:
    rng = np.random.default_rng(4)
    x, cx = rng.normal(size=(50, 3)), rng.normal(size=(20, 3))
    y, cy = x @ [1.0, 0.0, 0.5], cx @ [0.0, 2.0, 0.0]
    w = np.ones(50)
    equal = fit_weighted_ridge(x, y, 1e-3, w, centred_x=cx, centred_y=cy, centred_weight=0.4)
    ones = fit_weighted_ridge(x, y, 1e-3, w, centred_x=cx, centred_y=cy, centred_weight=0.4,
                              centred_sample_weight=np.full(20, 7.0))  # fmt: skip
    assert np.allclose(equal[0], ones[0]) and equal[1] == pytest.approx(ones[1])
    # A row given no weight is a row left out (its share goes to the others).
    keep = np.arange(20) < 12
    zero = fit_weighted_ridge(x, y, 1e-3, w, centred_x=cx, centred_y=cy, centred_weight=0.4,
                              centred_sample_weight=keep.astype(float))  # fmt: skip
    dropped = fit_weighted_ridge(x, y, 1e-3, w, centred_x=cx[keep], centred_y=cy[keep],
                                 centred_weight=0.4)  # fmt: skip
    assert np.allclose(zero[0], dropped[0])


def test_ieval_groups_and_folds_keep_a_person_on_one_side() -> None:
    assert ieval_group("ieval-17-negative-Pink") == "17"
    assert ieval_group("c1") == "c1"
    groups = np.array([3, 3, 1, 1, 2, 0, 0, 4, 5, 5])
    folds = grouped_folds(groups, 3)
    for g in np.unique(groups):
        assert len(set(folds[groups == g])) == 1
    assert set(folds) == {0, 1, 2}
    with pytest.raises(ConfigError):
        grouped_folds(groups, 1)


def test_rated_conversations_reads_ratings_turns_and_groups(tmp_path: Path) -> None:
    rows = [
        {"id": f"ieval-{p}-positive-{b}", "perceived_empathy": r, "messages": [
            {"role": "user", "content": "u one"}, {"role": "assistant", "content": "a b c"},
            {"role": "user", "content": "u two"}, {"role": "assistant", "content": "d"}]}
        for p, b, r in [(1, "Pink", 2.0), (1, "Green", 4.5), (2, "Pink", 3.0)]
    ]  # fmt: skip
    rows.append({"id": "unrated", "messages": [{"role": "assistant", "content": "x"}]})
    path = tmp_path / "rated.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", "utf-8")
    rated = rated_conversations(path)
    assert rated.ratings.tolist() == [2.0, 4.5, 3.0]
    assert rated.groups.tolist() == [0, 0, 1]
    assert rated.conversation_of_turn.tolist() == [0, 0, 1, 1, 2, 2]
    assert rated.conversation_mean(rated.response_words).tolist() == [2.0, 2.0, 2.0]
    path.write_text(json.dumps(rows[-1]) + "\n", "utf-8")
    with pytest.raises(ConfigError, match="perceived_empathy"):
        rated_conversations(path)
