"""Reply labels distilled into the encoder's top layers (bundle v8's first build step).

A tiny seeded BERT stands in for MiniLM: the cached frozen states must give exactly the graph's
features, trained layers must be what the installed graph computes, training must be seeded and
pulled back by its L2; the labels file is read by id with errors that name file, line and field
and never an id; and the build (real MiniLM, a small slice) trains one encoder per test fold and
per unseen chatbot, none of which ever sees its test rows' labels.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from edge_eval.errors import ConfigError, InputError  # noqa: E402
from edge_eval.reward.base import TurnInput  # noqa: E402
from edge_eval.reward.bundle import InputTemplate  # noqa: E402
from edge_eval.reward.encoding import TurnEncoder  # noqa: E402
from edge_eval.training.head import fit_weighted_ridge  # noqa: E402
from edge_eval.training.human import rated_conversations  # noqa: E402
from edge_eval.training.labels import (  # noqa: E402
    PAIR_LEVEL,
    FrozenStates,
    LabelDistillConfig,
    derangement,
    reply_levels,
    swapped_contexts,
)
from edge_eval.training.train import make_graph, torch_features  # noqa: E402

from .test_pooled_layers import HIDDEN, TEMPLATE, TEXTS, _bert, _by_hand, _tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
IEVAL = ROOT / "datasets" / "ieval" / "ieval.jsonl"
LABELS = ROOT / "datasets" / "ieval-reply-labels" / "labels.jsonl"
TARGETS = np.array([1.0, 3.0, 1.5, 4.0])


@pytest.fixture()
def tiny(tmp_path: Path) -> tuple[Any, TurnEncoder, list[TurnInput]]:
    tokenizer = _tokenizer(tmp_path / "tokenizer.json")
    encoder = TurnEncoder(tokenizer, InputTemplate(**TEMPLATE))
    turns = [TurnInput(context=(("user", u),), response=r) for u, r in TEXTS]
    vocab = __import__("tokenizers").Tokenizer.from_file(str(tokenizer)).get_vocab_size()
    return _bert(vocab), encoder, turns


def test_cached_states_give_the_graphs_features_before_and_after_training(
    tiny: tuple[Any, TurnEncoder, list[TurnInput]],
) -> None:
    model, encoder, turns = tiny
    uncut = copy.deepcopy(model)
    pretrained = [p.detach().clone() for p in model.parameters()]
    sequences = encoder.encode_turns(turns)
    states = FrozenStates(model, encoder, turns, pooled=(2, 3), trained=2, batch_size=3)
    assert states.first == 1 and len(states) == 4
    np.testing.assert_allclose(
        states.features(), _by_hand(uncut, sequences, encoder.pad, (2, 3)), atol=1e-5
    )

    config = LabelDistillConfig(layers=2, epochs=30, lr=1e-2, l2=0.0, batch_size=2)
    layers = states.distil(np.arange(4), TARGETS, config)
    again = states.distil(np.arange(4), TARGETS, config)
    trained = states.features(layers)
    np.testing.assert_array_equal(trained, states.features(again))  # seeded
    assert np.abs(trained - states.features()).max() > 1e-2  # the layers did learn
    for p, q in zip(model.parameters(), pretrained, strict=True):
        assert torch.equal(p, q)  # distil trains copies: the encoder is untouched

    states.install(model, layers)
    graph = make_graph(model, np.zeros(2 * HIDDEN + 1), 0.0, layers=(2, 3))
    features, _ = torch_features(graph, sequences, batch_size=4, pad_id=encoder.pad)
    np.testing.assert_allclose(features, trained[:, :-1], atol=1e-5)
    np.testing.assert_allclose(trained[:, -1], states.features()[:, -1])  # length unchanged


def test_the_l2_holds_the_layers_near_pretrained_and_zero_epochs_train_nothing(
    tiny: tuple[Any, TurnEncoder, list[TurnInput]],
) -> None:
    model, encoder, turns = tiny
    states = FrozenStates(model, encoder, turns, pooled=(3,), trained=1)
    frozen = states.features()

    def moved(l2: float) -> float:
        config = LabelDistillConfig(layers=1, epochs=40, lr=1e-2, l2=l2, batch_size=4)
        trained = states.features(states.distil(np.arange(4), TARGETS, config))
        return float(np.abs(trained - frozen).max())

    assert moved(100.0) < 0.5 * moved(0.0)
    idle = states.distil(np.arange(4), TARGETS, LabelDistillConfig(layers=1, epochs=0))
    np.testing.assert_array_equal(states.features(idle), frozen)  # 0 epochs: pretrained
    with pytest.raises(ConfigError, match="pooled layers"):
        FrozenStates(model, encoder, turns, pooled=(1, 3), trained=1)
    with pytest.raises(ConfigError, match="layer count"):
        states.distil(np.arange(4), TARGETS, LabelDistillConfig(layers=2))
    with pytest.raises(ConfigError, match="finite target"):
        states.distil(np.arange(4), np.array([1.0, np.nan, 2.0, 3.0]), LabelDistillConfig(layers=1))


def test_context_pairs_teach_a_reply_to_score_higher_after_its_own_message(
    tiny: tuple[Any, TurnEncoder, list[TurnInput]],
) -> None:
    model, encoder, turns = tiny
    # rows 4-7: the same replies after the next turn's message (a context that is not theirs)
    swapped = [
        TurnInput(context=turns[(i + 1) % 4].context, response=t.response)
        for i, t in enumerate(turns)
    ]
    states = FrozenStates(model, encoder, [*turns, *swapped], pooled=(3,), trained=1)
    pairs = (np.arange(4), np.arange(4, 8))
    plain = LabelDistillConfig(layers=1, epochs=40, lr=1e-2, l2=0.0, batch_size=4)
    paired = LabelDistillConfig(
        layers=1, epochs=40, lr=1e-2, l2=0.0, batch_size=4, pair_weight=5.0, pair_margin=1.0
    )
    without = states.features(states.distil(np.arange(4), TARGETS, plain))
    np.testing.assert_array_equal(  # weight 0: pairs change nothing (v8's training exactly)
        states.features(states.distil(np.arange(4), TARGETS, plain, pairs)), without
    )
    with_pairs = states.features(states.distil(np.arange(4), TARGETS, paired, pairs))

    def lift(x: np.ndarray) -> float:
        """Mean own - swapped score of a ridge fitted to the targets on the own rows."""
        coef, bias = fit_weighted_ridge(x[:4], TARGETS, 1e-4, np.ones(4))
        return float(np.mean((x[:4] - x[4:]) @ coef))

    assert lift(with_pairs) > lift(without) + 0.3
    with pytest.raises(ConfigError, match="as many swapped rows"):
        states.distil(np.arange(4), TARGETS, paired, (np.arange(4), np.arange(4, 7)))
    with pytest.raises(ConfigError, match="pair_weight"):
        LabelDistillConfig(pair_weight=-1.0)


def _rated(tmp_path: Path, n: int = 8) -> Any:
    path = tmp_path / "rated.jsonl"
    path.write_text("\n".join(IEVAL.read_text("utf-8").splitlines()[:n]) + "\n", "utf-8")
    return rated_conversations(path)


def test_reply_levels_are_the_mean_label_of_each_reply_matched_by_id(tmp_path: Path) -> None:
    rated = _rated(tmp_path)
    lines = [json.loads(line) for line in LABELS.read_text("utf-8").splitlines()]
    levels = reply_levels(LABELS, rated)
    assert levels.shape == (len(rated.turns),) and np.isfinite(levels).all()
    turn = 0
    for row, cid in enumerate(rated.ids):
        line = next(x for x in lines if x["id"] == cid)
        mean = np.mean([lab["levels"] for lab in line["labels"]], axis=0)
        n = int((rated.conversation_of_turn == row).sum())
        np.testing.assert_allclose(levels[turn : turn + n], mean)
        turn += n

    partial = tmp_path / "partial.jsonl"  # two conversations labelled, in another order
    partial.write_text("".join(json.dumps(x) + "\n" for x in (lines[3], lines[1])))
    got = reply_levels(partial, rated)
    labelled = np.isin(rated.conversation_of_turn, [1, 3])
    assert np.isfinite(got[labelled]).all() and np.isnan(got[~labelled]).all()
    np.testing.assert_allclose(got[labelled], levels[labelled])


@pytest.mark.parametrize(
    ("line", "message", "where"),
    [
        ("not json", "not valid JSON", "line 2"),
        ('{"labels": []}', "string id", "line 2"),
        ('{"id": "X", "labels": []}', "non-empty list", "field 'labels'"),
        ('{"id": "X", "labels": [{"levels": [1, 9]}]}', "levels 1-5", "field 'labels[0].levels'"),
        ('{"id": "X", "labels": [{"levels": [1, true]}]}', "levels 1-5", "labels[0].levels"),
    ],
)
def test_bad_label_lines_name_file_line_and_field(
    tmp_path: Path, line: str, message: str, where: str
) -> None:
    rated = _rated(tmp_path)
    first = LABELS.read_text("utf-8").splitlines()[0]
    bad = tmp_path / "labels.jsonl"
    bad.write_text(first + "\n" + line + "\n", "utf-8")
    with pytest.raises(InputError, match=message) as caught:
        reply_levels(bad, rated)
    assert "labels.jsonl" in str(caught.value) and where in str(caught.value)


def test_a_reply_count_mismatch_names_the_line_never_the_id(tmp_path: Path) -> None:
    rated = _rated(tmp_path)
    line = json.loads(LABELS.read_text("utf-8").splitlines()[2])
    line["labels"][1]["levels"] = line["labels"][1]["levels"][:-1]
    bad = tmp_path / "labels.jsonl"
    bad.write_text("\n\n" + json.dumps(line) + "\n", "utf-8")
    with pytest.raises(InputError, match="one level per assistant reply") as caught:
        reply_levels(bad, rated)
    text = str(caught.value) + str(getattr(caught.value, "hint", ""))
    assert "line 3" in text and "labels[1].levels" in text and line["id"] not in text
    other = tmp_path / "other.jsonl"  # no id of the rated file: nothing to train on
    other.write_text(json.dumps({"id": "elsewhere", "labels": [{"levels": [1]}]}) + "\n")
    with pytest.raises(ConfigError, match="no rated conversation"):
        reply_levels(other, rated)


def test_build_config_checks_the_distillation_settings() -> None:
    from edge_eval.training.build import BuildConfig
    from edge_eval.training.head import HeadFeatures

    assert BuildConfig().distillation() == LabelDistillConfig(
        layers=2, epochs=3, lr=1e-4, l2=1e-2, pair_weight=3.0, pair_margin=1.0
    )
    assert BuildConfig(label_layers=0, pair_weight=0.0).label_layers == 0
    with pytest.raises(ConfigError, match="pooled states"):
        BuildConfig(features=HeadFeatures.RESPONSE_LENGTH, pooled_layers=())
    with pytest.raises(ConfigError, match="lr > 0"):
        BuildConfig(label_lr=0.0)
    with pytest.raises(ConfigError, match="negative"):
        BuildConfig(label_layers=-1)


def _build_slice(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A small build's inputs: every 16th synthetic training conversation, every 8th held-out
    one, and iEval's first 40 rated chats (5 people x 8 chats: one person per CV fold)."""
    data = ROOT / "datasets" / "empathy-synth"
    train, heldout = tmp_path / "train.jsonl", tmp_path / "heldout.jsonl"
    train.write_text("\n".join((data / "train.jsonl").read_text().splitlines()[::16]) + "\n")
    heldout.write_text("\n".join((data / "heldout.jsonl").read_text().splitlines()[::8]) + "\n")
    human = tmp_path / "ieval.jsonl"
    human.write_text("\n".join(IEVAL.read_text("utf-8").splitlines()[:40]) + "\n", "utf-8")
    return train, heldout, human


