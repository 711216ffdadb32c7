"""peft module names -> GGUF tensor names, and llama.cpp's q/k row layout.

llama.cpp's HF->GGUF converter writes Llama-architecture q and k projections with their rows
permuted (it turns HF's "rotate half" RoPE layout into the interleaved layout llama.cpp's
``rope`` kernel expects): per head, rows ``[0, h/2)`` and ``[h/2, h)`` are interleaved. The
permutation uses the query head count for ``attn_q`` and the key/value head count for
``attn_k``. Because it only reorders output rows, a LoRA delta ``B @ A`` is mapped by
permuting the rows of ``B`` (``A`` is untouched). Gemma-3 is converted without this
permutation (its converter class only shifts norm weights by one), so its deltas are copied
as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from edge_eval.errors import ExportError

__all__ = [
    "PROJECTIONS",
    "SUPPORTED_ARCHITECTURES",
    "GGUFArchitecture",
    "LoraTarget",
    "parse_peft_module",
    "permute_qk_rows",
    "unpermute_qk_rows",
]


class QKLayout(str, Enum):
    """How the converter stores q/k projection rows for an architecture."""

    PERMUTED = "permuted"
    AS_IS = "as-is"


# architecture (GGUF ``general.architecture``) -> q/k layout, checked against llama.cpp's
# convert_hf_to_gguf.py: LlamaModel.modify_tensors permutes, Gemma3Model does not.
SUPPORTED_ARCHITECTURES: dict[str, QKLayout] = {
    "llama": QKLayout.PERMUTED,
    "gemma3": QKLayout.AS_IS,
}

# peft projection module name -> GGUF tensor stem
PROJECTIONS: dict[str, str] = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}

_MODULE_RE = re.compile(
    r"(?:^|\.)layers\.(?P<layer>\d+)\.(?:self_attn|mlp)\.(?P<proj>" + "|".join(PROJECTIONS) + r")$"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoraTarget:
    """Where one peft module lands in the GGUF file."""

    module: str
    """peft module path without the ``.lora_A.weight`` suffix."""
    layer: int
    """Transformer block index."""
    projection: str
    """peft projection name (``q_proj`` ...)."""
    tensor: str
    """GGUF tensor name (``blk.3.attn_q.weight``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GGUFArchitecture:
    """The few hyper-parameters the merge needs, read from a GGUF's metadata."""

    name: str
    """``general.architecture``."""
    block_count: int
    """Number of transformer blocks."""
    head_count: int
    """Query heads."""
    head_count_kv: int
    """Key/value heads (equal to ``head_count`` without grouped-query attention)."""
    qk_layout: QKLayout
    """Whether the converter permuted q/k rows."""

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> GGUFArchitecture:
        """Build from ``{key: python value}`` of a GGUF's metadata."""
        name = str(fields.get("general.architecture", ""))
        if name not in SUPPORTED_ARCHITECTURES:
            raise ExportError(
                f"GGUF architecture {name!r} is not supported for LoRA export",
                hint=f"supported architectures: {', '.join(sorted(SUPPORTED_ARCHITECTURES))}",
            )
        try:
            blocks = int(fields[f"{name}.block_count"])
            heads = _first_int(fields[f"{name}.attention.head_count"])
        except KeyError as exc:
            raise ExportError(f"the base GGUF lacks the metadata key {exc.args[0]!r}") from exc
        heads_kv = _first_int(fields.get(f"{name}.attention.head_count_kv", heads))
        return cls(
            name=name,
            block_count=blocks,
            head_count=heads,
            head_count_kv=heads_kv,
            qk_layout=SUPPORTED_ARCHITECTURES[name],
        )

    def rows_to_gguf(self, projection: str, rows: np.ndarray) -> np.ndarray:
        """Reorder the output rows of an HF-layout matrix (a delta or a LoRA B) to GGUF's."""
        if self.qk_layout is QKLayout.AS_IS:
            return rows
        if projection == "q_proj":
            return permute_qk_rows(rows, self.head_count, self.head_count)
        if projection == "k_proj":
            return permute_qk_rows(rows, self.head_count, self.head_count_kv)
        return rows


def _first_int(value: Any) -> int:
    # head counts may be per-layer arrays in some GGUFs; the merge needs one value
    if isinstance(value, list | tuple):
        if len(set(value)) != 1:
            raise ExportError("per-layer head counts that differ are not supported")
        value = value[0]
    return int(value)


def parse_peft_module(module: str) -> LoraTarget:
    """Map a peft module path (``base_model.model.model.layers.0.self_attn.q_proj``)."""
    match = _MODULE_RE.search(module)
    if match is None:
        raise ExportError(
            f"adapter module {module!r} has no GGUF counterpart",
            hint="Only LoRA on the q/k/v/o and gate/up/down projections of the decoder layers "
            "can be exported to GGUF.",
        )
    layer = int(match.group("layer"))
    projection = match.group("proj")
    return LoraTarget(
        module=module,
        layer=layer,
        projection=projection,
        tensor=f"blk.{layer}.{PROJECTIONS[projection]}.weight",
    )


def permute_qk_rows(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """HF row order -> llama.cpp row order (the converter's ``permute``)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    rows = weights.shape[0]
    if rows % (2 * n_head) != 0:
        raise ExportError(f"{rows} rows cannot be split into {n_head} heads of two halves")
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def unpermute_qk_rows(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """Inverse of :func:`permute_qk_rows` (llama.cpp row order -> HF row order)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, rows // n_head // 2, 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )
