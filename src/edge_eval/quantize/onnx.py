"""Quantize an exported ONNX language model with onnxruntime's quantizers, behind a fidelity gate.

* ``int8``: dynamic quantization (``quantize_dynamic``), 8-bit weights per output channel,
  activations quantized per tensor at run time. Weights are stored as *unsigned* 8-bit: with
  signed weights onnxruntime's u8s8 kernels saturate on CPUs without VNNI (AVX2 only), which
  on SmolLM2 took top-1 agreement from 0.90 down to 0.31 on this project's machine; u8u8 has
  no such overflow and decoded as fast there. Only MatMuls with a weight initializer are
  quantized (attention's activation x activation MatMuls stay fp32), and the sensitive ones are
  left out: ``lm_head`` and ``down_proj`` by default. The down projection's input carries the
  MLP's activation outliers, and per-tensor int8 activations there (and on the vocabulary
  projection) are what collapses a 135M model's top-1 agreement to about one half.
* ``int4``: weight-only block-wise quantization to ``MatMulNBits`` (``MatMulNBitsQuantizer``,
  block 32 by default), weights fitted with HQQ (float zero points) by default or plain
  symmetric round-to-nearest; ``lm_head`` stays fp32 by default. On SmolLM2, whose shipped
  weights are Q4_1 (4-bit, block 32, float offset), HQQ at block 32 recovers that grid (mean KL
  1.2e-4 vs the fp32 export, top-1 0.995) where symmetric RTN re-rounds it (mean KL 0.32, top-1
  0.73: it fails the default int4 gate). The price: onnxruntime 1.32's CPU MatMulNBits runs
  float zero points about 5x slower than RTN's (1.3 vs 6.5 tok/s decoding side by side on the
  loaded 2-core machine), so ``int4_algorithm=rtn`` is the fast choice when its gate passes.

The quantized model is compared with the fp32 input on the probe set (onnxruntime both sides,
prompt and decoding path); a failing gate raises :class:`~edge_eval.errors.FidelityError` and
nothing is written.
"""

from __future__ import annotations

import fnmatch
import logging
import shutil
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from edge_eval._io import atomic_directory
from edge_eval.errors import ConfigError, MissingDependencyError, QuantizationError
from edge_eval.export.fidelity import DEFAULT_GATES, GateThresholds, compare_lm_logits, enforce_gate
from edge_eval.export.manifest import MANIFEST_NAME, write_artifact_manifest
from edge_eval.export.onnx import (
    OnnxArtifact,
    load_probe_token_ids,
    onnx_lm_logits,
    onnx_model_files,
)

__all__ = [
    "DEFAULT_EXCLUDE",
    "Int4Algorithm",
    "OnnxQuantMode",
    "OnnxQuantizeConfig",
    "quantize_onnx",
    "select_matmuls",
]

logger = logging.getLogger(__name__)
Progress = Callable[[str], None]


class OnnxQuantMode(StrEnum):
    """How :func:`quantize_onnx` quantizes."""

    INT8 = "int8"
    """Dynamic int8, per-channel weights."""
    INT4 = "int4"
    """Weight-only 4-bit blocks (MatMulNBits)."""


class Int4Algorithm(StrEnum):
    """How 4-bit weights are chosen."""

    HQQ = "hqq"
    """Half-quadratic quantization: per-block scale and *float* zero point fitted to the weights
    (needs torch). On a base that came from a 4-bit GGUF with block 32 (SmolLM2's Q4_1) it finds
    the original grid again, so block-32 int4 is nearly lossless there."""
    RTN = "rtn"
    """Round to nearest, symmetric (fast, no torch; coarser)."""


#: MatMuls left in fp32 unless ``exclude`` says otherwise (patterns, see :func:`select_matmuls`).
DEFAULT_EXCLUDE: Mapping[OnnxQuantMode, tuple[str, ...]] = {
    OnnxQuantMode.INT8: ("lm_head", "down_proj"),
    OnnxQuantMode.INT4: ("lm_head",),
}
_QUANTIZED_OPS = {"MatMulInteger", "MatMulNBits", "DynamicQuantizeLinear", "QLinearMatMul"}


