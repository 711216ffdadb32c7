"""Federated evaluation on Flower, under SecAgg+: the server learns only the sum of the partials.

Each client scores its own conversations on its own device and turns them into a
:class:`~edge_eval.partial.ScorePartial` (counts and exact integer sums; no text, id or
per-conversation value). The partial is sent through Flower's SecAgg+ protocol
(``secaggplus_mod`` on the client, ``SecAggPlusWorkflow`` on the server): every client masks its
vector with pairwise and private masks, so the server can unmask only the sum over clients. The
server decodes the sum into the merged partial and finalizes the report once, behind the privacy
gate: a client with fewer than k conversations in a cluster adds to the sums and is never seen.

Exactness through SecAgg+. SecAgg+ quantizes floats stochastically; an integer x in [0, 2**16)
sent with ``clipping_range = 2**16`` and ``quantization_range = 2**17`` quantizes to exactly
x + 2**16 (no rounding happens), the masked sum is taken modulo 2**32, and the server's
dequantization is exact in float64 for sums below 2**53. So each count or sum of a partial is
split into 8 limbs of 16 bits (up to 2**128), the limbs travel as the "model parameters", and the
server recombines the summed limbs into the exact integer sums. Up to 2**15 clients fit.

The simulation mode runs N virtual clients in one process: the real Flower ``ClientApp`` (with
``secaggplus_mod``) and the real ``SecAggPlusWorkflow``, connected by an in-process
:class:`flwr.serverapp.Grid` instead of a network.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.errors import ConfigError, MissingDependencyError, PrivacyViolation
from edge_eval.partial import PartialHeader, ScorePartial

__all__ = [
    "FederatedConfig",
    "FederatedResult",
    "InProcessGrid",
    "decode_limbs",
    "encode_limbs",
    "run_federated_simulation",
    "score_federated_simulation",
]

LIMB_BITS = 16
LIMBS = 8  # 128 bits per count or sum
CLIPPING_RANGE = 1 << LIMB_BITS
QUANTIZATION_RANGE = 2 * CLIPPING_RANGE  # quantizer (R / 2C) = 1: integers pass unchanged
MODULUS_RANGE = 1 << 32
MAX_CLIENTS = MODULUS_RANGE // QUANTIZATION_RANGE // 2


def encode_limbs(values: Sequence[int]) -> np.ndarray:
    """Non-negative integers (< 2**128) as float64 limbs of 16 bits, little end first."""
    out = np.zeros(len(values) * LIMBS, dtype=np.float64)
    mask = (1 << LIMB_BITS) - 1
    for i, v in enumerate(values):
        if v < 0 or v >> (LIMB_BITS * LIMBS):
            raise ConfigError("a partial sum does not fit the federated encoding (128 bits)")
        for j in range(LIMBS):
            out[i * LIMBS + j] = (v >> (LIMB_BITS * j)) & mask
    return out


def decode_limbs(summed: np.ndarray, n_clients: int) -> list[int]:
    """The integers whose limbs, summed over ``n_clients`` clients, are ``summed`` (exact)."""
    limbs = np.rint(np.asarray(summed, dtype=np.float64))
    if limbs.size % LIMBS or np.abs(limbs - summed).max(initial=0.0) > 1e-3:
        raise PrivacyViolation("the aggregated vector is not a sum of encoded partials")
    if limbs.min(initial=0.0) < 0 or limbs.max(initial=0.0) > n_clients * ((1 << LIMB_BITS) - 1):
        raise PrivacyViolation("the aggregated vector is out of the range of its clients' sums")
    ints = limbs.astype(np.int64).reshape(-1, LIMBS).tolist()
    return [sum(int(x) << (LIMB_BITS * j) for j, x in enumerate(row)) for row in ints]


@dataclass(frozen=True, slots=True, kw_only=True)
class FederatedConfig:
    """What every party of a federated evaluation agrees on before it starts.

    Attributes:
        header: the profile's clusters and tolerance (clients check theirs against it).
        max_turns: the longest assistant-turn index a client may report (fixes the vector size;
            a client with longer conversations refuses to take part).
        clients: clients that must take part in the round.
        num_shares: SecAgg+ shares of each client's secrets: an integer > 2, or a fraction of
            the clients (1.0: every client holds a share).
        reconstruction_threshold: shares needed to unmask a client (an integer, or a fraction
            of ``num_shares``); the protocol survives dropped clients down to it.
        timeout: seconds the server waits for each SecAgg+ stage (None: no limit).
        model_sha256: the reward bundle every client must score with ("" : not checked).
    """

    header: PartialHeader
    max_turns: int = 64
    clients: int = 2
    num_shares: int | float = 1.0
    reconstruction_threshold: int | float = 0.67
    timeout: float | None = None
    model_sha256: str = ""

    def __post_init__(self) -> None:
        if not 2 <= self.clients <= MAX_CLIENTS:
            raise ConfigError(
                f"secure aggregation needs between 2 and {MAX_CLIENTS} clients",
                hint="Run with at least two clients (--clients).",
            )
        if self.max_turns < 1:
            raise ConfigError("--max-turns must be at least 1")

    @property
    def vector_size(self) -> int:
        empty = ScorePartial.empty(self.header, self.max_turns)
        return len(empty.to_vector()) * LIMBS

    def fit_config(self) -> dict[str, Any]:
        """The round's configuration, sent to every client (labels and numbers only)."""
        return {
            "clusters": ",".join(self.header.clusters),
            "tolerance": float(self.header.tolerance),
            "fixed_point_bits": int(self.header.fixed_point_bits),
            "max_turns": int(self.max_turns),
            "model_sha256": self.model_sha256,
        }


