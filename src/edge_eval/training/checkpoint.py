"""The torch reward checkpoint: what a reward model is before it becomes an ONNX bundle.

A checkpoint keeps the trained torch weights so the model can be exported again (fp32 or int8,
with a LoRA adapter merged into its encoder) and so the export can be checked against torch.
``reward.json`` (format ``edge-eval.reward-checkpoint``, version 1)::

    CKPT/
      reward.json        kind, name, output_scale, calibration, input_template, clusters,
                         embedding_dim, training, validation, and the SHA-256 of every file
      encoder/           a Hugging Face encoder folder: config.json, model.safetensors,
                         tokenizer.json (the tokenizer the bundle ships and TurnEncoder reads)
      head.npy           the linear head over [r, c, r*c]: its weights, then its bias (float64)
      prototypes.npy     recogniser prototypes, rows in ``clusters`` order (optional)

The head, pooling and encoder form the module of :func:`edge_eval.training.train.make_graph`;
:func:`load_checkpoint_graph` rebuilds it. Loading verifies every file's hash, as bundles do.
Needs the ``train`` extra (torch, transformers) to write or rebuild the graph; reading
``reward.json`` alone needs neither.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval._io import atomic_directory, atomic_write_text, sha256_file
from edge_eval.errors import ArtifactError, ConfigError
from edge_eval.reward.bundle import (
    KINDS,
    InputTemplate,
    files_digest,
    read_metadata,
    verify_files,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "RewardCheckpoint",
    "is_reward_checkpoint",
    "load_checkpoint_encoder",
    "load_checkpoint_graph",
    "load_reward_checkpoint",
    "save_reward_checkpoint",
]

CHECKPOINT_FORMAT = "edge-eval.reward-checkpoint"
CHECKPOINT_NAME = "reward.json"
ENCODER_DIR = "encoder"
#: Keys of ``reward.json`` besides the format, version, file roles and hashes.
_CARRIED = (
    "name",
    "kind",
    "output_scale",
    "calibration",
    "input_template",
    "clusters",
    "embedding_dim",
    "training",
    "validation",
)
#: Bundle keys that name bundle files: dropped when a bundle's metadata is saved as a checkpoint.
_BUNDLE_ONLY = ("format", "format_version", "model", "tokenizer", "head", "prototypes", "files")
_ROLES = ("encoder", "tokenizer", "head", "prototypes")
_KEYS = ("format", "format_version", "files", *_ROLES, *_CARRIED)
#: Tokenizer files copied into ``encoder/`` when they sit beside the given tokenizer.json.
_TOKENIZER_SIBLINGS = ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardCheckpoint:
    """A verified torch reward checkpoint on disk."""

    path: Path
    """The checkpoint folder."""
    name: str
    """The model's name (a fixed label)."""
    kind: str
    """``onnx-regression`` or ``onnx-preference``: the kind of the bundle it exports to."""
    encoder_dir: Path
    """The Hugging Face encoder folder."""
    tokenizer_file: Path
    """The tokenizer.json the bundle ships."""
    head_file: Path
    """head.npy: weights over [r, c, r*c] (and the log response length), then the bias."""
    prototypes_file: Path | None
    """Recogniser prototypes, or None."""
    clusters: tuple[str, ...]
    """Row names of the prototypes."""
    output_scale: tuple[float, float]
    """The score scale (clipping bounds)."""
    calibration: dict[str, Any]
    """Raw output -> scale map (the bundle's ``calibration``)."""
    template: InputTemplate
    """How turns become model input."""
    files: dict[str, str]
    """SHA-256 of every file, by path relative to the folder."""
    metadata: dict[str, Any]
    """The whole ``reward.json``."""

    @property
    def sha256(self) -> str:
        """A digest over the file hashes (what a manifest records as the checkpoint)."""
        return files_digest(self.files)

    def head(self) -> tuple[np.ndarray, float]:
        """The head's weights and bias."""
        values = np.load(self.head_file, allow_pickle=False)
        if values.ndim != 1 or values.size < 2:
            raise ArtifactError(f"checkpoint {self.path.name}: head.npy is not a 1-D weight+bias")
        return values[:-1].astype(np.float64), float(values[-1])


