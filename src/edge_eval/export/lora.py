"""peft LoRA adapters: read them without torch, check them against a GGUF base, and write
them as GGUF LoRA adapters that llama.cpp applies at load time.

GGUF adapter layout (what llama.cpp's loader checks, in numpy shapes): for every base tensor
``blk.N.<proj>.weight`` a pair ``<name>.lora_a`` of shape ``(r, in)`` and ``<name>.lora_b`` of
shape ``(out, r)`` (peft's own ``lora_A``/``lora_B`` layout), with the rows of ``lora_b``
reordered like the base's q/k rows; metadata ``general.type = "adapter"``,
``general.architecture`` equal to the base's, ``adapter.type = "lora"`` and
``adapter.lora.alpha``. llama.cpp scales each pair by ``alpha / r`` (``r`` read from the
tensor). When every module shares one ``r`` and one scaling (plain LoRA or rsLoRA without rank
or alpha patterns) the file stores ``alpha = scaling * r``; otherwise each ``lora_b`` is
multiplied by ``scaling * r`` and ``alpha`` is 1.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.errors import ArtifactError, ConfigError, ExportError, MissingDependencyError
from edge_eval.export.gguf_names import GGUFArchitecture, LoraTarget, parse_peft_module

__all__ = [
    "LoraModule",
    "PeftLoraAdapter",
    "check_adapter_against_base",
    "export_lora",
    "read_peft_adapter",
    "read_safetensors",
    "write_lora_gguf",
]

_SAFETENSORS_DTYPES: dict[str, Any] = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": "bf16",
}


# ---------------------------------------------------------------------------------------------
# Reading


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Float tensors of a safetensors file as float32 numpy arrays (BF16 included), no torch."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        (header_len,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + header_len])
    except (OSError, struct.error, ValueError) as exc:
        raise ArtifactError(
            f"{path.name} is not a readable safetensors file",
            hint="Re-save the adapter with peft's save_pretrained(safe_serialization=True).",
        ) from exc
    base = 8 + header_len
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
        begin, end = info["data_offsets"]
        if dtype is None:
            raise ArtifactError(f"{path.name}: tensor {name!r} has unsupported dtype")
        if base + end > len(raw):
            raise ArtifactError(f"{path.name}: tensor {name!r} lies beyond the end of the file")
        chunk = raw[base + begin : base + end]
        if dtype == "bf16":
            array = (np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(chunk, dtype=np.dtype(dtype).newbyteorder("<"))
        shape = tuple(int(s) for s in info["shape"])
        if int(np.prod(shape)) != array.size:
            raise ArtifactError(f"{path.name}: tensor {name!r} has a corrupt size")
        out[name] = array.reshape(shape).astype(np.float32)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class LoraModule:
    """One adapted projection: ``delta = scaling * b @ a`` in HF (PyTorch) layout."""

    target: LoraTarget
    """Where it lands in the GGUF."""
    a: np.ndarray
    """``lora_A``, shape ``(r, in)``."""
    b: np.ndarray
    """``lora_B``, shape ``(out, r)``."""
    scaling: float
    """``alpha / r`` (or ``alpha / sqrt(r)`` with rsLoRA)."""

    @property
    def rank(self) -> int:
        return int(self.a.shape[0])

    def delta(self) -> np.ndarray:
        """``scaling * B @ A`` (float32, HF row order)."""
        return (self.scaling * (self.b.astype(np.float64) @ self.a.astype(np.float64))).astype(
            np.float32
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PeftLoraAdapter:
    """A peft LoRA adapter read into numpy."""

    modules: tuple[LoraModule, ...]
    """Adapted projections, sorted by layer and projection."""
    lora_alpha: float
    """``lora_alpha`` of the config."""
    r: int
    """Default rank of the config."""
    use_rslora: bool
    """Whether scaling is ``alpha / sqrt(r)``."""


def _pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    # peft matches pattern keys against the end of the module path
    for key, value in patterns.items():
        if re.search(rf"(^|\.){key}$", module) or re.search(rf"(^|\.){re.escape(key)}$", module):
            return value
    return default


def read_peft_adapter(adapter_dir: Path) -> PeftLoraAdapter:
    """Read ``adapter_config.json`` + ``adapter_model.safetensors`` (no torch, no peft).

    Every problem found is reported at once: unsupported options (DoRA, bias, modules to save,
    fan-in-fan-out), modules without a GGUF counterpart, unpaired or inconsistent A/B shapes.
    """
    adapter_dir = Path(adapter_dir)
    config_path = adapter_dir / "adapter_config.json"
    weights_path = adapter_dir / "adapter_model.safetensors"
    if not config_path.is_file() or not weights_path.is_file():
        raise ArtifactError(
            "the adapter folder needs adapter_config.json and adapter_model.safetensors",
            hint="Save the adapter with peft's save_pretrained(safe_serialization=True).",
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError("adapter_config.json is not valid JSON") from exc
    problems: list[str] = []
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        problems.append(f"peft_type is {config.get('peft_type')!r}, only LORA is supported")
    if config.get("use_dora"):
        problems.append("DoRA adapters (use_dora) are not supported")
    if config.get("bias", "none") != "none":
        problems.append(f"bias={config.get('bias')!r} is not supported (use bias='none')")
    if config.get("modules_to_save"):
        problems.append("modules_to_save (fully trained extra modules) cannot go into GGUF LoRA")
    if config.get("fan_in_fan_out"):
        problems.append("fan_in_fan_out adapters are not supported")
    try:
        r = int(config["r"])
        alpha = float(config["lora_alpha"])
    except (KeyError, TypeError, ValueError):
        problems.append("adapter_config.json needs numeric 'r' and 'lora_alpha'")
        r, alpha = 0, 0.0
    use_rslora = bool(config.get("use_rslora", False))
    alpha_pattern = dict(config.get("alpha_pattern") or {})

    tensors = read_safetensors(weights_path)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, array in tensors.items():
        match = re.fullmatch(r"(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight", key)
        if match is None:
            problems.append(f"adapter tensor {key!r} is not a LoRA A/B matrix")
            continue
        pairs.setdefault(match.group("module"), {})[match.group("ab")] = array

    modules: list[LoraModule] = []
    for module in sorted(pairs):
        pair = pairs[module]
        if set(pair) != {"A", "B"}:
            problems.append(f"adapter module {module!r} lacks its lora_A or lora_B matrix")
            continue
        a, b = pair["A"], pair["B"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1] or a.shape[0] == 0:
            problems.append(
                f"adapter module {module!r}: lora_A {a.shape} and lora_B {b.shape} do not form "
                "a rank-r pair"
            )
            continue
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            problems.append(f"adapter module {module!r} holds NaN or infinite values")
            continue
        try:
            target = parse_peft_module(module)
        except ExportError as exc:
            problems.append(exc.message)
            continue
        rank = int(a.shape[0])
        module_alpha = float(_pattern_value(alpha_pattern, module, alpha))
        scaling = module_alpha / (math.sqrt(rank) if use_rslora else rank)
        modules.append(LoraModule(target=target, a=a, b=b, scaling=scaling))
    if not modules and not problems:
        problems.append("the adapter holds no LoRA matrices")
    if problems:
        raise ExportError(
            "the adapter cannot be exported: " + "; ".join(problems),
            hint="Train the adapter with peft LoRA on the decoder projections only.",
        )
    modules.sort(key=lambda m: (m.target.layer, m.target.tensor))
    return PeftLoraAdapter(modules=tuple(modules), lora_alpha=alpha, r=r, use_rslora=use_rslora)


# ---------------------------------------------------------------------------------------------
# Checking against a GGUF base


def gguf_field_values(reader: Any) -> dict[str, Any]:
    """``{key: python value}`` of a GGUFReader's metadata (skipping the GGUF.* header)."""
    values: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        try:
            values[key] = field.contents()
        except (ValueError, UnicodeDecodeError):
            continue
    return values


