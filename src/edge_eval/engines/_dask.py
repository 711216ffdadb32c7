"""Dask backend: one single-threaded worker process per scorer; each loads the model once."""

from __future__ import annotations

import logging

from edge_eval.engines.sharded import EngineConfig, ShardOutcome, missing, score_shard_cached
from edge_eval.scoring import InputRange, ScoreConfig


def run_shards(
    config: ScoreConfig, engine: EngineConfig, shards: list[list[InputRange]]
) -> list[ShardOutcome]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise missing("distributed") from exc
    cluster = None
    if engine.address is None:
        cluster = LocalCluster(
            n_workers=engine.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        client = Client(engine.address)
    try:
        futures = client.map(
            score_shard_cached,
            [config] * len(shards),
            [engine.threads] * len(shards),
            shards,
            pure=False,
        )
        results: list[ShardOutcome] = client.gather(futures)
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
