"""Routing: the task recogniser picks a cluster from the first user turn, and that cluster's
GGUF LoRA adapter answers (applied at load time by llama.cpp).

An adapters folder holds one sub-folder per cluster, each with ``adapter.gguf`` (and the
``adapter.json`` that says how it was made); the four shipped SmolLM2 adapters are the default.
The recogniser is the reward bundle's nearest-prototype classifier
(:mod:`edge_eval.tasks.recogniser`), restricted to the clusters that have an adapter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_eval.adapters.generate import ChatGenerator, GenerationConfig, Message
from edge_eval.adapters.scenarios import ScenarioSet, load_scenarios
from edge_eval.errors import ArtifactError, ConfigError

__all__ = [
    "SHIPPED_ADAPTERS_DIR",
    "AdapterRouter",
    "RoutedReply",
    "TaskRouter",
    "find_adapters",
    "generate_routed_reply",
]

SHIPPED_ADAPTERS_DIR = Path(__file__).with_name("shipped")
ADAPTER_FILE = "adapter.gguf"


def find_adapters(adapters_dir: Path | None = None) -> dict[str, Path]:
    """``{cluster: adapter.gguf}`` of an adapters folder (default: the shipped adapters)."""
    folder = Path(adapters_dir) if adapters_dir is not None else SHIPPED_ADAPTERS_DIR
    found = {
        child.name: child / ADAPTER_FILE
        for child in sorted(folder.iterdir() if folder.is_dir() else [])
        if (child / ADAPTER_FILE).is_file()
    }
    if not found:
        raise ArtifactError(
            "the adapters folder holds no <cluster>/adapter.gguf",
            hint="Train adapters with `edge-eval adapters train --out DIR/<cluster>`, or leave "
            "--adapters out for the shipped ones.",
        )
    return found


def adapter_base_sha256(adapter: Path) -> str | None:
    """The base SHA-256 recorded in an adapter's ``adapter.json`` (None if absent)."""
    info = adapter.parent / "adapter.json"
    if not info.is_file():
        return None
    try:
        value = json.loads(info.read_text(encoding="utf-8")).get("base_sha256")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, str) else None


class TaskRouter:
    """Picks a task cluster from the first user turn with a reward bundle's recogniser."""

    def __init__(self, clusters: Sequence[str], *, bundle: str | None = None) -> None:
        from edge_eval.reward import load_reward_model
        from edge_eval.tasks.recogniser import PrototypeRecogniser

        self._model: Any = load_reward_model(bundle)
        prototypes = getattr(self._model, "prototypes", None)
        meta = getattr(self._model, "bundle", None)
        if prototypes is None or meta is None or not hasattr(self._model, "embed_texts"):
            raise ConfigError(
                "the reward bundle has no task recogniser",
                hint="Use an ONNX bundle with prototypes, or pass --cluster.",
            )
        self._recogniser = PrototypeRecogniser(
            clusters=meta.clusters, prototypes=prototypes
        ).restrict(list(clusters))

    @property
    def clusters(self) -> tuple[str, ...]:
        return self._recogniser.clusters

    def route(self, first_user_turn: str) -> str:
        """The cluster whose prototype is nearest to the turn's embedding."""
        return self.route_many([first_user_turn])[0]

    def route_many(self, texts: Sequence[str]) -> list[str]:
        if not texts:
            return []
        index = self._recogniser.predict(self._model.embed_texts(list(texts)))
        return [self._recogniser.clusters[int(i)] for i in index]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutedReply:
    """An assistant turn and the cluster (adapter) that produced it."""

    cluster: str
    text: str


class AdapterRouter:
    """Answers conversations with the adapter of the cluster the first user turn belongs to.

    Generators are loaded lazily, one per cluster, and kept until :meth:`close`.
    """

    def __init__(
        self,
        *,
        adapters_dir: Path | None = None,
        base: Path | None = None,
        config: GenerationConfig | None = None,
        bundle: str | None = None,
        scenarios: ScenarioSet | None = None,
    ) -> None:
        from edge_eval.export.models import find_smollm2_gguf

        self.adapters = find_adapters(adapters_dir)
        self.base = Path(base) if base is not None else find_smollm2_gguf()
        self.config = config or GenerationConfig()
        self._bundle = bundle
        self._router: TaskRouter | None = None
        self._generators: dict[str, ChatGenerator] = {}
        self.scenarios = scenarios or load_scenarios()

    def __enter__(self) -> AdapterRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for gen in self._generators.values():
            gen.close()
        self._generators.clear()

    def route(self, first_user_turn: str) -> str:
        if self._router is None:
            self._router = TaskRouter(sorted(self.adapters), bundle=self._bundle)
        return self._router.route(first_user_turn)

    def generator(self, cluster: str) -> ChatGenerator:
        if cluster not in self.adapters:
            raise ConfigError(
                f"no adapter for cluster {cluster!r}",
                hint="Adapters: " + ", ".join(sorted(self.adapters)),
            )
        if cluster not in self._generators:
            self._generators[cluster] = ChatGenerator(
                self.base, lora_path=self.adapters[cluster], config=self.config
            )
        return self._generators[cluster]

    def reply(
        self, messages: Sequence[Message], *, seed: int = 0, cluster: str | None = None
    ) -> RoutedReply:
        """The next assistant turn. ``messages`` are the visible turns (user/assistant); the
        neutral system prompt the adapters were trained under is put in front."""
        if cluster is None:
            first = next((c for r, c in messages if r == "user" and c.strip()), None)
            if first is None:
                raise ConfigError("routing needs a user turn", hint="Start with a user message.")
            cluster = self.route(first)
        gen = self.generator(cluster)
        visible = [(r, c) for r, c in messages if r != "system"]
        text = gen.reply([("system", self.scenarios.neutral_system), *visible], seed=seed)
        return RoutedReply(cluster=cluster, text=text)


def generate_routed_reply(
    messages: Sequence[Message],
    *,
    adapters_dir: Path | None = None,
    base: Path | None = None,
    cluster: str | None = None,
    seed: int = 0,
    config: GenerationConfig | None = None,
) -> RoutedReply:
    """One routed reply (loads and frees the models; use :class:`AdapterRouter` for many)."""
    with AdapterRouter(adapters_dir=adapters_dir, base=base, config=config) as router:
        return router.reply(messages, seed=seed, cluster=cluster)
