"""Beyond one machine (DESIGN.md §6): sharded scoring on Ray or Dask, federated evaluation on
Flower, both over mergeable partial results (:mod:`edge_eval.partial`) finalized once."""

from __future__ import annotations

from edge_eval.engines.sharded import (
    Engine,
    EngineConfig,
    ShardedResult,
    ShardOutcome,
    plan_shards,
    score_sharded,
    score_shards_locally,
)

__all__ = [
    "Engine",
    "EngineConfig",
    "ShardOutcome",
    "ShardedResult",
    "plan_shards",
    "score_sharded",
    "score_shards_locally",
]
