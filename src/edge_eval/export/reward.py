"""ONNX export of a reward model, optionally with a LoRA adapter merged into its encoder, gated.

    torch checkpoint (reward.json) ─► encoder (+ peft adapter, merge_and_unload) + head
        ─► ONNX fp32 (bundle signature) ─► int8 per-channel (optional)
        ─► scores of the probe turns through OnnxRewardModel vs the torch graph's
        ─► bundle.json + manifest.json ─► OUT_DIR (only when the gate passes)

The reference is the torch graph on the probe set's assistant turns, each in its context and
encoded by :class:`~edge_eval.reward.encoding.TurnEncoder` exactly as the runtime does, its raw
outputs mapped by the checkpoint's calibration onto the score scale; the candidate is the
written bundle scored by :class:`~edge_eval.reward.onnx_scorer.OnnxRewardModel`, the scorer
``edge-eval score`` runs. Both are compared on the 1-5 scale users see (MAE, Spearman).

An fp32 ONNX bundle is also accepted as the source, for one step only: quantizing it to int8,
gated against the fp32 bundle itself. Anything else (an adapter, an fp32 re-export, an already
quantized bundle) needs the torch checkpoint.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval._io import atomic_directory
from edge_eval.errors import ConfigError
from edge_eval.export.fidelity import (
    DEFAULT_GATES,
    GateThresholds,
    RewardFidelity,
    compare_scores,
    enforce_gate,
    figures_to_dict,
)
from edge_eval.export.manifest import MANIFEST_NAME, write_artifact_manifest
from edge_eval.quantize.reward import INT8_RECIPE
from edge_eval.reward.base import TurnInput

__all__ = [
    "DEFAULT_REWARD_PROBES_PATH",
    "MIN_PROBE_TURNS",
    "RewardExportConfig",
    "RewardOnnxArtifact",
    "RewardPrecision",
    "export_reward_onnx",
    "load_reward_probes",
]

logger = logging.getLogger(__name__)
Progress = Callable[[str], None]

DEFAULT_REWARD_PROBES_PATH = Path(__file__).with_name("probes") / "reward_probe_conversations.jsonl"
#: Fewest assistant turns a reward probe set must have for a Spearman figure to mean something.
MIN_PROBE_TURNS = 20
_QUANTIZED_OPS = frozenset(
    {
        "DynamicQuantizeLinear",
        "MatMulInteger",
        "ConvInteger",
        "QuantizeLinear",
        "DequantizeLinear",
        "QLinearMatMul",
        "DynamicQuantizeMatMul",
        "MatMulNBits",
    }
)


class RewardPrecision(str, Enum):
    """Weights of the exported reward model."""

    INT8 = "int8"
    FP32 = "fp32"


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardExportConfig:
    """What :func:`export_reward_onnx` exports and how it is checked."""

    source: Path
    """A torch reward checkpoint folder (``reward.json``), or an fp32 ONNX bundle (int8 only)."""
    adapter: Path | None = None
    """A peft LoRA adapter folder trained on the checkpoint's encoder, or None."""
    precision: RewardPrecision = RewardPrecision.INT8
    """int8 (the batch-independent recipe every bundle ships with) or fp32."""
    check: bool = True
    """Run the fidelity gate (``--no-check`` turns it off; the manifest records it)."""
    gate: GateThresholds | None = None
    """Thresholds (None: ``reward-onnx`` for fp32, ``reward-onnx-int8`` for int8)."""
    probes: Path | None = None
    """Probe conversations (JSON Lines; None: the shipped reward probe set)."""
    batch_size: int = 32
    """Turns per batch, for the torch reference and the runtime alike."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", RewardPrecision(self.precision))
        if self.batch_size < 1:
            raise ConfigError("the batch size must be at least 1")

    @property
    def format(self) -> str:
        return f"reward-onnx-{self.precision.value}"

    @property
    def gate_name(self) -> str:
        return "reward-onnx" if self.precision is RewardPrecision.FP32 else "reward-onnx-int8"

    def thresholds(self) -> GateThresholds:
        return self.gate if self.gate is not None else DEFAULT_GATES[self.gate_name]


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardOnnxArtifact:
    """A reward bundle written by :func:`export_reward_onnx`, with its manifest."""

    out_dir: Path
    """The bundle folder (bundle.json, model.onnx, tokenizer.json, head.npy, manifest.json)."""
    format: str
    """``reward-onnx-fp32`` or ``reward-onnx-int8``."""
    source_kind: str
    """``torch-checkpoint`` or ``onnx-bundle``: what the reference is."""
    model_bytes: int
    """Size of model.onnx."""
    figures: RewardFidelity | None
    """Scores of the bundle against the reference (None with ``--no-check``)."""
    fp32_figures: RewardFidelity | None
    """int8 from a checkpoint: the fp32 ONNX graph against torch (None otherwise)."""
    checked: bool
    """Whether the gate ran."""

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST_NAME

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "source_kind": self.source_kind,
            "model_bytes": self.model_bytes,
            "checked": self.checked,
            "figures": figures_to_dict(self.figures),
            "fp32_figures": figures_to_dict(self.fp32_figures),
        }


# ---------------------------------------------------------------------------------------------
# Probes


def load_reward_probes(path: Path | None = None) -> tuple[tuple[TurnInput, ...], str]:
    """The assistant turns (each with the turns before it) of a probe conversations file, and
    the file's SHA-256. Errors name lines and fields, never text."""
    import hashlib

    from edge_eval.conversations import iter_conversations, turn_inputs

    source = Path(path) if path is not None else DEFAULT_REWARD_PROBES_PATH
    if not source.is_file():
        raise ConfigError(
            "the probe file does not exist", hint="Pass an existing JSON Lines file to --probes."
        )
    turns: list[TurnInput] = []
    for conversation in iter_conversations(source):
        turns.extend(turn_inputs(conversation))
    if len(turns) < MIN_PROBE_TURNS:
        raise ConfigError(
            f"the probe set has {len(turns)} assistant turns; a reward gate needs at least "
            f"{MIN_PROBE_TURNS} for its Spearman figure to mean something",
            hint="Pass conversations with more assistant turns to --probes, or leave it out.",
        )
    return tuple(turns), hashlib.sha256(source.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The stage


def export_reward_onnx(
    config: RewardExportConfig, *, out_dir: Path, progress: Progress | None = None
) -> RewardOnnxArtifact:
    """Export a reward model to an ONNX bundle in ``out_dir``; with ``config.check``, refuse
    (keeping nothing) unless its scores on the probe turns match the reference's.

    Raises:
        ConfigError: the source is neither a checkpoint nor a usable bundle, a bad option.
        ArtifactError: a file of the source or the adapter is missing, changed or damaged.
        ExportError: the adapter does not fit the encoder (the message names the module).
        FidelityError: the gate failed; nothing was written.
    """
    from edge_eval.training.checkpoint import is_reward_checkpoint

    report: Progress = progress or (lambda message: logger.info("%s", message))
    source = Path(config.source)
    adapter = Path(config.adapter) if config.adapter is not None else None
    if adapter is not None and not adapter.is_dir():
        raise ConfigError("the adapter folder does not exist", hint="Pass a peft adapter folder.")
    if is_reward_checkpoint(source):
        return _from_checkpoint(config, source, adapter, Path(out_dir), report)
    if (source / "bundle.json").is_file():
        return _from_bundle(config, source, adapter, Path(out_dir), report)
    raise ConfigError(
        "the reward source is neither a torch checkpoint (reward.json) nor a reward bundle",
        hint="Pass a folder written by `edge-eval distill --save-torch`.",
    )


def _from_checkpoint(
    config: RewardExportConfig,
    source: Path,
    adapter: Path | None,
    out_dir: Path,
    report: Progress,
) -> RewardOnnxArtifact:
    from edge_eval.reward.bundle import load_bundle, write_bundle_json
    from edge_eval.reward.encoding import TurnEncoder
    from edge_eval.training.checkpoint import (
        load_checkpoint_encoder,
        load_checkpoint_graph,
        load_reward_checkpoint,
    )
    from edge_eval.training.distill import (
        apply_calibration,
        export_student,
        graph_scores,
        onnx_raw_scores,
    )

    checkpoint = load_reward_checkpoint(source)
    report("loading the torch checkpoint")
    encoder = load_checkpoint_encoder(checkpoint)
    if adapter is not None:
        from edge_eval.export.onnx import merge_lora_adapter

        encoder = merge_lora_adapter(encoder, adapter, report)
    graph = load_checkpoint_graph(checkpoint, encoder)
    scale = checkpoint.output_scale

    turns: tuple[TurnInput, ...] = ()
    probe_digest: str | None = None
    reference = np.zeros(0)
    sequences: list[Any] = []
    pad = 0
    if config.check:
        turns, probe_digest = load_reward_probes(config.probes)
        turn_encoder = TurnEncoder(checkpoint.tokenizer_file, checkpoint.template)
        sequences, pad = turn_encoder.encode_turns(turns), turn_encoder.pad
        report(f"computing torch reference scores on {len(turns)} probe turns")
        raw = graph_scores(graph, sequences, batch_size=config.batch_size, pad_id=pad)
        reference = apply_calibration(checkpoint.calibration, raw, scale)

    quantize = config.precision is RewardPrecision.INT8
    with (
        tempfile.TemporaryDirectory(prefix=".reward-export-") as work_name,
        atomic_directory(out_dir) as staging,
    ):
        report(f"exporting ONNX ({config.precision.value})")
        fp32, shipped = export_student(graph, Path(work_name), staging, quantize=quantize)
        del graph, encoder
        shutil.copyfile(checkpoint.tokenizer_file, staging / "tokenizer.json")
        shutil.copyfile(checkpoint.head_file, staging / "head.npy")
        meta = _bundle_meta(checkpoint.metadata, adapter is not None)
        if checkpoint.prototypes_file is not None:
            shutil.copyfile(checkpoint.prototypes_file, staging / "prototypes.npy")
            meta["prototypes"] = "prototypes.npy"
            meta["clusters"] = list(checkpoint.clusters)
        training = dict(meta.get("training") or {})
        if adapter is not None:
            training["encoder_trained"] = True  # the LoRA adapter trained it further
        meta["training"] = dict(
            training,
            precision=INT8_RECIPE if quantize else "fp32",
            export={
                "source": "torch checkpoint",
                "checkpoint_sha256": checkpoint.sha256,
                "adapter_merged": adapter is not None,
                "prototypes": (
                    "from the checkpoint, computed before the adapter was merged"
                    if adapter is not None and checkpoint.prototypes_file is not None
                    else "from the checkpoint"
                ),
            },
        )
        write_bundle_json(staging, meta)

        figures = fp32_figures = None
        providers: list[str] = ["CPUExecutionProvider"]
        if config.check:
            report("scoring the probe turns with the bundle (onnxruntime)")
            candidate, providers = _bundle_scores(load_bundle(staging), turns, config.batch_size)
            figures = compare_scores(reference, candidate)
            if quantize:
                raw_fp32 = onnx_raw_scores(
                    fp32, sequences, batch_size=config.batch_size, pad_id=pad
                )
                fp32_figures = compare_scores(
                    reference, apply_calibration(checkpoint.calibration, raw_fp32, scale)
                )
            enforce_gate(figures, config.thresholds(), what=f"the {config.format} export")
        references: dict[str, Path] = {"checkpoint": source}
        if adapter is not None:
            references["adapter"] = adapter
        _write_manifest(
            staging,
            config,
            references=references,
            probe_digest=probe_digest,
            figures=figures,
            extra={
                "source_kind": "torch-checkpoint",
                "reference_runtime": "torch fp32 (the checkpoint's graph"
                + (" with the adapter merged)" if adapter is not None else ")"),
                "adapter_merged": adapter is not None,
                "fp32_onnx_vs_torch": figures_to_dict(fp32_figures) if fp32_figures else None,
                "execution_providers": providers,
                "opset": _opset_of(shipped),
            },
        )
        model_bytes = shipped.stat().st_size
    return RewardOnnxArtifact(
        out_dir=out_dir,
        format=config.format,
        source_kind="torch-checkpoint",
        model_bytes=model_bytes,
        figures=figures,
        fp32_figures=fp32_figures,
        checked=config.check,
    )


def _from_bundle(
    config: RewardExportConfig,
    source: Path,
    adapter: Path | None,
    out_dir: Path,
    report: Progress,
) -> RewardOnnxArtifact:
    from edge_eval.reward.bundle import load_bundle, write_bundle_json

    bundle = load_bundle(source)
    need_torch = "Pass the torch checkpoint (a folder written by `edge-eval distill --save-torch`)."
    if adapter is not None:
        raise ConfigError(
            "an adapter can only be merged into a torch checkpoint, not into an ONNX bundle",
            hint=need_torch,
        )
    if config.precision is not RewardPrecision.INT8:
        raise ConfigError(
            "an ONNX bundle can only be quantized to int8 here; an fp32 export needs the "
            "torch checkpoint",
            hint=need_torch,
        )
    if _is_quantized(bundle.model_file):
        raise ConfigError(
            "the bundle's model is already quantized; quantizing it again would stack the "
            "rounding errors",
            hint=need_torch + " Or start from an fp32 bundle.",
        )

    turns: tuple[TurnInput, ...] = ()
    probe_digest: str | None = None
    reference = np.zeros(0)
    if config.check:
        turns, probe_digest = load_reward_probes(config.probes)
        report(f"scoring {len(turns)} probe turns with the fp32 bundle (reference)")
        reference, _ = _bundle_scores(bundle, turns, config.batch_size)

    from edge_eval.training.train import quantize_int8

    with atomic_directory(out_dir) as staging:
        report("quantizing to int8 (per-row activations, batch-independent)")
        quantize_int8(bundle.model_file, staging / "model.onnx")
        meta = _bundle_meta(bundle.metadata, adapter_merged=False)
        meta["model"] = "model.onnx"
        for role in ("tokenizer", "prototypes", "head"):
            name = bundle.metadata.get(role)
            if name:
                shutil.copyfile(source / name, staging / name)
                meta[role] = name
        meta["training"] = dict(
            meta.get("training") or {},
            precision=INT8_RECIPE,
            export={"source": "fp32 ONNX bundle", "bundle_sha256": bundle.sha256},
        )
        write_bundle_json(staging, meta)

        figures = None
        providers: list[str] = ["CPUExecutionProvider"]
        if config.check:
            report("scoring the probe turns with the int8 bundle")
            candidate, providers = _bundle_scores(load_bundle(staging), turns, config.batch_size)
            figures = compare_scores(reference, candidate)
            enforce_gate(figures, config.thresholds(), what=f"the {config.format} export")
        _write_manifest(
            staging,
            config,
            references={"bundle": source},
            probe_digest=probe_digest,
            figures=figures,
            extra={
                "source_kind": "onnx-bundle",
                "reference_runtime": "onnxruntime fp32 (the source bundle, OnnxRewardModel)",
                "adapter_merged": False,
                "fp32_onnx_vs_torch": None,
                "execution_providers": providers,
                "opset": _opset_of(staging / "model.onnx"),
            },
        )
        model_bytes = (staging / "model.onnx").stat().st_size
    return RewardOnnxArtifact(
        out_dir=out_dir,
        format=config.format,
        source_kind="onnx-bundle",
        model_bytes=model_bytes,
        figures=figures,
        fp32_figures=None,
        checked=config.check,
    )


# ---------------------------------------------------------------------------------------------
# Pieces


def _bundle_meta(source_meta: dict[str, Any], adapter_merged: bool) -> dict[str, Any]:
    """Bundle metadata from a checkpoint's or bundle's (file entries and hashes left out)."""
    keep = (
        "name",
        "kind",
        "output_scale",
        "calibration",
        "input_template",
        "embedding_dim",
        "training",
        "validation",
    )
    meta = {k: source_meta[k] for k in keep if source_meta.get(k) is not None}
    if adapter_merged:
        # the source's held-out figures describe the model without the adapter
        meta.pop("validation", None)
    meta.update(model="model.onnx", tokenizer="tokenizer.json", head="head.npy")
    return meta


def _bundle_scores(
    bundle: Any, turns: Sequence[TurnInput], batch_size: int
) -> tuple[np.ndarray, list[str]]:
    """Scores through the runtime scorer ``edge-eval score`` uses, and its providers."""
    from edge_eval.reward.onnx_scorer import OnnxRewardModel

    model = OnnxRewardModel(bundle, device="cpu", batch_size=batch_size)
    return model.score_turns(turns), list(model.providers)


def _is_quantized(model_path: Path) -> bool:
    import onnx

    proto = onnx.load(str(model_path), load_external_data=False)
    return any(node.op_type in _QUANTIZED_OPS for node in proto.graph.node)


def _opset_of(model_path: Path) -> int | None:
    import onnx

    proto = onnx.load(str(model_path), load_external_data=False)
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None


def _write_manifest(
    staging: Path,
    config: RewardExportConfig,
    *,
    references: dict[str, Path],
    probe_digest: str | None,
    figures: RewardFidelity | None,
    extra: dict[str, Any],
) -> None:
    write_artifact_manifest(
        staging / MANIFEST_NAME,
        artifact_files=sorted(p for p in staging.iterdir() if p.is_file()),
        reference_files=references,
        probe_set_sha256=probe_digest,
        figures=figures,
        thresholds=config.thresholds() if config.check else None,
        checked=config.check,
        command="export onnx --reward",
        extra={
            "format": config.format,
            "gate": config.gate_name,
            "compared": "scores on the output scale, calibrated as the runtime does",
            "precision": config.precision.value,
            **extra,
        },
    )