def _missing(exc: ImportError) -> MissingDependencyError:
    return MissingDependencyError("flwr", "federated")


def client_vector(
    partial: ScorePartial, config: dict[str, Any], *, model_sha256: str = ""
) -> np.ndarray:
    """A client's contribution: its partial, checked against the round's config, as limbs."""
    wanted = str(config.get("model_sha256", ""))
    if wanted and model_sha256 and wanted != model_sha256:
        raise ConfigError(
            "this client's reward model differs from the one the federation agreed on",
            hint="Install the same reward bundle on every device (--model).",
        )
    header = PartialHeader(
        clusters=tuple(str(config["clusters"]).split(",")),
        tolerance=float(config["tolerance"]),
        fixed_point_bits=int(config["fixed_point_bits"]),
    )
    if header != partial.header:
        raise ConfigError(
            "the server's profile (clusters, tolerance) differs from this client's",
            hint="Score with the profile the federation agreed on (--profile).",
        )
    max_turns = int(config["max_turns"])
    if partial.max_turns > max_turns:
        raise ConfigError(
            f"this client has conversations longer than the federation's {max_turns} turns",
            hint="Start the federation with a larger --max-turns.",
        )
    return encode_limbs(partial.padded(max_turns).to_vector())


def make_client_app(
    partial: ScorePartial | Callable[[Any], tuple[ScorePartial, str]], *, model_sha256: str = ""
) -> Any:
    """A Flower ClientApp (with ``secaggplus_mod``) that contributes a partial to one round.

    ``partial`` is the partial itself, or a function of the node's Flower context returning the
    partial and the bundle hash it was scored with (a deployed node scores its own file).
    """
    try:
        from flwr.client import ClientApp, NumPyClient
        from flwr.client.mod import secaggplus_mod
    except ImportError as exc:
        raise _missing(exc) from exc

    class _Client(NumPyClient):  # type: ignore[misc]
        def __init__(self, mine: ScorePartial, sha: str) -> None:
            self.mine, self.sha = mine, sha

        def get_parameters(self, config: dict[str, Any]) -> list[np.ndarray]:
            return [np.zeros(0)]

        def fit(
            self, parameters: list[np.ndarray], config: dict[str, Any]
        ) -> tuple[list[np.ndarray], int, dict[str, Any]]:
            # num_examples 1 = max_weight 1: SecAgg+ scales by exactly 1; no metrics leave
            return [client_vector(self.mine, config, model_sha256=self.sha)], 1, {}

    def client_fn(context: Any) -> Any:
        if isinstance(partial, ScorePartial):
            return _Client(partial, model_sha256).to_client()
        return _Client(*partial(context)).to_client()

    return ClientApp(client_fn=client_fn, mods=[secaggplus_mod])