def check_adapter_against_base(adapter: PeftLoraAdapter, reader: Any) -> GGUFArchitecture:
    """Every adapter module must hit a base tensor of matching shape; list all that don't."""
    arch = GGUFArchitecture.from_fields(gguf_field_values(reader))
    tensors = {t.name: t for t in reader.tensors}
    problems: list[str] = []
    for module in adapter.modules:
        tensor = tensors.get(module.target.tensor)
        if tensor is None:
            problems.append(
                f"adapter module {module.target.module!r} targets {module.target.tensor}, which "
                f"the base does not have (it has {arch.block_count} layers)"
            )
            continue
        # GGUF shapes are [in, out] (ne order); the adapter's are (r, in) and (out, r)
        n_in, n_out = int(tensor.shape[0]), int(tensor.shape[1])
        if module.a.shape[1] != n_in or module.b.shape[0] != n_out:
            problems.append(
                f"adapter module {module.target.module!r} has delta shape "
                f"({module.b.shape[0]}, {module.a.shape[1]}) but base tensor "
                f"{module.target.tensor} is ({n_out}, {n_in})"
            )
    if problems:
        raise ExportError(
            "the adapter does not match the base model: " + "; ".join(problems),
            hint="Use the base model the adapter was trained on.",
        )
    return arch


_FLOAT_TYPES = ("F32", "F16", "BF16")


def touches_quantized_tensors(adapter: PeftLoraAdapter, reader: Any) -> bool:
    """Whether any base tensor the adapter changes is stored quantized."""
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    return any(types.get(m.target.tensor) not in _FLOAT_TYPES for m in adapter.modules)


def default_gate_name(adapter: PeftLoraAdapter, reader: Any, float_name: str) -> str:
    """``float_name`` on a float base; ``gguf-quantized-base`` when touched tensors are quantized
    (llama.cpp's quantized matmuls then differ from merged float weights by themselves)."""
    return "gguf-quantized-base" if touches_quantized_tensors(adapter, reader) else float_name