@dataclass(frozen=True, slots=True, kw_only=True)
class OnnxQuantizeConfig:
    """What :func:`quantize_onnx` does."""

    mode: OnnxQuantMode
    exclude: tuple[str, ...] | None = None
    """MatMuls to keep in fp32: a module name (``down_proj``, ``lm_head``, ``layers.3``) or a
    glob on the node name. None: :data:`DEFAULT_EXCLUDE` for the mode; ``()``: exclude none."""
    block_size: int = 32
    """int4 only: weights per quantization block along the input dimension."""
    int4_algorithm: Int4Algorithm = Int4Algorithm.HQQ
    """int4 only: how the 4-bit weights are fitted."""
    check: bool = True
    gate: GateThresholds | None = None
    """None: ``DEFAULT_GATES["onnx-int8"]`` / ``["onnx-int4"]``."""
    probes: Path | None = None
    max_probe_tokens: int = 128

    def __post_init__(self) -> None:
        if not isinstance(self.mode, OnnxQuantMode):
            raise ConfigError(
                f"unknown ONNX quantization mode {self.mode!r}", hint="Use int8 or int4."
            )
        if not isinstance(self.int4_algorithm, Int4Algorithm):
            raise ConfigError(
                f"unknown int4 algorithm {self.int4_algorithm!r}", hint="Use hqq or rtn."
            )
        if self.block_size not in (16, 32, 64, 128, 256):
            raise ConfigError("block size must be 16, 32, 64, 128 or 256")
        if self.max_probe_tokens < 2:
            raise ConfigError("max_probe_tokens must be at least 2")
        if self.exclude is not None and any(not p.strip() for p in self.exclude):
            raise ConfigError("an --exclude pattern is empty")

    @property
    def exclude_patterns(self) -> tuple[str, ...]:
        return DEFAULT_EXCLUDE[self.mode] if self.exclude is None else self.exclude

    @property
    def format(self) -> str:
        return f"onnx-{self.mode.value}"


def _matches(node_name: str, pattern: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(node_name, pattern)
    parts = [p for p in node_name.split("/") if p]
    return (
        pattern in parts
        or any(p.startswith(pattern + ".") for p in parts)
        or ("/" in pattern and pattern in node_name)
    )


def _transposed_initializers(model: Any) -> dict[str, Any]:
    """Transpose nodes whose input is an initializer (how optimum lays out a tied lm_head),
    by output name."""
    initializers = {i.name for i in model.graph.initializer}
    return {
        n.output[0]: n
        for n in model.graph.node
        if n.op_type == "Transpose" and len(n.input) == 1 and n.input[0] in initializers
    }


def select_matmuls(
    model: Any, patterns: Sequence[str]
) -> tuple[list[str], list[str], dict[str, int]]:
    """Split the weight MatMuls of an ONNX graph (second input a constant: an initializer or the
    transpose of one) into (to quantize, to keep fp32) by the exclusion patterns; the third value
    counts the nodes each pattern matched."""
    initializers = {i.name for i in model.graph.initializer}
    transposed = _transposed_initializers(model)
    weight_matmuls = [
        n.name
        for n in model.graph.node
        if n.op_type == "MatMul"
        and len(n.input) == 2
        and (n.input[1] in initializers or n.input[1] in transposed)
    ]
    counts = {p: 0 for p in patterns}
    keep: list[str] = []
    quantize: list[str] = []
    for name in weight_matmuls:
        hits = [p for p in patterns if _matches(name, p)]
        for p in hits:
            counts[p] += 1
        (keep if hits else quantize).append(name)
    return quantize, keep, counts


def _fold_transposed_weights(model: Any, matmuls: Sequence[str]) -> int:
    """Replace ``Transpose(initializer)`` feeding the given MatMuls by a transposed initializer,
    so the quantizers see a constant weight (a tied lm_head otherwise stays fp32 whatever the
    exclusions say). Returns how many were folded."""
    from onnx import numpy_helper

    transposed = _transposed_initializers(model)
    wanted = set(matmuls)
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    by_name = {i.name: i for i in model.graph.initializer}
    folded = 0
    for output, node in transposed.items():
        users = consumers.get(output, [])
        if not users or any(u.op_type != "MatMul" or u.name not in wanted for u in users):
            continue
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        array = numpy_helper.to_array(by_name[node.input[0]])
        array = array.transpose(perm) if perm else array.T
        model.graph.initializer.append(numpy_helper.from_array(array.copy(), name=output))
        model.graph.node.remove(node)
        folded += 1
    return folded


def _load_onnx(path: Path) -> Any:
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("onnx", "export") from exc
    try:
        return onnx.load(str(path), load_external_data=True)
    except (OSError, ValueError, DecodeError) as exc:
        raise QuantizationError(
            "the input model.onnx cannot be read or is damaged",
            hint="Export it again with 'edge-eval export onnx'.",
        ) from exc


def _quantize_int8(
    model: Any, dst: Path, nodes: list[str], excluded: list[str], large: bool
) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        model_input=model,
        model_output=str(dst),
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        reduce_range=False,
        weight_type=QuantType.QUInt8,  # u8s8 saturates without VNNI; see the module docstring
        nodes_to_quantize=nodes,
        nodes_to_exclude=excluded,
        use_external_data_format=large,
        extra_options={"MatMulConstBOnly": True},
    )