def is_reward_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a folder with a ``reward.json``."""
    return (Path(path) / CHECKPOINT_NAME).is_file()


def save_reward_checkpoint(
    graph: Any,
    out_dir: Path,
    *,
    tokenizer_file: Path,
    metadata: Mapping[str, Any],
    prototypes: np.ndarray | None = None,
) -> RewardCheckpoint:
    """Write the torch ``graph`` (:func:`~edge_eval.training.train.make_graph`) as a checkpoint.

    ``metadata`` is what the bundle would carry (a bundle's ``bundle.json`` dict works: its file
    entries are dropped); it needs ``kind``, ``calibration`` and ``input_template``. The folder
    appears whole or not at all (:func:`edge_eval._io.atomic_directory`).
    """
    meta = _checked_metadata(metadata)
    if prototypes is not None and not meta.get("clusters"):
        raise ConfigError("prototypes were given without their cluster names ('clusters')")
    if prototypes is None:
        meta.pop("clusters", None)
    tokenizer_file = Path(tokenizer_file)
    if not tokenizer_file.is_file():
        raise ConfigError("the tokenizer.json to save with the checkpoint does not exist")
    head = np.append(
        graph.head.weight.detach().cpu().numpy().reshape(-1),
        float(graph.head.bias.detach().cpu().reshape(-1)[0]),
    ).astype(np.float64)
    with atomic_directory(Path(out_dir)) as staging:
        encoder = staging / ENCODER_DIR
        graph.encoder.save_pretrained(str(encoder), safe_serialization=True)
        shutil.copyfile(tokenizer_file, encoder / "tokenizer.json")
        for name in _TOKENIZER_SIBLINGS:
            if (tokenizer_file.parent / name).is_file():
                shutil.copyfile(tokenizer_file.parent / name, encoder / name)
        np.save(staging / "head.npy", head, allow_pickle=False)
        meta.update(
            encoder=ENCODER_DIR,
            tokenizer=f"{ENCODER_DIR}/tokenizer.json",
            head="head.npy",
            embedding_dim=int(graph.encoder.config.hidden_size),
        )
        if prototypes is not None:
            np.save(staging / "prototypes.npy", np.asarray(prototypes, np.float32))
            meta["prototypes"] = "prototypes.npy"
        meta["format"] = CHECKPOINT_FORMAT
        meta["format_version"] = 1
        meta["files"] = {
            p.relative_to(staging).as_posix(): sha256_file(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        atomic_write_text(
            staging / CHECKPOINT_NAME, json.dumps(meta, indent=2, sort_keys=True) + "\n"
        )
    return load_reward_checkpoint(Path(out_dir))


def _checked_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in metadata.items() if k not in _BUNDLE_ONLY}
    unknown = sorted(set(meta) - set(_CARRIED))
    if unknown:
        raise ConfigError(
            f"unknown checkpoint metadata key(s) {', '.join(unknown)}",
            hint=f"valid keys: {', '.join(sorted(_CARRIED))}",
        )
    for key in ("kind", "calibration", "input_template"):
        if key not in meta:
            raise ConfigError(f"checkpoint metadata needs {key!r}")
    if meta["kind"] not in KINDS:
        raise ConfigError(f"unknown reward kind {meta['kind']!r}; known: {', '.join(KINDS)}")
    InputTemplate(**meta["input_template"])  # checks itself
    meta.setdefault("name", "reward-model")
    meta.setdefault("output_scale", [1, 5])
    return meta


def load_reward_checkpoint(path: Path | str, *, verify: bool = True) -> RewardCheckpoint:
    """Read ``reward.json`` and verify every listed file's SHA-256."""
    folder = Path(path)
    label = f"checkpoint {folder.name}"
    meta = read_metadata(
        folder / CHECKPOINT_NAME,
        label=label,
        fmt=CHECKPOINT_FORMAT,
        keys=_KEYS,
        hint="Pass a folder written by `edge-eval distill --save-torch` or "
        "`edge-eval bundle build --save-torch`.",
    )
    files: dict[str, str] = dict(meta.get("files") or {})
    for role in ("tokenizer", "head"):
        if meta.get(role) not in files:
            raise ArtifactError(f"{label}: the {role} file is not listed in 'files' with a hash")
    encoder = meta.get("encoder")
    if not isinstance(encoder, str) or f"{encoder}/config.json" not in files:
        raise ArtifactError(f"{label}: the encoder folder is not listed in 'files' with a hash")
    if verify:
        verify_files(folder, files, label=label, listed_in=CHECKPOINT_NAME)
    try:
        template = InputTemplate(**meta["input_template"])
        scale = meta.get("output_scale", [1, 5])
        output_scale = (float(scale[0]), float(scale[1]))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ArtifactError(f"{label}: input_template or output_scale is malformed") from exc
    prototypes = meta.get("prototypes")
    return RewardCheckpoint(
        path=folder,
        name=str(meta.get("name", folder.name)),
        kind=meta["kind"],
        encoder_dir=folder / encoder,
        tokenizer_file=folder / meta["tokenizer"],
        head_file=folder / meta["head"],
        prototypes_file=(folder / prototypes) if prototypes else None,
        clusters=tuple(meta.get("clusters") or ()),
        output_scale=output_scale,
        calibration=dict(meta["calibration"]),
        template=template,
        files=files,
        metadata=meta,
    )