def open_gguf(path: Path) -> Any:
    """A ``gguf.GGUFReader`` on ``path``, with our errors for missing package or bad file."""
    try:
        import gguf
    except ImportError as exc:
        raise MissingDependencyError("gguf", "export") from exc
    path = Path(path)
    if not path.is_file():
        raise ArtifactError("the GGUF file does not exist", hint="Pass an existing .gguf file.")
    try:
        return gguf.GGUFReader(path)
    except (ValueError, OSError, struct.error, IndexError) as exc:
        raise ArtifactError(f"{path.name} is not a readable GGUF file") from exc


# ---------------------------------------------------------------------------------------------
# Writing the GGUF adapter


def _adapter_alpha(adapter: PeftLoraAdapter) -> float | None:
    """One alpha that reproduces every module's scaling through llama.cpp's alpha / r, if any."""
    values = {m.scaling * m.rank for m in adapter.modules}
    first = next(iter(values))
    if all(math.isclose(v, first, rel_tol=1e-6) for v in values):
        return float(first)
    return None


def write_lora_gguf(
    adapter: PeftLoraAdapter,
    arch: GGUFArchitecture,
    out_path: Path,
    *,
    outtype: str = "f32",
    name: str = "edge-eval lora",
) -> Path:
    """Write ``adapter`` as a llama.cpp GGUF LoRA adapter for a base of architecture ``arch``."""
    import gguf

    if outtype not in ("f32", "f16"):
        raise ConfigError(f"--outtype must be f32 or f16, got {outtype!r}")
    dtype = np.float16 if outtype == "f16" else np.float32
    alpha = _adapter_alpha(adapter)
    writer = gguf.GGUFWriter(str(out_path), arch=arch.name)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_name(name)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha if alpha is not None else 1.0)
    for module in adapter.modules:
        b = module.b
        if alpha is None:
            b = b * np.float32(module.scaling * module.rank)
        b = arch.rows_to_gguf(module.target.projection, b)
        writer.add_tensor(module.target.tensor + ".lora_a", np.ascontiguousarray(module.a, dtype))
        writer.add_tensor(module.target.tensor + ".lora_b", np.ascontiguousarray(b, dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(out_path)


def export_lora(
    adapter_dir: Path,
    base_path: Path,
    out_path: Path,
    *,
    outtype: str = "f32",
    check: bool = True,
    thresholds: Any = None,
    gate_overrides: dict[str, float | None] | None = None,
    probes_path: Path | None = None,
    n_threads: int = 2,
    command: str = "edge-eval export lora",
) -> Any:
    """Write a GGUF LoRA adapter for ``base_path`` and gate it.

    Default gate: ``gguf-lora``, or ``gguf-quantized-base`` when the tensors the adapter
    changes are quantized in the base; ``gate_overrides`` replace single bounds.

    The gate runs llama.cpp twice on the probe set: the base with the new adapter applied at load
    time (candidate) against a temporary GGUF with the adapter merged into f32 weights
    (reference, :func:`edge_eval.export.merge.merge_lora_gguf`). Nothing is kept when it fails.
    """
    from edge_eval.export.fidelity import gate_for
    from edge_eval.export.manifest import publish_gguf
    from edge_eval.export.merge import merge_lora_gguf
    from edge_eval.export.probes import gguf_logits, gguf_tokenize, load_probe_set

    out_path = Path(out_path)
    adapter = read_peft_adapter(adapter_dir)
    reader = open_gguf(base_path)
    arch = check_adapter_against_base(adapter, reader)
    gate_name = default_gate_name(adapter, reader, "gguf-lora")
    gate = thresholds if thresholds is not None else gate_for(gate_name)
    gate = gate.with_overrides(**(gate_overrides or {}))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    scratch = Path(tempfile.mkdtemp(prefix=".edge-eval-lora-", dir=out_path.parent))
    try:
        write_lora_gguf(adapter, arch, tmp, outtype=outtype)
        figures = None
        probe_sha = None
        if check:
            probes = load_probe_set(probes_path)
            probe_sha = probes.sha256
            merged = scratch / "reference-merged.gguf"
            merge_lora_gguf(base_path, adapter, merged, outtype="f32", reader=reader)
            ids = gguf_tokenize(base_path, probes.texts)
            reference = gguf_logits(merged, ids, n_threads=n_threads)
            candidate = gguf_logits(base_path, ids, lora_path=tmp, n_threads=n_threads)
            from edge_eval.export.fidelity import compare_lm_logits, enforce_gate

            figures = compare_lm_logits(reference, candidate, ids)
            enforce_gate(figures, gate, what="the GGUF LoRA adapter")
        return publish_gguf(
            tmp,
            out_path,
            reference_files={"base": Path(base_path), "adapter": Path(adapter_dir)},
            probe_set_sha256=probe_sha,
            figures=figures,
            thresholds=gate,
            checked=check,
            command=command,
            extra={
                "format": "gguf-lora",
                "gate": gate_name if thresholds is None else "custom",
                "outtype": outtype,
                "architecture": arch.name,
                "modules": len(adapter.modules),
                "reference": "base with the adapter merged into f32 weights (llama.cpp)",
            },
        )
    finally:
        tmp.unlink(missing_ok=True)
        for child in scratch.glob("*"):
            child.unlink(missing_ok=True)
        scratch.rmdir()