@pytest.mark.slow
def test_the_build_trains_one_encoder_per_fold_and_chatbot_without_their_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every figure's encoder is trained without its test rows' labels; the shipped one on all;
    bundle.json says what was trained on what, with the labels' provenance."""
    from edge_eval.training.build import BuildConfig, build_default_bundle
    from edge_eval.training.human import grouped_folds

    train, heldout, human = _build_slice(tmp_path)
    rated = rated_conversations(human)
    calls: list[np.ndarray] = []
    original = FrozenStates.distil

    def recording(
        self: FrozenStates, index: np.ndarray, targets: np.ndarray, config: Any, pairs: Any = None
    ) -> Any:
        assert pairs is None  # v8's recipe: no context pairs
        calls.append(np.asarray(index).copy())
        return original(self, index, targets, config, pairs=pairs)

    monkeypatch.setattr(FrozenStates, "distil", recording)
    config = BuildConfig(contrast_share=0.0, label_epochs=1, pair_weight=0.0)
    meta = build_default_bundle(train, heldout, human, tmp_path / "b", config, labels_path=LABELS)
    conv = rated.conversation_of_turn
    folds = grouped_folds(rated.groups, 5)
    assert len(calls) == 5 + 4 + 1
    for k, rows in enumerate(calls[:5]):
        assert set(rows) == set(np.flatnonzero(folds[conv] != k))
    for system, rows in zip(np.unique(rated.systems), calls[5:9], strict=True):
        assert set(rows) == set(np.flatnonzero(rated.systems[conv] != system))
    assert set(calls[9]) == set(range(len(rated.turns)))

    training = meta["training"]
    assert training["encoder_trained"] is True
    assert [d["name"] for d in training["data"]] == ["iEval", "empathy-synth", "ieval-reply-labels"]
    assert "Apache-2.0" in training["data"][2]["licence"]
    assert training["label_distillation"]["trained_layers"] == [3, 4]
    assert training["label_distillation"]["labelled_replies"] == len(rated.turns)
    assert json.loads((tmp_path / "b" / "bundle.json").read_text())["training"] == training
    human_figures = meta["validation"]["human_agreement"]
    assert human_figures["ieval"]["n"] == 40 and human_figures["ieval_unseen_chatbot"]["n"] == 40


