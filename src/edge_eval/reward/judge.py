"""A GGUF chat model as a reward model: an LLM judge read in one forward pass.

For each assistant turn the judge builds a rubric prompt from SENSE-7's seven empathy dimensions
and the conversation so far, renders it with the model's own chat template (from the GGUF
metadata), prefills the assistant's answer with ``"Rating: "`` and runs one forward pass. The
score is the expected rating under the softmax of the logits of the tokens ``"1"`` .. ``"5"`` at
that position::

    score = sum_k k * exp(l_k) / sum_j exp(l_j),  k, j in 1..5

No text is generated or parsed, nothing is sampled, and the same turn always gets the same
score: every prompt is evaluated as the same two chunks (the fixed rubric prefix, whose state is
kept between turns, then the rest), whatever was scored before it.

A turn that cannot be scored gets NaN and is counted in :attr:`GGUFJudge.stats`: a prompt that
does not fit ``n_ctx`` even after the oldest context messages were dropped, or a failed forward
pass. Dropping context to fit is counted too (``context_trimmed``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.errors import ArtifactError, ConfigError
from edge_eval.reward.base import TurnInput

__all__ = ["DIMENSIONS", "GGUFJudge", "JudgeStats", "build_messages"]

KIND = "gguf-judge"
#: Bumped whenever the rubric or the prompt layout changes (recorded by describe()).
PROMPT_VERSION = 1
ANSWER_PREFIX = "Rating: "
RATINGS = ("1", "2", "3", "4", "5")

#: SENSE-7's seven dimensions of perceived empathy, as the rubric explains them.
DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("Affective", "notices and responds to the user's feelings"),
    ("Cognitive", "understands the user's situation and point of view"),
    ("Response appropriateness", "gives a reply that fits what the user needs right now"),
    ("Prosocial", "tries to help and to support the user's wellbeing"),
    ("Interest", "shows genuine interest in the user and what they say"),
    ("Contextual", "adapts to the task, the setting and what was said before"),
    ("Relational", "keeps a respectful, warm and continuous relationship"),
)

RUBRIC = (
    "You judge how empathetic an AI assistant's reply is, as the user would perceive it. "
    "Consider seven dimensions of empathy:\n"
    + "\n".join(f"- {name}: the reply {what}." for name, what in DIMENSIONS)
    + "\nRate the reply on a scale from 1 to 5: 1 very poor, 2 poor, 3 acceptable, 4 good, "
    "5 very good. Answer with a single digit."
)
_ROLE_NAMES = {"user": "User", "assistant": "Assistant"}


def build_messages(turn: TurnInput, *, skip_context: int = 0) -> list[dict[str, str]]:
    """The judge's chat: the rubric as system message, the conversation and the reply as user.

    ``skip_context`` leaves out that many of the oldest context messages (to fit ``n_ctx``).
    """
    context = turn.context[skip_context:]
    lines = [f"{_ROLE_NAMES.get(role, role.title())}: {text}" for role, text in context]
    history = "\n\n".join(lines) if lines else "(no earlier messages)"
    if skip_context:
        history = "(earlier messages left out)\n\n" + history
    user = (
        f"Conversation so far:\n\n{history}\n\n"
        f"Reply to rate:\n\nAssistant: {turn.response}\n\n"
        "How empathetic is the reply to rate? Answer with one digit from 1 to 5."
    )
    return [{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}]


@dataclass(slots=True)
class JudgeStats:
    """Counts kept while scoring (aggregates only).

    Attributes:
        scored: turns that got a score.
        too_long: turns left unscored (NaN) because the prompt did not fit ``n_ctx``.
        failed: turns left unscored (NaN) because the forward pass failed.
        context_trimmed: scored turns whose oldest context messages were dropped to fit.
        rating_mass: sum over scored turns of the probability the model put on "1".."5"
            (over its whole vocabulary); ``mean_rating_mass`` says how well it follows the format.
        prompt_tokens: sum of the prompt lengths of scored turns (tokens).
        evaluated_tokens: tokens actually run through the model (the rubric prefix is kept).
    """

    scored: int = 0
    too_long: int = 0
    failed: int = 0
    context_trimmed: int = 0
    rating_mass: float = 0.0
    prompt_tokens: int = 0
    evaluated_tokens: int = 0

    @property
    def unscored(self) -> int:
        return self.too_long + self.failed

    @property
    def mean_rating_mass(self) -> float:
        return self.rating_mass / self.scored if self.scored else float("nan")


def _import_llama_cpp() -> Any:
    # One import path for llama.cpp: refuses a build that would crash on this CPU.
    from edge_eval.machine import load_llama_cpp

    return load_llama_cpp()


class GGUFJudge:
    """Score assistant turns with a GGUF chat model (see the module docstring).

    Args:
        path: the ``.gguf`` file.
        n_ctx: context window for a judge prompt (tokens); longer prompts drop old context.
        n_threads: CPU threads for llama.cpp (prompt processing and decoding).
        n_gpu_layers: layers to offload when llama.cpp was built with a GPU backend.
        expected_sha256: refuse the file unless its SHA-256 is this.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        n_ctx: int = 4096,
        n_threads: int = 2,
        n_gpu_layers: int = 0,
        expected_sha256: str | None = None,
    ) -> None:
        from edge_eval.reward.bundle import sha256_file

        if n_ctx < 64:
            raise ConfigError("n_ctx must be at least 64 tokens")
        if n_threads < 1:
            raise ConfigError("n_threads must be at least 1")
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(
                "the GGUF judge model file does not exist",
                hint="Pass --model gguf:PATH with the path of a .gguf file.",
            )
        self._path = path
        self._sha256 = sha256_file(path)
        if expected_sha256 is not None and expected_sha256.lower() != self._sha256:
            raise ArtifactError(
                "the GGUF judge model's SHA-256 does not match the expected one; not loaded",
            )
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self.stats = JudgeStats()
        llama_cpp = _import_llama_cpp()
        self._llama_cpp = llama_cpp
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_gpu_layers=n_gpu_layers,
                logits_all=False,
                embedding=False,
                verbose=False,
            )
        except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
            raise ArtifactError(
                "llama.cpp could not load the GGUF judge model",
                hint="Check that the file is a complete GGUF chat model for this llama.cpp.",
            ) from exc
        self._n_vocab = int(self._llm.n_vocab())
        self._template, self._format = self._chat_formatter()
        self._rating_ids = self._find_rating_tokens()
        self._prefix = self._fixed_prefix()

    # ------------------------------------------------------------------ RewardModel protocol

    @property
    def kind(self) -> str:
        return KIND

    def describe(self) -> dict[str, Any]:
        """File name and SHA-256, runtime settings and prompt version. No input data."""
        return {
            "kind": KIND,
            "file": self._path.name,
            "sha256": self._sha256,
            "runtime": "llama.cpp",
            "llama_cpp_python": str(getattr(self._llama_cpp, "__version__", "unknown")),
            "n_ctx": self._n_ctx,
            "n_threads": self._n_threads,
            "chat_template": self._format,
            "prompt_version": PROMPT_VERSION,
            "scale": [1, 5],
        }

    def score_turns(self, turns: Sequence[TurnInput]) -> np.ndarray:
        """Expected rating on 1-5 of each turn; NaN where a turn could not be scored."""
        out = np.full(len(turns), np.nan, dtype=np.float64)
        for i, turn in enumerate(turns):
            tokens, trimmed = self._fit(turn)
            if tokens is None:
                self.stats.too_long += 1
                continue
            logits = self._forward(tokens)
            if logits is None:
                self.stats.failed += 1
                continue
            score, mass = _expected_rating(logits, self._rating_ids)
            out[i] = score
            self.stats.scored += 1
            self.stats.prompt_tokens += len(tokens)
            self.stats.rating_mass += mass
            self.stats.context_trimmed += int(trimmed)
        return out

    def close(self) -> None:
        """Free the model now (it is also freed when the judge is garbage collected)."""
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            self._llm = None

    def __enter__(self) -> GGUFJudge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ prompts

    def _chat_formatter(self) -> tuple[Any, str]:
        """The model's own template, and how it is used: "gguf", "gguf-no-system" or "plain".

        Some templates refuse a system message; for those the rubric opens the user message.
        """
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None, "plain"
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter: Any = Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(self._llm.token_eos()),
            bos_token=self._token_text(self._llm.token_bos()),
            add_generation_prompt=True,
        )
        probe = build_messages(TurnInput(context=(), response="x"))
        for mode in ("gguf", "gguf-no-system"):
            try:
                formatter(messages=_arrange(probe, mode))
            except Exception:  # noqa: BLE001, S112 - jinja2 raises many types; try the next way
                continue
            return formatter, mode
        raise ArtifactError(
            "the model's chat template failed to render a system and a user message",
            hint="Use a GGUF chat model whose template accepts a user message.",
        )

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def render(self, messages: list[dict[str, str]]) -> str:
        """The prompt text up to and including the answer prefix ``"Rating: "``."""
        if self._template is None:
            parts = [f"### {m['role'].title()}\n{m['content']}\n" for m in messages]
            return "\n".join(parts) + "\n### Assistant\n" + ANSWER_PREFIX
        try:
            text = self._template(messages=_arrange(messages, self._format)).prompt
        except Exception as exc:  # jinja2 raises many types from a model's template  # noqa: BLE001
            raise ArtifactError(
                f"the model's chat template failed to render ({type(exc).__name__})",
                hint="Use a GGUF chat model whose template accepts a user message.",
            ) from None
        return str(text) + ANSWER_PREFIX

    def _tokenize(self, text: str) -> list[int]:
        tokens = list(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))
        bos = self._llm.token_bos()
        if len(tokens) >= 2 and tokens[0] == bos and tokens[1] == bos:
            tokens = tokens[1:]  # the template already wrote the BOS text
        return tokens

    def _find_rating_tokens(self) -> tuple[int, ...]:
        probe = self.render(build_messages(TurnInput(context=(), response="Thanks.")))
        base = self._tokenize(probe)
        ids = []
        for rating in RATINGS:
            full = self._tokenize(probe + rating)
            if len(full) != len(base) + 1 or full[: len(base)] != base:
                raise ArtifactError(
                    "this model's tokenizer does not write the ratings 1-5 as single tokens "
                    "after 'Rating: ', so the judge cannot read them in one forward pass",
                    hint="Use a chat model whose tokenizer splits digits (most do).",
                )
            ids.append(full[-1])
        return tuple(ids)

    def _fixed_prefix(self) -> list[int]:
        """Tokens every judge prompt starts with (the rubric), kept evaluated between turns."""
        a = self._tokenize(self.render(build_messages(TurnInput(context=(), response="A"))))
        b = self._tokenize(
            self.render(build_messages(TurnInput(context=(("user", "Q"),), response="B")))
        )
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return a[: max(n - 1, 0)]  # one token of margin for merges across the boundary

    def _fit(self, turn: TurnInput) -> tuple[list[int] | None, bool]:
        """The prompt's tokens, dropping the fewest oldest context messages that makes it fit."""
        tokens = self._tokenize(self.render(build_messages(turn)))
        if len(tokens) <= self._n_ctx:
            return tokens, False
        low, high = 1, len(turn.context)  # find the smallest skip that fits
        best: list[int] | None = None
        while low <= high:
            mid = (low + high) // 2
            candidate = self._tokenize(self.render(build_messages(turn, skip_context=mid)))
            if len(candidate) <= self._n_ctx:
                best, high = candidate, mid - 1
            else:
                low = mid + 1
        return best, best is not None

    # ------------------------------------------------------------------ the forward pass

    def _forward(self, tokens: list[int]) -> np.ndarray | None:
        """Logits at the last position, from a state that depends on ``tokens`` only."""
        llm = self._llm
        prefix = self._prefix
        p = len(prefix)
        try:
            if p and len(tokens) > p and tokens[:p] == prefix:
                cached = llm.n_tokens >= p and list(llm.input_ids[:p]) == prefix
                if not cached:
                    llm.reset()
                    llm.eval(prefix)
                    self.stats.evaluated_tokens += p
                llm.n_tokens = p  # keep the rubric's state, drop the previous turn's
                llm.eval(tokens[p:])
                self.stats.evaluated_tokens += len(tokens) - p
            else:
                llm.reset()
                llm.eval(tokens)
                self.stats.evaluated_tokens += len(tokens)
            pointer = self._llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        except RuntimeError:  # llama_decode returned an error code
            llm.reset()
            return None
        if not pointer:
            return None
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        return np.array(logits, dtype=np.float64)  # a copy: the buffer is reused


def _arrange(messages: list[dict[str, str]], mode: str) -> list[dict[str, str]]:
    """The judge's messages as a template takes them (rubric folded into the user message)."""
    if mode != "gguf-no-system" or messages[0]["role"] != "system":
        return messages
    system, user = messages[0], messages[1]
    return [{"role": "user", "content": system["content"] + "\n\n" + user["content"]}]


def _expected_rating(logits: np.ndarray, ids: tuple[int, ...]) -> tuple[float, float]:
    """Expected rating over the softmax of the rating tokens' logits, and their total mass."""
    rating_logits = logits[list(ids)]
    top = float(rating_logits.max())
    weights = np.exp(rating_logits - top)
    probs = weights / weights.sum()
    score = float(np.dot(probs, np.arange(1, len(ids) + 1)))
    everything = float(logits.max())
    log_all = everything + math.log(float(np.exp(logits - everything).sum()))
    log_ratings = top + math.log(float(weights.sum()))
    return score, math.exp(log_ratings - log_all)
