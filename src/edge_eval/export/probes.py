"""The probe set fidelity gates run on, and running it through a GGUF model with llama.cpp.

The shipped probe set (``probes/probe_conversations.jsonl``) holds eight short chats with
digits, emoji, non-ASCII text and special-token text; ``--probes FILE`` overrides it with a
file of the same form (one ``{"messages": [{"role": ..., "content": ...}, ...]}`` per line).
Each chat is rendered as ChatML text; the text is fed to the model's own tokenizer with special
tokens parsed. Probe text never appears in an error, a log line or the manifest (the manifest
holds the file's SHA-256).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.errors import ArtifactError, ConfigError, ExportError

__all__ = [
    "DEFAULT_PROBES_PATH",
    "ProbeSet",
    "gguf_logits",
    "gguf_tokenize",
    "import_llama_cpp",
    "load_probe_set",
    "render_chatml",
]

DEFAULT_PROBES_PATH = Path(__file__).with_name("probes") / "probe_conversations.jsonl"
_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSet:
    """Probe texts for fidelity gates (kept in memory only; never serialised)."""

    texts: tuple[str, ...]
    """One rendered conversation per probe."""
    sha256: str
    """SHA-256 of the probe file's bytes (what the manifest records)."""

    def __post_init__(self) -> None:
        if not self.texts:
            raise ConfigError("the probe set is empty", hint="Give at least one conversation.")

    def __repr__(self) -> str:  # never show probe text
        return f"ProbeSet(n={len(self.texts)}, sha256={self.sha256[:12]}...)"


def render_chatml(messages: Sequence[dict[str, Any]]) -> str:
    """ChatML rendering (``<|im_start|>role\\ncontent<|im_end|>\\n`` per message)."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def load_probe_set(path: Path | None = None) -> ProbeSet:
    """Load the shipped probe set, or a file of the same form. Errors name lines, not text."""
    source = Path(path) if path is not None else DEFAULT_PROBES_PATH
    if not source.is_file():
        raise ConfigError(
            "the probe file does not exist", hint="Pass an existing JSON Lines file to --probes."
        )
    data = source.read_bytes()
    texts: list[str] = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"probe file line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON") from exc
        messages = record.get("messages") if isinstance(record, dict) else None
        if not isinstance(messages, list) or not messages:
            raise ConfigError(f"{where}: field 'messages' must be a non-empty list")
        for index, message in enumerate(messages):
            if (
                not isinstance(message, dict)
                or message.get("role") not in _ROLES
                or not isinstance(message.get("content"), str)
            ):
                raise ConfigError(
                    f"{where}: message {index} needs a role ({', '.join(_ROLES)}) and a "
                    "string content"
                )
        texts.append(render_chatml(messages))
    return ProbeSet(texts=tuple(texts), sha256=hashlib.sha256(data).hexdigest())


# ---------------------------------------------------------------------------------------------
# llama.cpp


def import_llama_cpp() -> Any:
    """Import llama_cpp, refusing a build that would crash on this CPU (see edge_eval.machine)."""
    from edge_eval.machine import load_llama_cpp

    return load_llama_cpp()


@contextmanager
def _open_llama(
    model_path: Path,
    *,
    n_ctx: int,
    lora_path: Path | None = None,
    logits_all: bool = False,
    n_threads: int = 2,
) -> Iterator[Any]:
    llama_cpp = import_llama_cpp()
    kwargs: dict[str, Any] = {
        "model_path": str(model_path),
        "n_ctx": n_ctx,
        "n_batch": n_ctx,
        "n_ubatch": n_ctx,
        "logits_all": logits_all,
        "n_threads": n_threads,
        "n_threads_batch": n_threads,
        "seed": 0,
        "verbose": False,
    }
    if logits_all:
        # keep the KV cache in f32 so a gate measures the weights, not the cache's f16 rounding
        # (f16 cache alone moved a 60-token probe's log-probability by 0.02 nats on SmolLM2)
        f32 = int(getattr(llama_cpp, "GGML_TYPE_F32", 0))
        kwargs["type_k"] = f32
        kwargs["type_v"] = f32
    if lora_path is not None:
        kwargs["lora_path"] = str(lora_path)
    try:
        llm = llama_cpp.Llama(**kwargs)
    except (ValueError, RuntimeError) as exc:
        what = "the model with its LoRA adapter" if lora_path is not None else "the model"
        raise ArtifactError(
            f"llama.cpp could not load {what} ({Path(model_path).name})",
            hint="Check that the file is a complete GGUF for this llama.cpp version.",
        ) from exc
    try:
        yield llm
    finally:
        llm.close()


def gguf_tokenize(model_path: Path, texts: Sequence[str]) -> list[list[int]]:
    """Token ids llama.cpp gives each text (special tokens parsed, BOS as the model says)."""
    with _open_llama(model_path, n_ctx=64) as llm:
        return [list(llm.tokenize(t.encode("utf-8"), add_bos=True, special=True)) for t in texts]


def gguf_logits(
    model_path: Path,
    token_ids: Sequence[Sequence[int]],
    *,
    lora_path: Path | None = None,
    n_threads: int = 2,
) -> list[np.ndarray]:
    """Next-token logits ``[T, vocab]`` (float32) for every position of every sequence."""
    longest = max((len(ids) for ids in token_ids), default=0)
    if longest == 0:
        raise ExportError("no probe tokens to evaluate")
    n_ctx = max(32, -(-longest // 32) * 32)
    out: list[np.ndarray] = []
    with _open_llama(
        model_path, n_ctx=n_ctx, lora_path=lora_path, logits_all=True, n_threads=n_threads
    ) as llm:
        for ids in token_ids:
            llm.reset()
            llm.eval(list(ids))
            out.append(np.array(llm.scores[: len(ids)], dtype=np.float32, copy=True))
    return out
