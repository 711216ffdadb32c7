"""Distilling the reply labels into the encoder: the v8 candidate's criteria, reproducible.

    PYTHONPATH=src python benchmarks/bench_label_distill.py [--criteria A,C,BD] [--epochs 3]
        [--head ratings,rubric] [--layers 2] [--folds 0,1,2,3,4 --oof FILE] [--pair-weight 0]

MiniLM's layers 1-2 stay frozen (their output is computed once per turn); layers 3 and 4 and a
turn head are trained on ``datasets/ieval-reply-labels`` (the mean label of each iEval reply; MSE,
batch 32, Adam, L2 towards the pretrained weights, dropout off, the head started from a ridge on
the frozen features, seeded): the build's own :class:`edge_eval.training.labels.FrozenStates`,
which ``bundle build`` now runs for the shipped default (this script was its scout). The trained
layers then give v5's features (the response pooled at
layers 3 and 4, unit-norm, and the log length), and v5's head recipe is fitted on them with the
build's own routine (``fit_rated_head``: iEval conversation means, synthetic turns at 0.1, graded
contrasts at 0.07, ridge 2e-4). Criteria, as ``bench_behaviours.py`` names them:

- A: iEval grouped 5-fold CV rho and MAE; each fold's layers trained on the labels of that fold's
  training people only;
- C: leave-one-chatbot-out: for each chatbot, layers trained on the labels of the other three
  chatbots' replies, heads as the build's (other chatbots, other folds);
- B and D: layers trained on all labels; B each writer of the graded replies held out in turn, D the
  warm/cold margin of ``tests/reward/test_onnx_scorer.py``.

``--head ratings,rubric`` fits both heads on the same trained layers (one set of trainings): v8's
head (above) and v9's candidate rubric head (``BuildConfig.rubric_head``: the labelled replies of
the training conversations as rated rows, then an affine map onto people's ratings). B is printed
both by writer and by message (the build's protocol).

``--graded-layers`` adds the project's graded replies (``datasets/empathy-behaviours``, the same
rubric's levels, 1,350 replies by six writers in chat and assistant settings) to the rows every
layer training distils, so the layers learn the rubric from more voices than iEval's four
chatbots; B is then in-sample and says so.

``--layers 4`` trains all four layers of the cut encoder (v11's candidate; only the embeddings
stay frozen); the head still reads layers 3 and 4. With A, each fold also prints L: Spearman rho of
the held-out people's reply labels with a ridge (the distillation head's alpha) fitted on the
trained features of the training people's replies, i.e. how well the layers learnt the labels for
people they never saw. ``--folds`` runs some of A's five folds only; ``--oof FILE`` keeps their
out-of-fold predictions so later runs can add the other folds, and the pooled A and L print once
all five are in the file.

``--pair-weight W [--pair-margin M]`` adds context pairs (v13b/v13c): every training reply labelled
3.5 or more is also placed after the same turn of another training person's conversation
(``edge_eval.training.labels.swapped_contexts``, seed 0), and the distillation asks it to score
at least M higher after its own (``LabelDistillConfig.pair_weight``). With A, each fold also
prints S: the context drop of the fold's model (layers and ratings head) on the graded replies at
levels 4-5, each after its own message and after another one (``bench_context``'s check), and
over all levels.

``--epochs 0`` trains nothing and must give v5's own figures (A 0.532, C 0.230, B 0.567, D +1.03):
the harness check. The rule it serves (``docs/selection-v5.md``, "v8") and the figures measured are
in the README. EmpatheticExchanges is never read here. Its scratch version took 23 minutes for A
and about 45 for C, B and D on 2 cores at 3 epochs; needs the train extra.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from bench_behaviours import GRADED, IEVAL, reply_labels
from bench_context import graded_turns
from bench_layers import COLD, CONTEXT, WARM

from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import InputTemplate
from edge_eval.reward.encoding import TurnEncoder
from edge_eval.training.build import (
    BuildConfig,
    RubricRows,
    context_groups,
    fit_rated_head,
)
from edge_eval.training.head import HeadFit, centre_within_groups, fit_weighted_ridge
from edge_eval.training.human import grouped_folds, rated_conversations
from edge_eval.training.labels import (
    PAIR_LEVEL,
    FrozenStates,
    LabelDistillConfig,
    swapped_contexts,
)
from edge_eval.training.train import cut_encoder, encoder_dir, labelled_turns
from edge_eval.validation import spearman

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = 384
V5 = BuildConfig(
    ridge_alpha=2e-4, turn_share=0.1, contrast_share=0.07, label_layers=0, pair_weight=0.0
)
RUBRIC = BuildConfig(ridge_alpha=2e-4, turn_share=0.1, contrast_share=0.07, rubric_head=True)


def frozen_states(turns: list[TurnInput], trained: int) -> FrozenStates:
    """MiniLM cut after layer 4, the layers below the ``trained`` top ones run once for every
    turn (the build's own class)."""
    from transformers import AutoModel

    folder = encoder_dir()
    model = cut_encoder(AutoModel.from_pretrained(str(folder), local_files_only=True).eval(), 4)
    encoder = TurnEncoder(
        folder / "tokenizer.json", InputTemplate(max_length=192, max_response_tokens=160)
    )
    return FrozenStates(model, encoder, turns, pooled=(3, 4), trained=trained)


@dataclass(frozen=True)
class Features:
    """Head features from one set of trained layers: iEval conversation means, the synthetic
    turns, the graded replies and the warm/cold probes."""

    conv: np.ndarray
    turn: np.ndarray
    synth: np.ndarray
    graded: np.ndarray
    probe: np.ndarray
    context: tuple[np.ndarray, np.ndarray]


def main() -> None:
    from edge_eval.machine import cpu_summary

    print(f"# CPU: {cpu_summary()}", flush=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--criteria", default="A,C,BD", help="any of A, C, BD, comma-separated")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--l2", type=float, default=1e-2, help="towards the pretrained weights")
    parser.add_argument("--head", default="ratings", help="ratings and/or rubric, comma-separated")
    parser.add_argument(
        "--graded-layers",
        action="store_true",
        help="distil the graded replies' levels into the layers too (B is then in-sample)",
    )
    parser.add_argument("--layers", type=int, default=2, help="top layers trained (v8: 2)")
    parser.add_argument("--folds", default="0,1,2,3,4", help="A's folds to run")
    parser.add_argument("--oof", type=Path, help="A's out-of-fold predictions, kept across runs")
    parser.add_argument(
        "--pair-weight",
        type=float,
        default=0.0,
        help="context pairs: weight of the hinge that scores a reply above itself after another "
        "person's context (replies labelled 3.5 or more; 0: none, v8)",
    )
    parser.add_argument("--pair-margin", type=float, default=0.5)
    args = parser.parse_args()
    if args.oof is not None and args.oof.suffix != ".npz":
        parser.error("--oof needs a file name ending in .npz")
    wanted = set(args.criteria.split(","))
    torch.set_num_threads(2)

    rated = rated_conversations(IEVAL)
    synth = labelled_turns(ROOT / "datasets" / "empathy-synth" / "train.jsonl")
    graded = labelled_turns(GRADED)
    probes = [
        TurnInput(context=CONTEXT * (1 + i % 3), response=(WARM if i % 2 else COLD) + " ok" * i)
        for i in range(11)
    ]
    # Context pairs: every iEval reply after the same turn of another person's conversation
    # (swapped_contexts, seed 0); the graded replies after another message's context
    # (bench_context's own check), for the context drop S of each trained model.
    swapped_ieval, donor_of_turn = swapped_contexts(rated, seed=0)
    g_own, g_swapped, g_levels = graded_turns(np.random.default_rng(0))
    began = time.time()
    turns = frozen_states(
        [*rated.turns, *synth.turns, *graded.turns, *probes, *swapped_ieval, *g_own, *g_swapped],
        args.layers,
    )
    print(f"# frozen layers run in {time.time() - began:.0f} s", file=sys.stderr, flush=True)
    sizes = np.cumsum(
        [0, len(rated.turns), len(synth.turns), len(graded.turns), len(probes)]
        + [len(swapped_ieval), len(g_own), len(g_swapped)]
    )
    ieval, synth_i, graded_i, probe_i, swapped_i, g_own_i, g_swapped_i = (
        np.arange(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    )
    labels = reply_labels(rated).level
    conv = rated.conversation_of_turn
    y = rated.ratings
    folds = grouped_folds(rated.groups, 5)
    systems = rated.systems
    messages = context_groups(graded.turns)
    writers = np.asarray([c.id.split("-")[1] for c in graded.conversations])
    mask = np.ones(2 * HIDDEN + 1, dtype=bool)
    settings = LabelDistillConfig(
        layers=args.layers,
        epochs=args.epochs,
        lr=args.lr,
        l2=args.l2,
        pair_weight=args.pair_weight,
        pair_margin=args.pair_margin,
    )
    specific = g_levels >= 4

    def trained(index: np.ndarray) -> Features:
        """The top layers distilled on the labels of iEval turns ``index``; every turn's
        features."""
        targets = labels[index]
        seen = np.zeros(len(rated.ratings), dtype=bool)
        seen[conv[index]] = True
        own = index[(labels[index] >= PAIR_LEVEL) & seen[donor_of_turn[index]]]
        pairs = (own, swapped_i[own])
        if args.graded_layers:
            index, targets = np.r_[index, graded_i], np.r_[targets, graded.labels]
        layers = turns.distil(index, targets, settings, pairs)
        feats = turns.features(layers)
        print(f"# trained in {time.time() - began:.0f} s", file=sys.stderr, flush=True)
        return Features(
            conv=rated.conversation_mean(feats[ieval]),
            turn=feats[ieval],
            context=(feats[g_own_i], feats[g_swapped_i]),
            synth=feats[synth_i],
            graded=feats[graded_i],
            probe=feats[probe_i],
        )

    def fitter(rubric: bool) -> Callable[..., HeadFit]:
        """The build's head (``fit_rated_head``) on the conversations ``train`` and the graded
        writers ``seen``: v5's recipe (people's ratings as the rated rows) or, with ``rubric``,
        v9's candidate (the labelled replies of ``train`` as the rated rows, then an affine map
        of its conversation means onto people's ratings of ``train``)."""

        def fit(feats: Features, train: np.ndarray, seen: np.ndarray | None = None) -> HeadFit:
            keep = np.ones(len(graded.labels), dtype=bool) if seen is None else seen
            contrasts = centre_within_groups(
                feats.graded[keep], graded.labels[keep], messages[keep]
            )
            return fit_rated_head(
                rated, feats.conv, train, mask, RUBRIC if rubric else V5, feats.synth,
                synth.labels, contrasts, RubricRows(feats.turn, labels) if rubric else None,
            )  # fmt: skip

        return fit

    heads = {"ratings": fitter(rubric=False), "rubric": fitter(rubric=True)}
    chosen = {name: heads[name] for name in args.head.split(",")}
    print(
        f"heads {args.head}; {args.layers} layers trained; epochs {args.epochs}, lr {args.lr:g}, "
        f"L2 to pretrained {args.l2:g}"
        + ("; graded replies distilled into the layers too" if args.graded_layers else "")
        + (
            f"; context pairs {args.pair_weight:g} (margin {args.pair_margin:g})"
            if args.pair_weight
            else ""
        )  # fmt: skip
    )
    if "A" in wanted:
        run = np.asarray(
            f"layers {args.layers}, epochs {args.epochs}, lr {args.lr:g}, l2 {args.l2:g}, "
            f"graded layers {args.graded_layers}"
            + (f", pairs {args.pair_weight:g}/{args.pair_margin:g}" if args.pair_weight else "")
        )
        kept = dict(np.load(args.oof)) if args.oof is not None and args.oof.exists() else {}
        held = str(kept.pop("run", ""))
        if kept and held != str(run):
            sys.exit(f"--oof holds folds of another setting ({held or 'unknown'}), not {run}")
        oof = {name: kept.get(name, np.full(len(y), np.nan)) for name in chosen}
        oof_labels = kept.get("L", np.full(len(labels), np.nan))
        turn_fold = folds[conv]
        for k in (int(f) for f in args.folds.split(",")):
            feats = trained(ieval[turn_fold != k])
            coef, bias = fit_weighted_ridge(
                feats.turn[turn_fold != k],
                labels[turn_fold != k],
                settings.head_alpha,
                np.ones(int(np.sum(turn_fold != k))),
            )
            oof_labels[turn_fold == k] = feats.turn[turn_fold == k] @ coef + bias
            line = f"fold {k}: L {spearman(labels[turn_fold == k], oof_labels[turn_fold == k]):.4f}"
            for name, fit_of in chosen.items():
                fit = fit_of(feats, folds != k)
                oof[name][folds == k] = fit.predict(feats.conv[folds == k])
                line += f", A ({name} head) {spearman(y[folds == k], oof[name][folds == k]):.4f}"
                drop = fit.predict(feats.context[0]) - fit.predict(feats.context[1])
                line += f", S ({name} head) {drop[specific].mean():+.3f} ({drop.mean():+.3f} all)"
            print(line, flush=True)
        if args.oof is not None:
            np.savez(args.oof, run=run, L=oof_labels, **oof)
        if np.isfinite(oof_labels).all():
            print(f"L: reply labels of people never seen, rho {spearman(labels, oof_labels):.4f}")
        for name in chosen:
            if np.isnan(oof[name]).any():
                continue
            got = np.clip(oof[name], 1.0, 5.0)
            print(
                f"A ({name} head): iEval grouped CV rho {spearman(y, got):.4f}, "
                f"MAE {np.mean(np.abs(got - y)):.4f}, bias {got.mean() - y.mean():+.3f}"
            )
    if "C" in wanted:
        unseen = {name: np.zeros(len(y)) for name in chosen}
        for system in np.unique(systems):
            feats = trained(ieval[systems[conv] != system])
            for k in range(5):
                test = (systems == system) & (folds == k)
                for name, fit_of in chosen.items():
                    fit = fit_of(feats, (systems != system) & (folds != k))
                    unseen[name][test] = fit.predict(feats.conv[test])
        for name in chosen:
            got = np.clip(unseen[name], 1.0, 5.0)
            per = [(y[systems == s], got[systems == s]) for s in np.unique(systems)]
            bias = sorted(p.mean() - h.mean() for h, p in per)
            within = np.mean([spearman(h, p) for h, p in per])
            print(
                f"C ({name} head): unseen-chatbot rho {spearman(y, got):.4f}, MAE "
                f"{np.mean(np.abs(got - y)):.4f}; bias per chatbot "
                + ", ".join(f"{b:+.2f}" for b in bias)
                + f"; within one chatbot {within:.3f}"
            )
    if "BD" in wanted:
        feats = trained(ieval)
        everyone = np.ones(len(y), dtype=bool)
        fold_of = grouped_folds(messages, 5)
        for name, fit_of in chosen.items():
            held = np.zeros(len(graded.labels))
            for writer in np.unique(writers):
                seen = writers != writer
                held[~seen] = fit_of(feats, everyone, seen).predict(feats.graded[~seen])
            by_message = np.zeros(len(graded.labels))
            for k in range(5):
                seen = fold_of != k
                by_message[~seen] = fit_of(feats, everyone, seen).predict(feats.graded[~seen])
            probe = np.clip(fit_of(feats, everyone).predict(feats.probe), 1.0, 5.0)
            print(
                ("in-sample (the layers saw every graded reply) " if args.graded_layers else "")
                + f"B ({name} head): by message (the build's protocol) rho "
                f"{spearman(graded.labels, np.clip(by_message, 1.0, 5.0)):.4f}, unseen writer "
                f"rho {spearman(graded.labels, held):.4f}; "
                f"D: warm - cold {probe[1::2].mean() - probe[0::2].mean():+.3f}"
            )


if __name__ == "__main__":
    main()
