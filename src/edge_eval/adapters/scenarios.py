"""The user simulator: project-written scenario seeds per cluster and the steering prompts.

A simulated user is a script: the opening turn of one scenario and ``turns - 1`` follow-ups drawn
from that scenario's own follow-ups and its cluster's generic ones, all chosen by a generator
seeded from ``(seed, cluster, index)``. Scripts do not depend on the assistant's replies, so
every system in a comparison meets exactly the same user turns (paired runs), and a resumed
synthesis rebuilds the very scripts an uninterrupted one would have used.

The seeds live in ``scenarios.toml`` (data, never code); ``train`` scenarios feed ``synth`` and
``eval`` scenarios feed ``compare``.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.errors import ConfigError

__all__ = [
    "DEFAULT_SCENARIOS_PATH",
    "ClusterScenarios",
    "Scenario",
    "ScenarioSet",
    "Split",
    "UserScript",
    "load_scenarios",
    "seeded_rng",
]

DEFAULT_SCENARIOS_PATH = Path(__file__).with_name("scenarios.toml")


class Split(str, Enum):
    """Which scenarios a run draws from."""

    TRAIN = "train"  # synth (what adapters are trained on)
    EVAL = "eval"  # compare (users the adapters never saw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One scenario seed: an opening user turn and follow-ups of its own."""

    opening: str
    follow_ups: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterScenarios:
    """A cluster's steering prompts, generic follow-ups and scenario seeds."""

    name: str
    steer_chosen: str
    """System prompt toward the empathy this cluster's users want."""
    steer_rejected: str
    """System prompt away from it."""
    follow_ups: tuple[str, ...]
    train: tuple[Scenario, ...]
    eval: tuple[Scenario, ...]

    def scenarios(self, split: Split) -> tuple[Scenario, ...]:
        return self.train if split is Split.TRAIN else self.eval


@dataclass(frozen=True, slots=True, kw_only=True)
class UserScript:
    """The user turns of one simulated conversation (kept in memory; text stays local)."""

    cluster: str
    scenario: int
    """Index of the scenario within its cluster and split."""
    turns: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioSet:
    """All clusters' seeds, and the neutral system prompt every unsteered system uses."""

    neutral_system: str
    clusters: dict[str, ClusterScenarios]
    sha256: str
    """SHA-256 of the TOML bytes (what run metadata records)."""

    def cluster(self, name: str) -> ClusterScenarios:
        try:
            return self.clusters[name]
        except KeyError:
            raise ConfigError(
                f"no scenarios for cluster {name!r}",
                hint="Clusters with scenarios: " + ", ".join(sorted(self.clusters)),
            ) from None

    def script(
        self, cluster: str, index: int, *, turns: int, seed: int, split: Split
    ) -> UserScript:
        """The ``index``-th simulated user of ``cluster`` (deterministic in all arguments)."""
        if turns < 1:
            raise ConfigError("a conversation needs at least one user turn (--turns >= 1)")
        spec = self.cluster(cluster)
        pool = spec.scenarios(split)
        rng = seeded_rng(seed, "user", cluster, split.value, index)
        # cycle through the scenarios in a seeded order so small runs still cover them all
        order = rng.permutation(len(pool))
        which = int(order[index % len(pool)])
        scenario = pool[which]
        own = list(scenario.follow_ups)
        generic = [f for f in spec.follow_ups if f not in own]
        rng.shuffle(generic)
        follow = own + generic
        if turns - 1 > len(follow):
            raise ConfigError(
                f"--turns {turns} is more than this cluster's scenarios can fill "
                f"(at most {len(follow) + 1})"
            )
        return UserScript(
            cluster=cluster, scenario=which, turns=(scenario.opening, *follow[: turns - 1])
        )


def seeded_rng(seed: int, *parts: str | int) -> np.random.Generator:
    """A numpy generator keyed by ``seed`` and labels (stable across runs and platforms)."""
    key = "\x1f".join(str(p) for p in (seed, *parts)).encode("utf-8")
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))


def seeded_int(seed: int, *parts: str | int) -> int:
    """A non-negative 31-bit integer keyed like :func:`seeded_rng` (for llama.cpp seeds)."""
    key = "\x1f".join(str(p) for p in (seed, *parts)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little") & 0x7FFFFFFF


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"scenarios: {where} must be a list of non-empty strings")
    return tuple(value)


def _scenarios(value: Any, where: str) -> tuple[Scenario, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"scenarios: {where} must be a non-empty list of tables")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {"opening", "follow_ups"}:
            raise ConfigError(f"scenarios: {where}[{i}] takes only opening and follow_ups")
        opening = item.get("opening")
        if not isinstance(opening, str) or not opening.strip():
            raise ConfigError(f"scenarios: {where}[{i}].opening must be a non-empty string")
        out.append(
            Scenario(
                opening=opening,
                follow_ups=_strings(item.get("follow_ups", []), f"{where}[{i}].follow_ups"),
            )
        )
    return tuple(out)


_CLUSTER_KEYS = {"steer_chosen", "steer_rejected", "follow_ups", "train", "eval"}


def load_scenarios(path: Path | None = None) -> ScenarioSet:
    """Read a scenarios TOML (default: the shipped one); every problem is named by key."""
    source = Path(path) if path is not None else DEFAULT_SCENARIOS_PATH
    try:
        data = source.read_bytes()
        doc = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            "the scenarios file cannot be read as TOML",
            hint="Pass a TOML file shaped like edge_eval/adapters/scenarios.toml.",
        ) from exc
    if doc.get("schema_version") != 1:
        raise ConfigError("scenarios: schema_version must be 1")
    neutral = doc.get("neutral_system")
    if not isinstance(neutral, str) or not neutral.strip():
        raise ConfigError("scenarios: neutral_system must be a non-empty string")
    clusters: dict[str, ClusterScenarios] = {}
    for name, spec in (doc.get("clusters") or {}).items():
        if not isinstance(spec, dict):
            raise ConfigError(f"scenarios: clusters.{name} must be a table")
        unknown = set(spec) - _CLUSTER_KEYS
        if unknown:
            raise ConfigError(
                f"scenarios: clusters.{name} has unknown keys {sorted(unknown)}; "
                f"valid: {sorted(_CLUSTER_KEYS)}"
            )
        for key in ("steer_chosen", "steer_rejected"):
            if not isinstance(spec.get(key), str) or not spec[key].strip():
                raise ConfigError(f"scenarios: clusters.{name}.{key} must be a non-empty string")
        clusters[name] = ClusterScenarios(
            name=name,
            steer_chosen=spec["steer_chosen"],
            steer_rejected=spec["steer_rejected"],
            follow_ups=_strings(spec.get("follow_ups", []), f"clusters.{name}.follow_ups"),
            train=_scenarios(spec.get("train"), f"clusters.{name}.train"),
            eval=_scenarios(spec.get("eval"), f"clusters.{name}.eval"),
        )
    if not clusters:
        raise ConfigError("scenarios: no clusters defined")
    return ScenarioSet(
        neutral_system=neutral, clusters=clusters, sha256=hashlib.sha256(data).hexdigest()
    )
