"""Graded replies in the head: the selection behind the default bundle (v5), reproducible.

    PYTHONPATH=src python benchmarks/bench_behaviours.py [--all] [--raters]

The project's graded replies (``datasets/empathy-behaviours``: 270 messages, five replies each at
levels 1-5, six writers) enter the ridge head as contrasts centred within their message
(``edge_eval.training.head``), at share ``b``; the synthetic turns at share ``s``; iEval's rated
conversations take the rest. For every setting of the grid, with the build's own routines:

- A: iEval grouped 5-fold CV rho (``cross_validated_scores``), and its MAE;
- B: each writer held out in turn: its replies scored by a head fitted on all of iEval, the
  synthetic turns and the other five writers' replies; pooled rho and the mean rho within one
  message (a writer and messages the head never saw);
- C: leave-one-chatbot-out on iEval (``unseen_chatbot_scores``): rho and the worst chatbot's bias;
- D: the warm/cold margin of ``tests/reward/test_onnx_scorer.py`` (the test asks for 0.3).

Selection rule, written down before any candidate was scored on EmpatheticExchanges (README):
among settings with A >= 0.519 (v4's 0.539 less 0.02), C >= 0.23 and D >= 0.3, the highest B;
within 0.01 of it, the highest A; shipped if its B beats v4's (b 0, s 0.1, alpha 3e-4) by 0.10.
The script applies the rule to the whole grid and prints the pick. EmpatheticExchanges is never
read here. Needs the train extra. About 5 minutes on 2 cores.

``--raters``: the grid and rule written before a v6 was considered (docs/selection-v5.md, "v6"):
iEval's conversations also enter centred within the person who rated them (share p,
``BuildConfig.rater_share``: which of one person's chats was more empathetic, free of that
person's leniency), p in {0, .2, .3, .4, .5, .6}, b in {.05, .07, .1}, s 0.1, alpha in
{1e-4, 2e-4, 3e-4}. Among settings with A >= v5's A - 0.005, C >= v5's C and D >= 0.3, the highest
B + C; shipped only if its B and its C each beat v5's by 0.02. About 4 minutes.

``--labels``: the v7 grid and rule (docs/selection-v5.md, "v7"): every iEval reply carries a
behaviour level from the project's rubric, given by AI labelling sessions
(``datasets/ieval-reply-labels``, the mean of two or three labels), entered as contrasts centred
within the person's situation (all twelve replies, or the four chatbots' replies at one turn
index) at share q in {0, .05, .1, .2, .3, .5}, b 0.07, s 0.1, alpha in {1e-4, 2e-4}. Criterion L:
the turn-level rho between the labels of each fold's people and their scores from A's fold heads
(those people's labels never in training); A and C leave the held-out conversations' label rows
out too. Among settings with A >= v5's A - 0.005, C >= v5's C and D >= 0.3, the highest L; shipped
only if its L beats v5's by 0.05 and its B is at most 0.02 below v5's. About 3 minutes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bench_layers import COLD, CONTEXT, WARM, encode

from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import InputTemplate
from edge_eval.reward.encoding import TurnEncoder
from edge_eval.training.build import (
    BuildConfig,
    context_groups,
    cross_validated_scores,
    fit_build_head,
    unseen_chatbot_figures,
    unseen_chatbot_scores,
)
from edge_eval.training.head import HeadFit, centre_within_groups, fit_weighted_ridge
from edge_eval.training.human import RatedConversations, grouped_folds, rated_conversations
from edge_eval.training.labels import reply_levels
from edge_eval.training.train import encoder_dir, labelled_turns, make_graph
from edge_eval.validation import spearman

ROOT = Path(__file__).resolve().parents[1]
GRADED = ROOT / "datasets" / "empathy-behaviours" / "behaviours.jsonl"
IEVAL = ROOT / "datasets" / "ieval" / "ieval.jsonl"
REPLY_LABELS = ROOT / "datasets" / "ieval-reply-labels" / "labels.jsonl"
SHARES_B = (0.0, 0.02, 0.03, 0.05, 0.07, 0.1, 0.2, 0.3, 0.5)
SHARES_S = (0.0, 0.1)
ALPHAS = (1e-4, 2e-4, 3e-4, 1e-3)
V4 = (0.0, 0.1, 3e-4)
#: The v6 grid (``--raters``): rater shares p, graded shares b, alphas; s fixed at 0.1.
RATER_P = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)
RATER_B = (0.05, 0.07, 0.1)
RATER_ALPHAS = (1e-4, 2e-4, 3e-4)
V5 = (0.0, 0.07, 2e-4)
#: The v7 grid (``--labels``): label shares q, groupings, alphas; b 0.07, s 0.1.
LABEL_Q = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
LABEL_GROUPINGS = ("situation-turn", "situation")
LABEL_ALPHAS = (1e-4, 2e-4)


@dataclass(frozen=True)
class Data:
    """Everything a setting is measured on (features from the frozen encoder, once)."""

    rated: RatedConversations
    turn_x: np.ndarray
    conv_x: np.ndarray
    words: np.ndarray
    synth_x: np.ndarray
    synth_y: np.ndarray
    graded_x: np.ndarray
    graded_y: np.ndarray
    writers: np.ndarray
    messages: np.ndarray
    contrasts: tuple[np.ndarray, np.ndarray]
    probe_x: np.ndarray


def load() -> Data:
    from transformers import AutoModel

    folder = encoder_dir()
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    graph = make_graph(model, np.zeros(2 * 384), 0.0, layers=(3, 4))
    encoder = TurnEncoder(
        folder / "tokenizer.json", InputTemplate(max_length=192, max_response_tokens=160)
    )
    rated = rated_conversations(ROOT / "datasets" / "ieval" / "ieval.jsonl")
    synth = labelled_turns(ROOT / "datasets" / "empathy-synth" / "train.jsonl")
    graded = labelled_turns(GRADED)
    probe = [
        TurnInput(context=CONTEXT * (1 + i % 3), response=(WARM if i % 2 else COLD) + " ok" * i)
        for i in range(11)
    ]
    graded_x = encode(graph, encoder, list(graded.turns))
    messages = context_groups(graded.turns)
    turn_x = encode(graph, encoder, list(rated.turns))
    data = Data(
        rated=rated,
        turn_x=turn_x,
        conv_x=rated.conversation_mean(turn_x),
        words=rated.conversation_mean(rated.response_words),
        synth_x=encode(graph, encoder, list(synth.turns)),
        synth_y=synth.labels,
        graded_x=graded_x,
        graded_y=graded.labels,
        writers=np.asarray([c.id.split("-")[1] for c in graded.conversations]),
        messages=messages,
        contrasts=centre_within_groups(graded_x, graded.labels, messages),
        probe_x=encode(graph, encoder, probe),
    )
    print("# encoded", file=sys.stderr, flush=True)
    return data


def criteria(d: Data, config: BuildConfig) -> dict[str, float]:
    """A, its MAE, B (pooled and within one message), C and its worst bias, D for one setting."""
    mask = np.ones(d.conv_x.shape[1], dtype=bool)
    raters = d.rated.groups
    y = d.rated.ratings
    use = d.contrasts if config.contrast_share > 0 else None
    oof = np.clip(
        cross_validated_scores(
            d.rated, d.conv_x, mask, config, d.synth_x, d.synth_y, contrasts=use
        ),
        1.0,
        5.0,
    )
    unseen = unseen_chatbot_scores(
        d.rated, d.conv_x, mask, config, d.synth_x, d.synth_y, contrasts=use
    )
    assert unseen is not None, "leave-one-chatbot-out needs iEval's chatbots"
    unseen = unseen_chatbot_figures(d.rated, np.clip(unseen, 1.0, 5.0), d.words, 0)
    held = np.zeros(len(d.graded_y))
    for writer in np.unique(d.writers):
        seen = d.writers != writer
        part = centre_within_groups(d.graded_x[seen], d.graded_y[seen], d.messages[seen])
        fit = fit_build_head(mask, config, d.conv_x, y, d.synth_x, d.synth_y, part, raters=raters)
        held[~seen] = fit.predict(d.graded_x[~seen])
    within = np.mean(
        [
            spearman(d.graded_y[d.messages == m], held[d.messages == m])
            for m in np.unique(d.messages)
        ]
    )
    fit = fit_build_head(mask, config, d.conv_x, y, d.synth_x, d.synth_y, use, raters=raters)
    probe_scores = np.clip(fit.predict(d.probe_x), 1.0, 5.0)
    return {
        "A": float(spearman(y, oof)),
        "mae": float(np.mean(np.abs(oof - y))),
        "mae_affine": best_affine_mae(y, oof),
        "B": float(spearman(d.graded_y, held)),
        "within": float(within),
        "C": float(unseen["spearman"]),
        "bias": float(unseen["bias"]),
        "D": float(probe_scores[1::2].mean() - probe_scores[0::2].mean()),
    }


def print_table(
    rows: list[dict[str, float]],
    lead: list[tuple[str, str]],
    marks: dict[int, str],
) -> None:
    """Markdown table: the ``lead`` columns (key, header), then every criterion; ``marks``
    appends a note to the first column of the row with that ``id``."""
    head = [h for _, h in lead] + [
        "A: iEval CV ρ", "iEval CV MAE", "B: unseen writer ρ", "B: within one message ρ",
        "C: unseen-chatbot ρ", "worst bias", "D: warm − cold",
    ]  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    for r in rows:
        cells = [f"{r[key]:g}" for key, _ in lead]
        cells[0] += marks.get(id(r), "")
        cells += [f"{r[k]:.3f}" for k in ("A", "mae", "B", "within", "C")]
        cells += [f"{r['bias']:+.2f}", f"{r['D']:+.2f}"]
        print("| " + " | ".join(cells) + " |")


def length_within_chatbot(d: Data) -> str:
    """Response length's rho within each of iEval's chatbots (the baseline for C's within-chatbot
    figure), as a sentence."""
    systems = d.rated.systems
    rhos = [
        float(spearman(d.rated.ratings[systems == s], d.words[systems == s]))
        for s in np.unique(systems)
    ]
    listed = ", ".join(f"{r:+.3f}" for r in sorted(rhos, reverse=True))
    return f"Response length within one chatbot: rho {listed} (mean {np.mean(rhos):.3f})."


def best_affine_mae(y: np.ndarray, scores: np.ndarray) -> float:
    """The lowest MAE any map ``a + b * score`` (clipped to 1-5) reaches, fitted on these same
    labels (optimistic: a bound on what calibration alone could do for these scores)."""
    best = float("inf")
    for slope in np.linspace(0.0, 3.0, 301):
        intercept = float(np.median(y - slope * scores))
        best = min(best, float(np.mean(np.abs(np.clip(intercept + slope * scores, 1, 5) - y))))
    return best


def raters_main(d: Data) -> None:
    rows = []
    for p in RATER_P:
        for b in RATER_B:
            for alpha in RATER_ALPHAS:
                config = BuildConfig(
                    ridge_alpha=alpha, turn_share=0.1, contrast_share=b, rater_share=p
                )
                rows.append({"p": p, "b": b, "alpha": alpha, **criteria(d, config)})
                print(f"# {rows[-1]}", file=sys.stderr, flush=True)
    v5 = next(r for r in rows if (r["p"], r["b"], r["alpha"]) == V5)
    fair = [r for r in rows if r["A"] >= v5["A"] - 0.005 and r["C"] >= v5["C"] and r["D"] >= 0.3]
    pick = max(fair, key=lambda r: r["B"] + r["C"]) if fair else None
    lead = [("p", "rater share p"), ("b", "graded share b"), ("alpha", "ridge α")]
    marks = ({id(pick): " **(rule's pick)**"} if pick else {}) | {id(v5): " (v5)"}
    print_table(rows, lead, marks)
    print(
        f"\nv5's iEval CV MAE {v5['mae']:.3f}; the best affine map of the same out-of-fold scores, "
        f"fitted on their own labels (optimistic): {v5['mae_affine']:.3f}."
    )
    print(length_within_chatbot(d))
    if pick is None:
        print("No setting passes the guards: v5 stays.")
        return
    ships = pick["B"] >= v5["B"] + 0.02 and pick["C"] >= v5["C"] + 0.02
    print(
        f"Rule's pick: p {pick['p']:g}, b {pick['b']:g}, alpha {pick['alpha']:g} ({len(fair)} of "
        f"{len(rows)} settings pass the guards); B {pick['B']:.3f} vs v5 {v5['B']:.3f}, C "
        f"{pick['C']:.3f} vs v5 {v5['C']:.3f}: {'ships' if ships else 'v5 stays'}."
    )


@dataclass(frozen=True)
class ReplyLabels:
    """The AI labels of iEval's replies, aligned with ``Data.rated.turns``."""

    level: np.ndarray  # mean label of each reply
    groupings: dict[str, np.ndarray]  # contrast groups of each reply, by grouping name


