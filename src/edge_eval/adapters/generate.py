"""Chat generation with llama.cpp: one GGUF model, optionally with a GGUF LoRA adapter.

Prompts are ChatML rendered by :func:`edge_eval.export.probes.render_chatml` (the format SmolLM2
was tuned on) and tokenized by llama.cpp itself with special tokens parsed; adapter training
tokenizes the very same strings with the tokenizer rebuilt from the GGUF
(:func:`chat_prompt` is the single place both take them from).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_eval.errors import ArtifactError, ConfigError

__all__ = [
    "END_OF_TURN",
    "ChatGenerator",
    "GenerationConfig",
    "Message",
    "chat_prompt",
]

#: A chat message as ``(role, content)``.
Message = tuple[str, str]

#: What closes a ChatML turn; generation stops there.
END_OF_TURN = "<|im_end|>"


def chat_prompt(messages: Sequence[Message]) -> str:
    """ChatML of ``messages`` followed by the opening of an assistant turn."""
    from edge_eval.export.probes import render_chatml

    return render_chatml([{"role": r, "content": c} for r, c in messages]) + (
        "<|im_start|>assistant\n"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationConfig:
    """How replies are sampled (CPU-sized defaults)."""

    max_tokens: int = 64
    """Longest reply, in tokens."""
    temperature: float = 0.7
    top_p: float = 0.9
    repeat_penalty: float = 1.1
    n_ctx: int = 2048
    """llama.cpp context size; a conversation that outgrows it is an error."""
    n_threads: int = 1
    """llama.cpp threads. 1 by default: on the shared 2-core machine (load ~13) SmolLM2 took
    ~2 s per 48-token reply with 1 thread and 18-93 s with 2 (OpenMP threads wait on each
    other when the cores are busy); on an idle machine 2 threads are faster."""

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ConfigError("--max-tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ConfigError("temperature must be >= 0 and top_p in (0, 1]")
        if self.n_ctx < 64 or self.n_threads < 1:
            raise ConfigError("n_ctx must be at least 64 and n_threads at least 1")

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "repeat_penalty": self.repeat_penalty,
            "n_ctx": self.n_ctx,
        }


class ChatGenerator:
    """A llama.cpp model that answers ChatML conversations, deterministically per seed.

    Use as a context manager (the model is freed on exit). ``reset()`` clears the KV cache; a
    caller that resets at the start of each conversation gets the same replies for that
    conversation whatever ran before it (what makes ``synth`` resumable).
    """

    def __init__(
        self,
        model_path: Path,
        *,
        lora_path: Path | None = None,
        config: GenerationConfig | None = None,
    ) -> None:
        from edge_eval.export.probes import import_llama_cpp

        llama_cpp = import_llama_cpp()
        self.config = config = config or GenerationConfig()
        model_path = Path(model_path)
        if not model_path.is_file():
            raise ArtifactError("the GGUF model does not exist", hint="Pass an existing .gguf.")
        if lora_path is not None and not Path(lora_path).is_file():
            raise ArtifactError("the GGUF adapter does not exist", hint="Pass an existing .gguf.")
        kwargs: dict[str, Any] = {
            "model_path": str(model_path),
            "n_ctx": config.n_ctx,
            "n_threads": config.n_threads,
            "n_threads_batch": config.n_threads,
            "seed": 0,
            "verbose": False,
        }
        if lora_path is not None:
            kwargs["lora_path"] = str(lora_path)
        try:
            self._llm = llama_cpp.Llama(**kwargs)
        except (ValueError, RuntimeError) as exc:
            what = "the model with its adapter" if lora_path is not None else "the model"
            raise ArtifactError(
                f"llama.cpp could not load {what}",
                hint="Check that the adapter was made for this base and both files are complete.",
            ) from exc

    def __enter__(self) -> ChatGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            self._llm = None

    def reset(self) -> None:
        """Forget the KV cache (the next reply evaluates its whole prompt)."""
        self._llm.reset()

    def tokenize(self, text: str) -> list[int]:
        """llama.cpp's ids for ``text`` (BOS as the model adds it, special tokens parsed)."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def reply(self, messages: Sequence[Message], *, seed: int) -> str:
        """The assistant's next turn after ``messages`` (sampled with ``seed``), stripped."""
        ids = self.tokenize(chat_prompt(messages))
        c = self.config
        if len(ids) + c.max_tokens > c.n_ctx:
            raise ConfigError(
                f"a conversation needs {len(ids) + c.max_tokens} tokens of context, more than "
                f"n_ctx={c.n_ctx}",
                hint="Use fewer --turns or a smaller --max-tokens.",
            )
        out = self._llm.create_completion(
            ids,
            max_tokens=c.max_tokens,
            temperature=c.temperature,
            top_p=c.top_p,
            repeat_penalty=c.repeat_penalty,
            seed=seed,
            stop=[END_OF_TURN],
        )
        text = str(out["choices"][0]["text"])
        # drop anything after a turn marker the model wrote as plain text
        for marker in (END_OF_TURN, "<|im_start|>", "<|endoftext|>"):
            text = text.split(marker)[0]
        return text.strip()