@pytest.mark.slow
def test_a_rubric_head_build_ships_a_head_scaled_to_people(tmp_path: Path) -> None:
    """``--head rubric``: the head fitted on the reply labels, the affine map onto people's
    ratings folded into the shipped head (its in-sample conversation means average to people's
    mean), recorded in bundle.json; the bundle loads with its hashes verified."""
    from edge_eval.reward.bundle import load_bundle
    from edge_eval.reward.onnx_scorer import OnnxRewardModel
    from edge_eval.training.build import BuildConfig, build_default_bundle

    train, heldout, human = _build_slice(tmp_path)
    config = BuildConfig(contrast_share=0.0, label_epochs=1, rubric_head=True, pair_weight=0.0)
    meta = build_default_bundle(train, heldout, human, tmp_path / "b", config, labels_path=LABELS)
    training = meta["training"]
    assert training["rubric_head"] is True and "affine map" in training["head"]
    assert training["encoder_trained"] is True
    model = OnnxRewardModel(load_bundle(tmp_path / "b"), device="cpu", batch_size=8)
    rated = rated_conversations(human)
    conv = rated.conversation_mean(model.score_turns(list(rated.turns)))
    # least squares with an intercept: in-sample, the means agree (int8 and clipping aside)
    assert abs(conv.mean() - rated.ratings.mean()) < 0.1
    assert meta["validation"]["human_agreement"]["ieval"]["n"] == 40