def load_checkpoint_encoder(checkpoint: RewardCheckpoint) -> Any:
    """The checkpoint's encoder as a transformers model (fp32, eval mode)."""
    from edge_eval.training.train import _import_torch

    torch = _import_torch()
    from transformers import AutoModel

    try:
        encoder = AutoModel.from_pretrained(
            str(checkpoint.encoder_dir), dtype=torch.float32, local_files_only=True
        )
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        raise ArtifactError(
            f"checkpoint {checkpoint.path.name}: transformers could not load the encoder"
        ) from exc
    return encoder.eval()


def load_checkpoint_graph(checkpoint: RewardCheckpoint, encoder: Any | None = None) -> Any:
    """The reward graph (encoder + pooling + head) of a checkpoint, in eval mode.

    ``encoder`` replaces the checkpoint's own (e.g. one with a LoRA adapter merged in).
    """
    from edge_eval.training.train import make_graph, pooled_layers

    encoder = encoder if encoder is not None else load_checkpoint_encoder(checkpoint)
    weight, bias = checkpoint.head()
    hidden = int(encoder.config.hidden_size)
    try:
        layers = pooled_layers(checkpoint.metadata)
    except ConfigError as exc:
        raise ArtifactError(
            f"checkpoint {checkpoint.path.name}: training.pooled_layers is malformed"
        ) from exc
    depth = int(encoder.config.num_hidden_layers)
    width = len(layers) * hidden if layers else 3 * hidden
    what = f"the response pooled at layers {list(layers)}" if layers else "[r, c, r*c]"
    if weight.shape[0] not in (width, width + 1):
        raise ArtifactError(
            f"checkpoint {checkpoint.path.name}: head.npy has {weight.shape[0]} weights; an "
            f"encoder of width {hidden} needs {width} (features {what}) or "
            f"{width + 1} (and the log response length)"
        )
    if layers and (min(layers) < 1 or max(layers) > depth):
        raise ArtifactError(
            f"checkpoint {checkpoint.path.name}: pooled layers {list(layers)} do not fit an "
            f"encoder of {depth} layers"
        )
    return make_graph(encoder, weight, bias, layers=layers)