def _quantize_int4(
    model: Any,
    dst: Path,
    excluded: list[str],
    block_size: int,
    algorithm: Int4Algorithm,
    large: bool,
) -> None:
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import (
            DefaultWeightOnlyQuantConfig,
            HQQWeightOnlyQuantConfig,
            MatMulNBitsQuantizer,
        )
    except ImportError as exc:  # the module needs onnx-ir
        raise MissingDependencyError("onnx-ir", "export") from exc

    algo: Any
    if algorithm is Int4Algorithm.HQQ:
        try:
            import torch  # noqa: F401  (HQQ runs on torch)
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingDependencyError("torch", "export") from exc
        algo = HQQWeightOnlyQuantConfig(
            block_size=block_size, bits=4, op_types_to_quantize=("MatMul",)
        )
    else:
        algo = DefaultWeightOnlyQuantConfig(
            block_size=block_size, is_symmetric=True, op_types_to_quantize=("MatMul",)
        )
    quantizer = MatMulNBitsQuantizer(
        model,
        bits=4,
        block_size=block_size,
        is_symmetric=algorithm is Int4Algorithm.RTN,
        nodes_to_exclude=excluded,
        op_types_to_quantize=("MatMul",),
        algo_config=algo,
    )
    with warnings.catch_warnings():
        # HQQ wraps read-only numpy weights in torch tensors (it only reads them)
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        quantizer.process()
    quantizer.model.save_model_to_file(str(dst), use_external_data_format=large)