def reply_labels(rated: RatedConversations) -> ReplyLabels:
    """Mean label per reply of iEval's ``rated`` turns, and each reply's contrast groups: its
    situation (person and valence), and its situation and turn index."""
    ids = rated.ids
    level = reply_levels(REPLY_LABELS, rated)  # the build's reader: matched by id
    assert np.isfinite(level).all(), "every iEval reply is labelled"
    conv = rated.conversation_of_turn
    index = np.zeros(len(conv), dtype=np.int64)  # each reply's turn index in its conversation
    for i in range(1, len(conv)):
        index[i] = index[i - 1] + 1 if conv[i] == conv[i - 1] else 0
    situation = np.asarray(["-".join(ids[c].split("-")[1:3]) for c in conv])
    return ReplyLabels(
        level=level,
        groupings={
            "situation": situation,
            "situation-turn": np.asarray(
                [f"{s}/{t}" for s, t in zip(situation, index, strict=True)]
            ),
        },
    )


def label_criteria(
    d: Data, labels: ReplyLabels, q: float, grouping: str, alpha: float
) -> dict[str, float]:
    """A, its MAE, B, C and its worst bias, D and L for one v7 setting (b 0.07, s 0.1).

    The label contrasts of held-out conversations never enter a head, so this fits with
    ``fit_weighted_ridge`` directly, with ``fit_head``'s arithmetic: the conversations take
    ``1 - s - b - q`` of the weight, the synthetic turns ``s``, the graded replies' and the
    labels' contrasts ``b`` and ``q`` (``labels_main`` checks that q 0 gives ``criteria``'s
    figures)."""
    b, s = 0.07, 0.1
    rated, conv = d.rated, d.rated.conversation_of_turn
    y = rated.ratings

    def fit(train: np.ndarray, graded_seen: np.ndarray | None = None) -> HeadFit:
        rows = np.vstack([d.conv_x[train], d.synth_x])
        weight = np.concatenate(
            [
                np.full(train.sum(), (1 - s - b - q) / train.sum()),
                np.full(len(d.synth_y), s / len(d.synth_y)),
            ]
        )
        if graded_seen is None:
            cx, cy = d.contrasts
        else:
            seen = graded_seen
            cx, cy = centre_within_groups(d.graded_x[seen], d.graded_y[seen], d.messages[seen])
        cw = np.full(len(cy), b / len(cy))
        if q > 0:
            use = train[conv]
            lx, ly = centre_within_groups(
                d.turn_x[use], labels.level[use], labels.groupings[grouping][use]
            )
            cx, cy = np.vstack([cx, lx]), np.concatenate([cy, ly])
            cw = np.concatenate([cw, np.full(len(ly), q / len(ly))])
        coef, bias = fit_weighted_ridge(
            rows, np.concatenate([y[train], d.synth_y]), alpha, weight,
            centred_x=cx, centred_y=cy, centred_weight=b + q, centred_sample_weight=cw,
        )  # fmt: skip
        return HeadFit(weight=coef, bias=bias)

    folds = grouped_folds(rated.groups, 5)
    oof, turn_scores = np.zeros(len(y)), np.zeros(len(conv))
    for k in range(5):
        head = fit(folds != k)
        oof[folds == k] = head.predict(d.conv_x[folds == k])
        turn_scores[folds[conv] == k] = head.predict(d.turn_x[folds[conv] == k])
    oof = np.clip(oof, 1.0, 5.0)
    unseen, systems = np.zeros(len(y)), rated.systems
    for system in np.unique(systems):
        for k in range(5):
            test = (systems == system) & (folds == k)
            unseen[test] = fit((systems != system) & (folds != k)).predict(d.conv_x[test])
    unseen = np.clip(unseen, 1.0, 5.0)
    bias = [unseen[systems == t].mean() - y[systems == t].mean() for t in np.unique(systems)]
    held = np.zeros(len(d.graded_y))
    everyone = np.ones(len(y), dtype=bool)
    for writer in np.unique(d.writers):
        seen = d.writers != writer
        held[~seen] = fit(everyone, seen).predict(d.graded_x[~seen])
    probe_scores = np.clip(fit(everyone).predict(d.probe_x), 1.0, 5.0)
    return {
        "A": float(spearman(y, oof)),
        "mae": float(np.mean(np.abs(oof - y))),
        "B": float(spearman(d.graded_y, held)),
        "C": float(spearman(y, unseen)),
        "bias": float(max(bias, key=abs)),
        "D": float(probe_scores[1::2].mean() - probe_scores[0::2].mean()),
        "L": float(spearman(labels.level, turn_scores)),
    }