@pytest.mark.slow
def test_graded_layers_distil_the_graded_replies_in_every_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--graded-layers``: every one of the ten trainings sees the graded replies' levels beside
    the iEval labels it may see (never a test fold's); bundle.json records it and marks the
    graded-replies figure as in-sample for the encoder."""
    from edge_eval.training.build import BuildConfig, build_default_bundle
    from edge_eval.training.human import grouped_folds
    from edge_eval.training.train import labelled_turns

    train, heldout, human = _build_slice(tmp_path)
    behaviours = tmp_path / "behaviours.jsonl"  # 10 messages, five graded replies each
    lines = (ROOT / "datasets" / "empathy-behaviours" / "behaviours.jsonl").read_text("utf-8")
    behaviours.write_text("\n".join(lines.splitlines()[:50]) + "\n", "utf-8")
    rated, graded = rated_conversations(human), labelled_turns(behaviours)
    n_rated, n_train = len(rated.turns), len(labelled_turns(train).turns)
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    original = FrozenStates.distil

    def recording(
        self: FrozenStates, index: np.ndarray, targets: np.ndarray, config: Any, pairs: Any = None
    ) -> Any:
        calls.append((np.asarray(index).copy(), np.asarray(targets).copy()))
        return original(self, index, targets, config, pairs=pairs)

    monkeypatch.setattr(FrozenStates, "distil", recording)
    config = BuildConfig(label_epochs=1, graded_layers=True, pair_weight=0.0)
    meta = build_default_bundle(
        train, heldout, human, tmp_path / "b", config, behaviours_path=behaviours,
        labels_path=LABELS,
    )  # fmt: skip
    conv, folds = rated.conversation_of_turn, grouped_folds(rated.groups, 5)
    graded_rows = set(range(n_rated + n_train, n_rated + n_train + len(graded.labels)))
    assert len(calls) == 10
    for k, (rows, targets) in enumerate(calls):
        ieval_rows = {r for r in rows if r < n_rated}
        assert set(rows) - ieval_rows == graded_rows
        assert np.array_equal(targets[-len(graded.labels) :], graded.labels)
        if k < 5:
            assert ieval_rows == set(np.flatnonzero(folds[conv] != k))
    training = meta["training"]
    assert training["label_distillation"]["graded_replies"] == len(graded.labels)
    graded_figures = meta["validation"]["graded_replies"]
    assert "in-sample for the encoder" in graded_figures["protocol"]


def test_graded_layers_need_trained_layers_and_the_graded_replies() -> None:
    from edge_eval.training.build import BuildConfig

    assert BuildConfig(graded_layers=True).graded_layers
    with pytest.raises(ConfigError, match="graded replies"):
        BuildConfig(graded_layers=True, label_layers=0)
    with pytest.raises(ConfigError, match="graded replies"):
        BuildConfig(graded_layers=True, contrast_share=0.0)


def test_derangement_never_keeps_an_item_nor_its_group_and_is_seeded() -> None:
    groups = np.repeat(np.arange(7), [3, 1, 4, 2, 2, 3, 1])
    donor = derangement(len(groups), np.random.default_rng(0), groups)
    assert sorted(donor) == list(range(len(groups)))  # a permutation: every item donates once
    assert (groups[donor] != groups).all()
    assert np.array_equal(donor, derangement(len(groups), np.random.default_rng(0), groups))
    assert (derangement(5, np.random.default_rng(1)) != np.arange(5)).all()
    with pytest.raises(ConfigError, match="more than half"):
        derangement(4, np.random.default_rng(0), np.array([0, 0, 0, 1]))


def test_swapped_contexts_put_each_reply_after_another_persons_turn() -> None:
    rated = rated_conversations(IEVAL)
    swapped, donor_of_turn = swapped_contexts(rated, seed=0)
    conv = rated.conversation_of_turn
    assert len(swapped) == len(rated.turns) == len(donor_of_turn)
    assert (rated.groups[donor_of_turn] != rated.groups[conv]).all()  # always another person
    for row in range(0, len(rated.turns), 97):
        assert swapped[row].response == rated.turns[row].response
        theirs = np.flatnonzero(conv == donor_of_turn[row])
        k = int(np.sum(conv[:row] == conv[row]))  # the turn's place in its own conversation
        assert swapped[row].context == rated.turns[theirs[min(k, len(theirs) - 1)]].context
        assert swapped[row].context != rated.turns[row].context
    again, _ = swapped_contexts(rated, seed=0)
    assert again == swapped and swapped_contexts(rated, seed=1)[0] != swapped


@pytest.mark.slow
def test_a_build_with_context_pairs_keeps_each_trainings_pairs_inside_what_it_may_see(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--pair-weight``: each of the ten trainings gets pairs of its own warm replies (labelled
    PAIR_LEVEL or more; lowered here, as the slice holds one reply of 3.5) after a conversation
    it may also see, never a test fold's or a held-out chatbot's; the swapped rows are those
    replies after another person's turn; bundle.json records the pairs."""
    from edge_eval.training import build
    from edge_eval.training.build import BuildConfig, build_default_bundle
    from edge_eval.training.human import grouped_folds

    train, heldout, human = _build_slice(tmp_path)
    rated = rated_conversations(human)
    level = reply_levels(LABELS, rated)
    swapped, donor_of_turn = swapped_contexts(rated, seed=0)
    calls: list[tuple[np.ndarray, Any]] = []
    original = FrozenStates.distil

    def recording(
        self: FrozenStates, index: np.ndarray, targets: np.ndarray, config: Any, pairs: Any = None
    ) -> Any:
        assert config.pair_weight == 2.0 and config.pair_margin == 0.75
        calls.append((np.asarray(index).copy(), pairs))
        n_turns = len(self) - len(swapped)
        own, other = pairs
        for row, far in zip(own[:5], other[:5], strict=True):  # the states hold the swapped turn
            assert far == n_turns + row
            (mine, my_reply), (theirs, their_reply) = self.states[row], self.states[far]
            assert my_reply.sum() == their_reply.sum()  # the same reply's tokens ...
            assert mine.shape != theirs.shape or not torch.equal(mine, theirs)  # ... elsewhere
        return original(self, index, targets, config, pairs=pairs)

    monkeypatch.setattr(FrozenStates, "distil", recording)
    warm_level = 2.5
    assert PAIR_LEVEL == 3.5 and build.PAIR_LEVEL == PAIR_LEVEL
    monkeypatch.setattr(build, "PAIR_LEVEL", warm_level)
    config = BuildConfig(contrast_share=0.0, label_epochs=1, pair_weight=2.0, pair_margin=0.75)
    meta = build_default_bundle(train, heldout, human, tmp_path / "b", config, labels_path=LABELS)
    conv, folds = rated.conversation_of_turn, grouped_folds(rated.groups, 5)
    assert len(calls) == 10
    keeps = [folds != k for k in range(5)]
    keeps += [rated.systems != s for s in np.unique(rated.systems)]
    keeps += [np.ones(len(rated.ratings), dtype=bool)]
    for (rows, (own, _)), keep in zip(calls, keeps, strict=True):
        assert set(own) <= set(rows)
        assert (level[own] >= warm_level).all()
        assert keep[conv[own]].all() and keep[donor_of_turn[own]].all()
        warm = rows[(level[rows] >= warm_level) & keep[donor_of_turn[rows]]]
        assert set(own) == set(warm)  # every warm reply whose donor it may see
    assert len(calls[-1][1][0]) > 0 and all(len(own) > 0 for _, (own, _) in calls[:5])
    pairs = meta["training"]["label_distillation"]["context_pairs"]
    assert pairs["weight"] == 2.0 and pairs["margin"] == 0.75


def test_context_pairs_need_trained_layers() -> None:
    from edge_eval.training.build import BuildConfig

    assert BuildConfig(pair_weight=3.0, pair_margin=1.0).distillation().pair_weight == 3.0
    assert BuildConfig().distillation().pair_weight == 3.0  # the shipped recipe, v13c
    assert BuildConfig().distillation().pair_margin == 1.0
    with pytest.raises(ConfigError, match="label-layers"):
        BuildConfig(pair_weight=1.0, label_layers=0)
    with pytest.raises(ConfigError, match="pair_weight >= 0"):
        BuildConfig(pair_margin=-1.0)