def quantize_onnx(
    src_dir: Path,
    config: OnnxQuantizeConfig,
    *,
    out_dir: Path,
    progress: Progress | None = None,
) -> OnnxArtifact:
    """Quantize the ONNX language model in ``src_dir`` (an ``export onnx`` folder) into
    ``out_dir``; with ``config.check``, refuse (keeping nothing) unless it passes its gate
    against the fp32 input on the probe set."""
    report: Progress = progress or (lambda message: logger.info("%s", message))
    src_dir = Path(src_dir)
    src_model = src_dir / "model.onnx"
    if not src_model.is_file():
        raise ConfigError(
            "the input folder has no model.onnx",
            hint="Pass a folder written by 'edge-eval export onnx'.",
        )
    if Path(out_dir).resolve() == src_dir.resolve():
        raise ConfigError("--out must differ from the input folder")
    gate = config.gate or DEFAULT_GATES[config.format]
    model = _load_onnx(src_model)
    already = sorted({n.op_type for n in model.graph.node} & _QUANTIZED_OPS)
    if already:
        raise QuantizationError(
            "the input model is already quantized (it has " + ", ".join(already) + " nodes)",
            hint="Quantize the fp32 export, not a quantized one.",
        )
    patterns = config.exclude_patterns
    to_quantize, excluded, counts = select_matmuls(model, patterns)
    unmatched = [p for p, n in counts.items() if n == 0]
    if config.exclude is not None and unmatched:
        raise ConfigError(
            "--exclude pattern(s) matched no weight MatMul: " + ", ".join(unmatched),
            hint="Node names look like /model/layers.0/mlp/down_proj/MatMul; pass a module name "
            "(down_proj, lm_head, layers.0) or a glob.",
        )
    if not to_quantize:
        raise QuantizationError("no weight MatMul is left to quantize after the exclusions")
    _fold_transposed_weights(model, to_quantize)
    large = sum(p.stat().st_size for p in onnx_model_files(src_dir)) > 1_800_000_000

    probe_ids: list[Any] = []
    digest = None
    if config.check:
        probe_ids, digest = load_probe_token_ids(
            src_dir, config.probes, max_tokens=config.max_probe_tokens
        )

    with atomic_directory(Path(out_dir)) as staging:
        dst = staging / "model.onnx"
        report(
            f"quantizing {len(to_quantize)} MatMuls to {config.mode.value} "
            f"({len(excluded)} kept fp32)"
        )
        try:
            if config.mode is OnnxQuantMode.INT8:
                _quantize_int8(model, dst, to_quantize, excluded, large)
            else:
                _quantize_int4(
                    model, dst, excluded, config.block_size, config.int4_algorithm, large
                )
            del model
        except (ValueError, RuntimeError, KeyError, OSError) as exc:
            raise QuantizationError(
                f"onnxruntime could not quantize the model to {config.mode.value}",
                hint="Rerun with --debug to see the quantizer's error.",
            ) from exc
        for item in sorted(src_dir.iterdir()):
            if (
                item.is_file()
                and not item.name.startswith("model.onnx")
                and item.name != (MANIFEST_NAME)
            ):
                shutil.copy2(item, staging / item.name)

        figures = None
        if config.check:
            report(f"checking {config.mode.value} logits against fp32 on {len(probe_ids)} probes")
            reference = onnx_lm_logits(src_model, probe_ids)
            candidate = onnx_lm_logits(dst, probe_ids)
            figures = compare_lm_logits(reference, candidate, probe_ids)
            enforce_gate(figures, gate, what=f"the {config.mode.value} quantization")
        model_files = onnx_model_files(staging)
        write_artifact_manifest(
            staging / MANIFEST_NAME,
            artifact_files=sorted(p for p in staging.iterdir() if p.is_file()),
            reference_files={f"fp32/{p.name}": p for p in onnx_model_files(src_dir)},
            probe_set_sha256=digest,
            figures=figures,
            thresholds=gate if config.check else None,
            checked=config.check,
            command="quantize onnx",
            extra={
                "format": config.format,
                "mode": config.mode.value,
                "quantizer": "quantize_dynamic per-channel, QUInt8 weights"
                if config.mode is OnnxQuantMode.INT8
                else f"MatMulNBits 4-bit {config.int4_algorithm.value}, block {config.block_size}",
                "exclude_patterns": list(patterns),
                "matmuls_quantized": len(to_quantize),
                "matmuls_kept_fp32": len(excluded),
                "reference_runtime": "onnxruntime fp32 (the input model)",
                "execution_providers": ["CPUExecutionProvider"],
            },
        )
        model_bytes = sum(p.stat().st_size for p in model_files)
    return OnnxArtifact(
        out_dir=Path(out_dir),
        format=config.format,
        model_bytes=model_bytes,
        figures=figures,
        tokenizer_figures=None,
        checked=config.check,
    )