def labels_main(d: Data) -> None:
    labels = reply_labels(d.rated)
    conv_mean = d.rated.conversation_mean(labels.level)
    print(
        f"# the labels' conversation mean vs people's ratings: rho "
        f"{spearman(d.rated.ratings, conv_mean):.3f} (n {len(conv_mean)})"
    )
    rows = []
    for q in LABEL_Q:
        for grouping in LABEL_GROUPINGS if q > 0 else LABEL_GROUPINGS[-1:]:
            for alpha in LABEL_ALPHAS:
                figures = label_criteria(d, labels, q, grouping, alpha)
                rows.append({"q": q, "g": grouping, "alpha": alpha, **figures})
                print(f"# {rows[-1]}", file=sys.stderr, flush=True)
    v5 = next(r for r in rows if (r["q"], r["alpha"]) == (0.0, V5[2]))
    check = criteria(d, BuildConfig(ridge_alpha=V5[2], turn_share=0.1, contrast_share=V5[1]))
    assert all(abs(v5[k] - check[k]) < 1e-6 for k in ("A", "B", "C", "D")), (v5, check)
    fair = [r for r in rows if r["A"] >= v5["A"] - 0.005 and r["C"] >= v5["C"] and r["D"] >= 0.3]
    pick = max(fair, key=lambda r: r["L"]) if fair else None
    print(
        "| label share q | grouping | ridge α | A: iEval CV ρ | iEval CV MAE | B: unseen writer ρ "
        "| C: unseen-chatbot ρ | worst bias | D: warm − cold "
        "| L: AI labels of held-out people's replies ρ |"
    )
    print("|---:|---|" + "---:|" * 8)
    for r in rows:
        note = (" (v5)" if r is v5 else "") + (" **(rule's pick)**" if r is pick else "")
        print(
            f"| {r['q']:g}{note} | {r['g'] if r['q'] > 0 else '–'} | {r['alpha']:g} | {r['A']:.3f} "
            f"| {r['mae']:.3f} | {r['B']:.3f} | {r['C']:.3f} | {r['bias']:+.2f} | {r['D']:+.2f} "
            f"| {r['L']:.3f} |"
        )
    ships = pick is not None and pick["L"] >= v5["L"] + 0.05 and pick["B"] >= v5["B"] - 0.02
    print(
        f"\n{len(fair)} of {len(rows)} settings pass the guards; the rule's pick: "
        + (f"q {pick['q']:g}, {pick['g']}, alpha {pick['alpha']:g}" if pick else "none")
        + f": {'ships' if ships else 'v5 stays'}."
    )


