"""The Flower apps of a federated evaluation, for Flower's own deployment runtime.

``server_app`` and ``client_app`` are what a Flower deployment loads (SuperLink runs the
ServerApp, each SuperNode runs the ClientApp; see the README). They use the same code as
``edge-eval federated simulate``:

- the client reads its conversations file from the node config (``input``), scores it on the
  device with the reward model (once), and contributes its partial sums under SecAgg+;
- the server runs one SecAgg+ round, decodes the exact sum, finalizes the report behind the
  privacy gate and writes report and manifest to the run config's ``out`` folder.

Run config keys (all optional): ``out`` (else ``$EDGE_EVAL_FEDERATED_OUT``; the report and
manifest go there), ``clients`` (default 2), ``min-count``
(11), ``max-turns`` (64), ``profile`` (a TOML path on the server; clients must use the same),
``model`` (a bundle folder; clients check they hold the same bundle).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edge_eval.engines.federated import (
    FederatedConfig,
    FederatedResult,
    make_client_app,
    run_server_workflow,
)
from edge_eval.errors import ConfigError, MissingDependencyError

__all__ = [
    "client_app",
    "make_server_app",
    "node_partial",
    "serve_federated_round",
    "server_app",
]


def serve_federated_round(grid: Any, run_config: dict[str, Any], run_id: int) -> FederatedResult:
    """The server side of one federated evaluation on ``grid``: SecAgg+, finalize, write."""
    import time

    from edge_eval.privacy.manifest import RunManifest
    from edge_eval.privacy.settings import PrivacySettings
    from edge_eval.report import finalize_report
    from edge_eval.reward.bundle import load_bundle, scorer_validity
    from edge_eval.scoring import partial_header, write_score_outputs
    from edge_eval.tasks.profile import load_profile

    started = time.perf_counter()
    profile = load_profile(Path(run_config["profile"]) if run_config.get("profile") else None)
    bundle = load_bundle(run_config.get("model") or None)
    config = FederatedConfig(
        header=partial_header(profile),
        max_turns=int(run_config.get("max-turns", 64)),
        clients=int(run_config.get("clients", 2)),
        model_sha256=bundle.sha256,
    )
    merged = run_server_workflow(grid, config, run_id=run_id)
    privacy = PrivacySettings(min_count=int(run_config.get("min-count", 11)))
    report = finalize_report(
        merged,
        model_kind=bundle.kind,
        privacy=privacy,
        scorer_validity=scorer_validity(bundle.metadata),
    )
    manifest = RunManifest(
        command="federated",
        input_sha256=(),  # the inputs never reach the server
        model={"kind": bundle.kind, "bundle_sha256": bundle.sha256},
        profile_sha256=profile.sha256,
        device_requested="clients",
        providers=(),
        seed=None,
        privacy={**privacy.manifest_dict(), "secure_aggregation": "secagg+"},
        network_guard={"active": False, "blocked_attempts": 0},
    )
    result = FederatedResult(
        report=report,
        partial=merged,
        manifest=manifest,
        clients=config.clients,
        seconds=time.perf_counter() - started,
    )
    out = run_config.get("out") or os.environ.get("EDGE_EVAL_FEDERATED_OUT")
    if out:
        write_score_outputs(result, Path(str(out)))
    return result


def make_server_app() -> Any:
    """A Flower ServerApp running :func:`serve_federated_round` with the run config."""
    from flwr.server import ServerApp

    app = ServerApp()

    @app.main()  # type: ignore[misc]
    def _main(grid: Any, context: Any) -> None:
        serve_federated_round(grid, dict(context.run_config), run_id=context.run_id)

    return app


_PARTIALS: dict[tuple[Any, ...], tuple[Any, str]] = {}


def node_partial(context: Any) -> tuple[Any, str]:
    """The node's partial: its own file (node config ``input``) scored on the node, once."""
    from edge_eval.partial import partial_from_table
    from edge_eval.reward import load_reward_model
    from edge_eval.scoring import ScoreConfig, check_inputs, partial_header, score_conversations
    from edge_eval.tasks.profile import load_profile

    node_config, run_config = dict(context.node_config), dict(context.run_config)
    key = (tuple(sorted(node_config.items())), tuple(sorted(run_config.items())))
    if key in _PARTIALS:
        return _PARTIALS[key]
    if "input" not in node_config:
        raise ConfigError(
            "this node has no conversations file",
            hint="Start the node with --node-config 'input=\"FILE.jsonl\"'.",
        )
    paths = check_inputs(str(node_config["input"]))
    config = ScoreConfig(
        model=str(run_config["model"]) if run_config.get("model") else None,
        profile=Path(str(run_config["profile"])) if run_config.get("profile") else None,
        batch_size=int(node_config.get("batch-size", 32)),
    )
    profile = load_profile(config.profile)
    model = load_reward_model(config.model, batch_size=config.batch_size)
    table, _, _ = score_conversations(paths, model, profile, config)
    described = model.describe()
    out = (
        partial_from_table(table, partial_header(profile)),
        str(described.get("bundle_sha256", "")),
    )
    _PARTIALS[key] = out
    return out


def _lazy_apps() -> tuple[Any, Any]:
    try:
        return make_server_app(), make_client_app(node_partial)
    except (
        ImportError,
        MissingDependencyError,
    ):  # flwr not installed: the module still imports (the CLI says what to do)
        return None, None


server_app, client_app = _lazy_apps()
