"""Sharded scoring on an existing engine (Ray or Dask): shards out, partial sums back, one gate.

Flow: the driver reads each input once to find the chunks a single-process run would score
(:func:`edge_eval.scoring.chunk_boundaries`; it also validates every line, so a bad input fails
before any worker starts), groups consecutive chunks into shards (byte ranges of whole lines),
and hands the shards to the engine. Each worker loads the reward model once and returns, per
shard, a :class:`~edge_eval.partial.ScorePartial` (counts and sums only), skip counts and how
many clusters it recognised. The driver merges the partials (exact integer sums) and finalizes
the report once, behind the privacy gate. Shards start and stop at chunk boundaries, so every
scoring batch is the one a single process would run, and the report is the single-process
report, figure for figure.

The engines are optional (``pip install 'edge-eval[engines]'``); they are imported only here.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from edge_eval._io import sha256_file
from edge_eval.errors import ConfigError, MissingDependencyError
from edge_eval.partial import ScorePartial, merge_partials
from edge_eval.privacy.manifest import RunManifest
from edge_eval.privacy.network import set_offline_environment
from edge_eval.privacy.settings import PrivacySettings
from edge_eval.scoring import (
    InputRange,
    ScoreConfig,
    check_inputs,
    chunk_boundaries,
    partial_header,
)
from edge_eval.tasks.profile import load_profile

__all__ = [
    "Engine",
    "EngineConfig",
    "ShardOutcome",
    "ShardedResult",
    "plan_shards",
    "score_sharded",
    "score_shards_locally",
]


class Engine(str, Enum):
    """Where shards run."""

    RAY = "ray"
    DASK = "dask"


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """How a sharded run is spread.

    Attributes:
        engine: ``ray`` or ``dask``.
        workers: scorers to start on a local cluster (each loads the model once).
        address: an existing cluster's address (Ray: ``ray://HOST:10001`` or ``auto``; Dask:
            ``tcp://HOST:8786``); None starts a local cluster of ``workers`` processes.
        threads_per_worker: onnxruntime threads per scorer (0: cores / workers on a local
            cluster, onnxruntime's default on a remote one).
        shards_per_worker: shards per scorer, for load balancing (at least one chunk each).
    """

    engine: Engine
    workers: int = 2
    address: str | None = None
    threads_per_worker: int = 0
    shards_per_worker: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "engine", Engine(self.engine))
        if self.workers < 1:
            raise ConfigError("--workers must be at least 1")
        if self.threads_per_worker < 0 or self.shards_per_worker < 1:
            raise ConfigError("threads and shards per worker must be positive")

    @property
    def threads(self) -> int:
        if self.threads_per_worker:
            return self.threads_per_worker
        if self.address is not None:
            return 0
        return max(1, (os.cpu_count() or 1) // self.workers)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardOutcome:
    """What a worker returns for one shard: sums and counts, no text, id or path.

    Attributes:
        partial: :meth:`ScorePartial.to_dict` of the shard.
        skipped: lines left out with ``on_error=skip``, by category.
        recognised: conversations whose cluster was recognised.
        model: the reward model's description (kind, hashes, providers).
        seconds: wall time of the shard on its worker.
    """

    partial: dict[str, Any]
    skipped: dict[str, int]
    recognised: int
    model: dict[str, Any]
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardedResult:
    """A finished sharded run (the report is the same as a single-process ``score``)."""

    report: Any
    partial: ScorePartial
    manifest: RunManifest
    skipped: dict[str, int] = field(default_factory=dict)
    recognised: int = 0
    shards: int = 0


def plan_shards(
    paths: Sequence[Path], config: ScoreConfig, *, n_shards: int
) -> list[list[InputRange]]:
    """Group each file's chunks into about ``n_shards`` shards of consecutive chunks.

    A shard never crosses a file; a file with fewer chunks than its share gives fewer shards.
    """
    profile = load_profile(config.profile)
    chunks = [chunk_boundaries(p, profile, config) for p in paths]
    total = sum(len(c) for c in chunks)
    shards: list[list[InputRange]] = []
    for file_chunks in chunks:
        if not file_chunks:
            continue
        share = max(1, round(n_shards * len(file_chunks) / max(total, 1)))
        per = -(-len(file_chunks) // share)
        for i in range(0, len(file_chunks), per):
            group = file_chunks[i : i + per]
            shards.append(
                [
                    InputRange(
                        path=group[0].path,
                        start=group[0].start,
                        stop=group[-1].stop,
                        first_line=group[0].first_line,
                    )
                ]
            )
    return shards


class ShardScorer:
    """A worker's scorer: loads the reward model once, then scores shard after shard."""

    def __init__(self, config: ScoreConfig, threads: int) -> None:
        from edge_eval.reward import load_reward_model

        set_offline_environment()
        self.config = config
        self.profile = load_profile(config.profile)
        options: dict[str, Any] = {"threads": threads} if threads else {}
        if config.model is not None and str(config.model).startswith("gguf:"):
            options = {}
        self.model = load_reward_model(
            config.model, device=config.device, batch_size=config.batch_size, **options
        )

    def score(self, shard: list[InputRange]) -> ShardOutcome:
        from edge_eval.partial import partial_from_table
        from edge_eval.scoring import score_conversations

        started = time.perf_counter()
        table, skipped, recognised = score_conversations(
            shard, self.model, self.profile, self.config
        )
        partial = partial_from_table(table, partial_header(self.profile))
        return ShardOutcome(
            partial=partial.to_dict(),
            skipped=skipped,
            recognised=recognised,
            model=self.model.describe(),
            seconds=time.perf_counter() - started,
        )


_WORKER_SCORERS: dict[tuple[Any, ...], ShardScorer] = {}


def score_shard_cached(config: ScoreConfig, threads: int, shard: list[InputRange]) -> ShardOutcome:
    """Score a shard with this process's scorer for ``config`` (loaded at the first call)."""
    key = (config, threads)
    scorer = _WORKER_SCORERS.get(key)
    if scorer is None:
        scorer = _WORKER_SCORERS[key] = ShardScorer(config, threads)
    return scorer.score(shard)


Runner = Callable[[ScoreConfig, EngineConfig, list[list[InputRange]]], list[ShardOutcome]]


def score_shards_locally(
    config: ScoreConfig, engine: EngineConfig, shards: list[list[InputRange]]
) -> list[ShardOutcome]:
    """Run the shards in this process, one after another (the reference the engines match)."""
    scorer = ShardScorer(config, engine.threads)
    return [scorer.score(shard) for shard in shards]


def _runner(engine: Engine) -> Runner:
    if engine is Engine.RAY:
        from edge_eval.engines import _ray

        return _ray.run_shards
    from edge_eval.engines import _dask

    return _dask.run_shards


def score_sharded(
    inputs: Path | str | Sequence[Path | str],
    config: ScoreConfig,
    engine: EngineConfig,
    *,
    baseline: Path | str | None = None,
    runner: Runner | None = None,
) -> ShardedResult:
    """Score conversations across the workers of an engine; the report is the local report.

    Args:
        inputs: JSONL files (their conversations are pooled). On a real cluster every worker
            must see them at the same paths (a shared or replicated file system).
        config: the same options as a local ``score``.
        engine: which engine, how many workers, which cluster.
        baseline: a previous run's report.json to compare against.
        runner: runs the shards (default: the engine's); tests pass their own.
    """
    from edge_eval.report import finalize_report, load_report

    set_offline_environment()
    if config.epsilon is not None:  # H-priv: DP needs the ledger charge, which shards lack
        raise ConfigError(
            "--epsilon is not available with --engine yet: a DP release must be charged to the "
            "privacy ledger, and sharded runs do not collect the conversations' digests",
            hint="Run the DP release without --engine.",
        )
    paths = check_inputs(inputs)
    profile = load_profile(config.profile)
    baseline_report = load_report(baseline) if baseline is not None else None
    shards = plan_shards(paths, config, n_shards=engine.workers * engine.shards_per_worker)
    outcomes = (runner or _runner(engine.engine))(config, engine, shards)
    header = partial_header(profile)
    models = {o.model.get("bundle_sha256", o.model.get("kind")) for o in outcomes}
    if len(models) > 1:
        raise ConfigError(
            "the workers scored with different reward models",
            hint="Give every worker the same model files (same --model, same bundle).",
        )
    merged = merge_partials((ScorePartial.from_dict(o.partial) for o in outcomes), header)
    privacy = PrivacySettings(min_count=config.min_count)
    described = outcomes[0].model if outcomes else {}
    report = finalize_report(
        merged,
        model_kind=str(described.get("kind", "unknown")),
        privacy=privacy,
        baseline=baseline_report,
        scorer_validity=_scorer_validity(config.model),
    )
    skipped: Counter[str] = Counter()
    for o in outcomes:
        skipped.update(o.skipped)
    manifest = RunManifest(
        command="score",
        input_sha256=tuple(sha256_file(p) for p in paths),
        model=described,
        profile_sha256=profile.sha256,
        device_requested=config.device,
        providers=tuple(described.get("providers", ())),
        seed=None,
        privacy=privacy.manifest_dict(),
        # workers talk to their cluster: the in-process guard cannot be on (README)
        network_guard={"active": False, "blocked_attempts": 0},
        baseline_sha256=sha256_file(Path(baseline)) if baseline is not None else None,
    )
    return ShardedResult(
        report=report,
        partial=merged,
        manifest=manifest,
        skipped=dict(skipped),
        recognised=sum(o.recognised for o in outcomes),
        shards=len(shards),
    )


def missing(package: str) -> MissingDependencyError:
    return MissingDependencyError(package, "engines")


def _scorer_validity(model: object) -> tuple[dict[str, Any], ...]:
    """The bundle's measured agreement with people, as a single-process run reports it."""
    from edge_eval.reward.bundle import load_bundle, scorer_validity

    if model is not None and str(model).startswith("gguf:"):
        return ()  # an LLM judge carries no validation figures
    return scorer_validity(load_bundle(model, verify=False).metadata)  # type: ignore[arg-type]