def main() -> None:
    from edge_eval.machine import cpu_summary

    print(f"# CPU: {cpu_summary()}", flush=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--all", action="store_true", help="print every row, not a summary")
    parser.add_argument("--raters", action="store_true", help="the v6 grid and rule")
    parser.add_argument("--labels", action="store_true", help="the v7 grid and rule")
    args = parser.parse_args()
    d = load()
    if args.raters:
        raters_main(d)
        return
    if args.labels:
        labels_main(d)
        return

    rows = []
    for b in SHARES_B:
        for s in SHARES_S:
            for alpha in ALPHAS:
                config = BuildConfig(ridge_alpha=alpha, turn_share=s, contrast_share=b)
                rows.append({"b": b, "s": s, "alpha": alpha, **criteria(d, config)})
                print(f"# {rows[-1]}", file=sys.stderr, flush=True)

    v4 = next(r for r in rows if (r["b"], r["s"], r["alpha"]) == V4)
    fair = [r for r in rows if r["A"] >= 0.519 and r["C"] >= 0.23 and r["D"] >= 0.3]
    pick = None
    if fair:
        best = max(r["B"] for r in fair)
        pick = max((r for r in fair if r["B"] >= best - 0.01), key=lambda r: r["A"])
    shown = rows if args.all else [r for r in rows if r is v4 or r is pick or (
        r["s"] == 0.1 and r["alpha"] in (1e-4, 3e-4))]  # fmt: skip
    lead = [("b", "graded share b"), ("s", "synthetic share s"), ("alpha", "ridge α")]
    marks = ({id(pick): " **(rule's pick)**"} if pick else {}) | {id(v4): " (v4)"}
    print_table(shown, lead, marks)
    if pick is None:
        print("\nNo setting passes the guards: v4 stays.")
    else:
        ships = pick["B"] >= v4["B"] + 0.10
        print(
            f"\nRule's pick: b {pick['b']:g}, s {pick['s']:g}, alpha {pick['alpha']:g} "
            f"({len(fair)} of {len(rows)} settings pass the guards); B {pick['B']:.3f} vs v4 "
            f"{v4['B']:.3f}: {'ships' if ships else 'v4 stays'}."
        )


if __name__ == "__main__":
    main()
