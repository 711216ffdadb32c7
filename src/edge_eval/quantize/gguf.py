"""Quantize a GGUF with llama.cpp's own quantizer (``llama_model_quantize``) and gate it.

The gate runs llama.cpp on the probe set with the input file (reference) and the quantized
file (candidate), 2 threads, and compares next-token logits; defaults per type are in
:data:`edge_eval.export.fidelity.DEFAULT_GATES` (``gguf-q8_0`` ...). A failing gate leaves no
output file. Rows whose width is not a multiple of 256 cannot hold K-quant blocks; llama.cpp
then picks a fallback type for those tensors (it logs that; the manifest records the types).
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Any

from edge_eval.errors import ConfigError, QuantizationError
from edge_eval.export.fidelity import GateThresholds
from edge_eval.export.manifest import GGUFArtifact

__all__ = ["GGUFQuantType", "quantize_gguf", "quantize_gguf_file", "tensor_type_counts"]


class GGUFQuantType(str, Enum):
    """Quantization types offered (llama.cpp file types)."""

    Q8_0 = "Q8_0"
    Q6_K = "Q6_K"
    Q5_K_M = "Q5_K_M"
    Q4_K_M = "Q4_K_M"

    @classmethod
    def parse(cls, value: str | GGUFQuantType) -> GGUFQuantType:
        if isinstance(value, GGUFQuantType):
            return value
        try:
            return cls(value.upper())
        except ValueError:
            raise ConfigError(
                f"unknown GGUF quantization type {value!r}",
                hint=f"choose one of {', '.join(t.value for t in cls)}",
            ) from None

    @property
    def gate_name(self) -> str:
        return f"gguf-{self.value.lower()}"


def tensor_type_counts(path: Path) -> dict[str, int]:
    """``{GGML type name: tensor count}`` of a GGUF file."""
    from edge_eval.export.lora import open_gguf

    return dict(Counter(t.tensor_type.name for t in open_gguf(path).tensors))


def _is_quantized(path: Path) -> bool:
    return any(name not in ("F32", "F16", "BF16") for name in tensor_type_counts(path))


def quantize_gguf_file(
    in_path: Path, out_path: Path, qtype: GGUFQuantType | str, *, n_threads: int = 2
) -> Path:
    """Run llama.cpp's quantizer (no gate). A quantized input is requantized, with a loss."""
    from edge_eval.export.probes import import_llama_cpp

    qtype = GGUFQuantType.parse(qtype)
    llama_cpp = import_llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype.value}")
    params.nthread = n_threads
    params.allow_requantize = _is_quantized(Path(in_path))
    with _quiet():  # the quantizer logs every tensor on stderr
        status = llama_cpp.llama_model_quantize(
            str(in_path).encode("utf-8"), str(out_path).encode("utf-8"), ctypes.byref(params)
        )
    if status != 0:
        raise QuantizationError(
            f"llama.cpp's quantizer failed (status {status}) for type {qtype.value}",
            hint="Check that the input is a complete GGUF that this llama.cpp version loads.",
        )
    return Path(out_path)


def _quiet() -> Any:
    try:
        from llama_cpp._utils import suppress_stdout_stderr
    except ImportError:  # pragma: no cover - private helper moved
        from contextlib import nullcontext

        return nullcontext()
    return suppress_stdout_stderr(disable=False)


def quantize_gguf(
    in_path: Path,
    out_path: Path,
    *,
    qtype: GGUFQuantType | str,
    check: bool = True,
    thresholds: GateThresholds | None = None,
    gate_overrides: dict[str, float | None] | None = None,
    probes_path: Path | None = None,
    n_threads: int = 2,
    command: str = "edge-eval quantize gguf",
) -> GGUFArtifact:
    """Quantize ``in_path`` to ``qtype``, gate it against ``in_path``, write it + manifest."""
    from edge_eval.export.fidelity import compare_lm_logits, enforce_gate, gate_for
    from edge_eval.export.manifest import publish_gguf
    from edge_eval.export.probes import gguf_logits, gguf_tokenize, load_probe_set

    qtype = GGUFQuantType.parse(qtype)
    in_path = Path(in_path)
    out_path = Path(out_path)
    gate = thresholds if thresholds is not None else gate_for(qtype.gate_name)
    gate = gate.with_overrides(**(gate_overrides or {}))
    requantized = _is_quantized(in_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        quantize_gguf_file(in_path, tmp, qtype, n_threads=n_threads)
        figures: Any = None
        probe_sha = None
        if check:
            probes = load_probe_set(probes_path)
            probe_sha = probes.sha256
            ids = gguf_tokenize(in_path, probes.texts)
            reference = gguf_logits(in_path, ids, n_threads=n_threads)
            candidate = gguf_logits(tmp, ids, n_threads=n_threads)
            figures = compare_lm_logits(reference, candidate, ids)
            enforce_gate(figures, gate, what=f"the {qtype.value} GGUF")
        return publish_gguf(
            tmp,
            out_path,
            reference_files={"input": in_path},
            probe_set_sha256=probe_sha,
            figures=figures,
            thresholds=gate,
            checked=check,
            command=command,
            extra={
                "format": qtype.gate_name,
                "type": qtype.value,
                "requantized_from_quantized_input": requantized,
                "tensor_types": tensor_type_counts(tmp),
                "reference": "the input GGUF (llama.cpp)",
            },
        )
    finally:
        tmp.unlink(missing_ok=True)
