"""Merge a peft LoRA adapter into a GGUF model, in GGUF space, without torch.

The base is read with ``gguf.GGUFReader``. Each tensor the adapter touches is dequantized
(``gguf.quants.dequantize``), gets ``scaling * B @ A`` added (rows reordered like llama.cpp's
converter reorders q/k, see :mod:`edge_eval.export.gguf_names`) and is written as ``--outtype``
(f16 by default, or f32). Every other tensor is copied as it is: quantized blocks byte for byte
with their type. Every metadata key of the base (tokenizer, chat template, special ids, file
type...) is copied with its type and its exact bytes, in the same order.

Fidelity gate: llama.cpp runs the probe set on the merged file (candidate) and on the base
with the same adapter applied at load time as a GGUF LoRA (reference).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.errors import ConfigError, ExportError
from edge_eval.export.fidelity import GateThresholds
from edge_eval.export.lora import (
    PeftLoraAdapter,
    check_adapter_against_base,
    default_gate_name,
    open_gguf,
    read_peft_adapter,
    write_lora_gguf,
)
from edge_eval.export.manifest import GGUFArtifact

__all__ = [
    "OUTTYPES",
    "copy_gguf_metadata",
    "dequantize_gguf",
    "export_merge",
    "merge_lora_gguf",
    "raw_field_value",
]

OUTTYPES = ("f16", "f32")


def raw_field_value(field: Any) -> tuple[Any, Any, Any]:
    """``(value, type, sub_type)`` of a GGUFReader field, strings kept as their raw bytes."""
    import gguf

    kind = field.types[0]
    if kind == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]), kind, None
    if kind == gguf.GGUFValueType.ARRAY:
        sub = field.types[1] if len(field.types) > 1 else None
        if sub is None or sub == gguf.GGUFValueType.ARRAY:
            raise ExportError(f"metadata key {field.name!r} is a nested array; cannot copy it")
        if sub == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]) for i in field.data], kind, sub
        return [field.parts[i][0].item() for i in field.data], kind, sub
    return field.parts[field.data[0]][0].item(), kind, None


def copy_gguf_metadata(reader: Any, writer: Any) -> None:
    """Copy every key/value of ``reader`` into ``writer`` (same order, types and bytes)."""
    import gguf

    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        value, kind, sub = raw_field_value(field)
        if key == gguf.Keys.General.ARCHITECTURE:
            continue  # GGUFWriter wrote it first already, from the same value
        if key == gguf.Keys.General.ALIGNMENT:
            writer.data_alignment = int(value)
        writer.add_key_value(key, value, kind, sub_type=sub)


def merge_lora_gguf(
    base_path: Path,
    adapter: PeftLoraAdapter | Path,
    out_path: Path,
    *,
    outtype: str = "f16",
    reader: Any = None,
) -> Path:
    """Write ``base + adapter`` as a new GGUF at ``out_path`` (no gate, no manifest)."""
    import gguf
    from gguf.quants import dequantize

    if outtype not in OUTTYPES:
        raise ConfigError(f"--outtype must be one of {', '.join(OUTTYPES)}, got {outtype!r}")
    if not isinstance(adapter, PeftLoraAdapter):
        adapter = read_peft_adapter(Path(adapter))
    reader = reader if reader is not None else open_gguf(base_path)
    arch = check_adapter_against_base(adapter, reader)
    by_tensor = {m.target.tensor: m for m in adapter.modules}
    out_dtype = np.float16 if outtype == "f16" else np.float32

    architecture = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    writer = gguf.GGUFWriter(str(out_path), arch=architecture)
    copy_gguf_metadata(reader, writer)
    for tensor in reader.tensors:
        module = by_tensor.get(tensor.name)
        if module is None:
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
            continue
        weights = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        n_in, n_out = int(tensor.shape[0]), int(tensor.shape[1])
        weights = weights.reshape(n_out, n_in)
        delta = arch.rows_to_gguf(module.target.projection, module.delta())
        merged = (weights + delta).astype(out_dtype)
        if not np.isfinite(merged).all():
            raise ExportError(
                f"merging adapter module {module.target.module!r} overflows {outtype}",
                hint="Use --outtype f32.",
            )
        writer.add_tensor(tensor.name, np.ascontiguousarray(merged))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(out_path)


def dequantize_gguf(base_path: Path, out_path: Path, *, outtype: str = "f16") -> Path:
    """A float copy of a (quantized) GGUF: every quantized tensor becomes ``outtype``.

    Metadata is copied as it is except ``general.file_type``, set to the new type. This is the
    "f16 copy of the base" on which a runtime adapter can be compared with torch without
    llama.cpp's quantized matmuls in the way.
    """
    import gguf
    from gguf.quants import dequantize

    if outtype not in OUTTYPES:
        raise ConfigError(f"--outtype must be one of {', '.join(OUTTYPES)}, got {outtype!r}")
    reader = open_gguf(base_path)
    floats = {gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16}
    out_dtype = np.float16 if outtype == "f16" else np.float32
    file_type = gguf.LlamaFileType.MOSTLY_F16 if outtype == "f16" else gguf.LlamaFileType.ALL_F32
    architecture = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    writer = gguf.GGUFWriter(str(out_path), arch=architecture)
    copy_gguf_metadata(reader, writer)
    if gguf.Keys.General.FILE_TYPE in reader.fields:
        writer.kv_data[0][gguf.Keys.General.FILE_TYPE] = gguf.GGUFValue(
            value=int(file_type), type=gguf.GGUFValueType.UINT32
        )
    for tensor in reader.tensors:
        if tensor.tensor_type in floats and (outtype == "f32" or len(tensor.shape) == 1):
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
            continue
        shape = tuple(int(s) for s in reversed(tensor.shape))
        weights = dequantize(tensor.data, tensor.tensor_type).reshape(shape)
        dtype = np.float32 if len(shape) == 1 else out_dtype
        writer.add_tensor(tensor.name, np.ascontiguousarray(weights.astype(dtype)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(out_path)


def export_merge(
    base_path: Path,
    adapter_dir: Path,
    out_path: Path,
    *,
    outtype: str = "f16",
    check: bool = True,
    thresholds: GateThresholds | None = None,
    gate_overrides: dict[str, float | None] | None = None,
    probes_path: Path | None = None,
    n_threads: int = 2,
    command: str = "edge-eval export merge",
) -> GGUFArtifact:
    """Merge ``adapter_dir`` into ``base_path``, gate the result, write it and its manifest.

    The default gate is that of ``gguf-<outtype>``, or ``gguf-quantized-base`` when the tensors
    the adapter changes are quantized in the base; ``gate_overrides`` replace single bounds
    (``max_kl=...``). A failing gate raises
    :class:`~edge_eval.errors.FidelityError` and leaves nothing at ``out_path``.
    """
    from edge_eval.export.fidelity import compare_lm_logits, enforce_gate, gate_for
    from edge_eval.export.manifest import publish_gguf
    from edge_eval.export.probes import gguf_logits, gguf_tokenize, load_probe_set

    if outtype not in OUTTYPES:
        raise ConfigError(f"--outtype must be one of {', '.join(OUTTYPES)}, got {outtype!r}")
    out_path = Path(out_path)
    adapter = read_peft_adapter(adapter_dir)
    reader = open_gguf(base_path)
    arch = check_adapter_against_base(adapter, reader)
    gate_name = default_gate_name(adapter, reader, f"gguf-{outtype}")
    gate = thresholds if thresholds is not None else gate_for(gate_name)
    gate = gate.with_overrides(**(gate_overrides or {}))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    runtime_adapter = tmp.with_name(tmp.name + ".lora.gguf")
    try:
        merge_lora_gguf(base_path, adapter, tmp, outtype=outtype, reader=reader)
        figures = None
        probe_sha = None
        if check:
            probes = load_probe_set(probes_path)
            probe_sha = probes.sha256
            write_lora_gguf(adapter, arch, runtime_adapter, outtype="f32")
            ids = gguf_tokenize(base_path, probes.texts)
            reference = gguf_logits(base_path, ids, lora_path=runtime_adapter, n_threads=n_threads)
            candidate = gguf_logits(tmp, ids, n_threads=n_threads)
            figures = compare_lm_logits(reference, candidate, ids)
            enforce_gate(figures, gate, what="the merged GGUF")
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
                "format": f"gguf-{outtype}",
                "gate": gate_name if thresholds is None else "custom",
                "outtype": outtype,
                "architecture": arch.name,
                "modules": len(adapter.modules),
                "reference": "base with the adapter applied at load time (llama.cpp LoRA)",
            },
        )
    finally:
        tmp.unlink(missing_ok=True)
        runtime_adapter.unlink(missing_ok=True)