class _SumStrategy:
    """A FedAvg that hands out the round config and keeps the SecAgg+ sum (built lazily)."""

    @staticmethod
    def build(config: FederatedConfig) -> Any:
        from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
        from flwr.server.strategy import FedAvg

        class Strategy(FedAvg):  # type: ignore[misc]
            total: np.ndarray | None = None
            n_clients: int = 0

            def aggregate_fit(self, server_round: int, results: Any, failures: Any) -> Any:
                if failures or not results:
                    raise ConfigError(
                        f"{len(failures)} client(s) failed during secure aggregation",
                        hint="Check the clients' logs; every client must use the same profile.",
                    )
                # SecAgg+ set every result's parameters to the unmasked mean over clients
                mean = parameters_to_ndarrays(results[0][1].parameters)[0]
                self.n_clients = len(results)
                self.total = mean * self.n_clients
                return results[0][1].parameters, {}

        fit_config = config.fit_config()
        return Strategy(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=config.clients,
            min_evaluate_clients=0,
            min_available_clients=config.clients,
            on_fit_config_fn=lambda _round: fit_config,
            initial_parameters=ndarrays_to_parameters([np.zeros(0)]),
            accept_failures=False,
        )


def run_server_workflow(grid: Any, config: FederatedConfig, run_id: int = 0) -> ScorePartial:
    """Run one SecAgg+ round on ``grid`` and decode the sum of the clients' partials."""
    try:
        from flwr.app import Context, RecordDict
        from flwr.server import LegacyContext, ServerConfig
        from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
    except ImportError as exc:
        raise _missing(exc) from exc
    strategy = _SumStrategy.build(config)
    context = LegacyContext(
        context=Context(
            run_id=run_id, node_id=0, node_config={}, state=RecordDict(), run_config={}
        ),
        config=ServerConfig(num_rounds=1),
        strategy=strategy,
    )
    workflow = DefaultWorkflow(
        fit_workflow=SecAggPlusWorkflow(
            num_shares=config.num_shares,
            reconstruction_threshold=config.reconstruction_threshold,
            max_weight=1.0,
            clipping_range=float(CLIPPING_RANGE),
            quantization_range=QUANTIZATION_RANGE,
            modulus_range=MODULUS_RANGE,
            timeout=config.timeout,
        )
    )
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.supercore.task_identity import TaskIdentity

    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, SUPERLINK_NODE_ID, 0
    try:
        workflow(grid, context)
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved
    if strategy.total is None:
        raise ConfigError(
            "secure aggregation did not complete (too few clients or shares)",
            hint="Check that every client connected and that --clients matches.",
        )
    values = decode_limbs(strategy.total, strategy.n_clients)
    return ScorePartial.from_vector(config.header, config.max_turns, values)


class InProcessGrid:
    """A Flower Grid that delivers each message to a ClientApp in this process (simulation)."""

    @staticmethod
    def build(
        apps: dict[int, Any],
        run_id: int,
        node_configs: dict[int, dict[str, Any]] | None = None,
        run_config: dict[str, Any] | None = None,
    ) -> Any:
        from flwr.app import Context, Message, RecordDict
        from flwr.serverapp import Grid
        from flwr.supercore.run import Run

        class InProcessGrid(Grid):  # type: ignore[misc]
            def __init__(self) -> None:
                self._run = Run.create_empty(run_id)
                self._contexts = {
                    nid: Context(
                        run_id=run_id,
                        node_id=nid,
                        node_config=dict((node_configs or {}).get(nid, {})),
                        state=RecordDict(),
                        run_config=dict(run_config or {}),
                    )
                    for nid in apps
                }
                self._replies: dict[str, Message] = {}

            def set_run(self, run: Any) -> None:
                self._run = run

            @property
            def run(self) -> Any:
                return self._run

            def create_message(
                self,
                content: Any,
                message_type: str,
                dst_node_id: int,
                group_id: str,
                ttl: float | None = None,
            ) -> Any:
                return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

            def get_node_ids(self) -> Iterable[int]:
                return list(apps)

            def push_messages(self, messages: Iterable[Any]) -> Iterable[str]:
                ids = []
                for msg in messages:
                    msg.metadata.__dict__["_message_id"] = str(uuid.uuid4())
                    msg.metadata.__dict__["_run_id"] = run_id
                    nid = msg.metadata.dst_node_id
                    # a copy, as a transport would deliver: the SecAgg+ mod consumes its config
                    reply = apps[nid](copy.deepcopy(msg), self._contexts[nid])
                    self._replies[msg.metadata.message_id] = copy.deepcopy(reply)
                    ids.append(msg.metadata.message_id)
                return ids

            def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Any]:
                return [self._replies.pop(i) for i in message_ids if i in self._replies]

            def send_and_receive(
                self, messages: Iterable[Any], *, timeout: float | None = None
            ) -> Iterable[Any]:
                return self.pull_messages(self.push_messages(messages))

        return InProcessGrid()


