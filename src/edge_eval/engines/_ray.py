"""Ray backend: one actor per worker holds a scorer; shards go to whichever actor is free."""

from __future__ import annotations

import os
from typing import Any

from edge_eval.engines.sharded import EngineConfig, ShardOutcome, ShardScorer, missing
from edge_eval.scoring import InputRange, ScoreConfig

#: A local Ray needs little shared memory for our small results (its floor is ~75 MiB).
LOCAL_OBJECT_STORE_BYTES = 80 * 1024 * 1024


class _Actor:
    def __init__(self, config: ScoreConfig, threads: int) -> None:
        self.scorer = ShardScorer(config, threads)

    def score(self, shard: list[InputRange]) -> ShardOutcome:
        return self.scorer.score(shard)


def run_shards(
    config: ScoreConfig, engine: EngineConfig, shards: list[list[InputRange]]
) -> list[ShardOutcome]:
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:
        raise missing("ray") from exc
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if engine.address is None:
            options.update(num_cpus=engine.workers, object_store_memory=LOCAL_OBJECT_STORE_BYTES)
        else:
            options["address"] = engine.address
        ray.init(**options)
    try:
        actor = ray.remote(num_cpus=1)(_Actor)
        actors = [actor.remote(config, engine.threads) for _ in range(engine.workers)]
        pool = ActorPool(actors)
        results: list[ShardOutcome] = list(pool.map(lambda a, shard: a.score.remote(shard), shards))
        for a in actors:
            ray.kill(a)  # type: ignore[arg-type]
        return results
    finally:
        if started_here:
            ray.shutdown()