def run_federated_simulation(
    partials: Sequence[ScorePartial], config: FederatedConfig
) -> ScorePartial:
    """N virtual clients, each holding one partial, aggregated under SecAgg+ in this process.

    Returns the merged partial the server decoded; it never saw any single client's vector.
    """
    if len(partials) != config.clients:
        raise ConfigError("give one partial per simulated client")
    apps = {nid: make_client_app(p) for nid, p in enumerate(partials, start=1001)}
    grid = InProcessGrid.build(apps, run_id=1)
    return run_server_workflow(grid, config, run_id=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class FederatedResult:
    """A finished federated run: the report, the manifest, the merged sums (server side)."""

    report: Any
    partial: ScorePartial
    manifest: Any
    clients: int
    seconds: float


def score_federated_simulation(
    client_inputs: Sequence[Path | str],
    score_config: Any,
    *,
    max_turns: int = 64,
) -> FederatedResult:
    """Simulate a federation: each input file is one client's device, scored there.

    Each client scores its own file with the reward model (loaded once and shared by the
    virtual clients, as a fleet of devices would each hold a copy), keeps its conversations and
    scores, and takes part in one SecAgg+ round with its partial. The server finalizes the
    decoded sum once, behind the privacy gate.
    """
    from edge_eval._io import sha256_file
    from edge_eval.partial import partial_from_table
    from edge_eval.privacy.manifest import RunManifest
    from edge_eval.privacy.network import set_offline_environment
    from edge_eval.privacy.settings import PrivacySettings
    from edge_eval.report import finalize_report
    from edge_eval.reward import load_reward_model
    from edge_eval.scoring import (
        check_inputs,
        model_validity,
        partial_header,
        score_conversations,
    )
    from edge_eval.tasks.profile import load_profile

    set_offline_environment()
    started = time.perf_counter()
    paths = check_inputs(client_inputs)
    profile = load_profile(score_config.profile)
    header = partial_header(profile)
    model = load_reward_model(
        score_config.model, device=score_config.device, batch_size=score_config.batch_size
    )
    partials = []
    for path in paths:  # each client, on its own device
        table, _, _ = score_conversations([path], model, profile, score_config)
        partials.append(partial_from_table(table, header))
    config = FederatedConfig(header=header, max_turns=max_turns, clients=len(paths))
    merged = run_federated_simulation(partials, config)
    privacy = PrivacySettings(min_count=score_config.min_count)
    report = finalize_report(
        merged, model_kind=model.kind, privacy=privacy, scorer_validity=model_validity(model)
    )
    described = model.describe()
    manifest = RunManifest(
        command="federated",
        input_sha256=tuple(sha256_file(p) for p in paths),
        model=described,
        profile_sha256=profile.sha256,
        device_requested=score_config.device,
        providers=tuple(described.get("providers", ())),
        seed=None,
        privacy={**privacy.manifest_dict(), "secure_aggregation": "secagg+"},
        network_guard={"active": False, "blocked_attempts": 0},
    )
    return FederatedResult(
        report=report,
        partial=merged,
        manifest=manifest,
        clients=len(paths),
        seconds=time.perf_counter() - started,
    )
