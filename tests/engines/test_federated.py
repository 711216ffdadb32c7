"""Federated evaluation on Flower under SecAgg+: the server decodes exactly the clients' sum."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_eval.errors import ConfigError
from edge_eval.partial import merge_partials

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_partial import HEADER, partial_of, random_scores  # noqa: E402

flwr = pytest.importorskip("flwr")

from edge_eval.engines.federated import (  # noqa: E402
    FederatedConfig,
    client_vector,
    decode_limbs,
    encode_limbs,
    run_federated_simulation,
    score_federated_simulation,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "conversations.jsonl"


def test_limbs_round_trip_and_sum_exactly() -> None:
    values = [0, 1, 65535, 65536, 2**60 + 12345, 2**127 + 3]
    other = [5, 0, 1, 2**40, 7, 2**120]
    summed = encode_limbs(values) + encode_limbs(other)
    assert decode_limbs(summed, 2) == [a + b for a, b in zip(values, other, strict=True)]
    with pytest.raises(ConfigError):
        encode_limbs([2**128])


def test_a_client_refuses_another_profile_or_longer_conversations() -> None:
    partial = partial_of(random_scores(np.random.default_rng(1), 10, max_turns=6))
    config = FederatedConfig(header=HEADER, max_turns=6, clients=2).fit_config()
    assert (
        len(client_vector(partial, config))
        == FederatedConfig(header=HEADER, max_turns=6, clients=2).vector_size
    )
    with pytest.raises(ConfigError, match="profile"):
        client_vector(partial, {**config, "tolerance": 0.3})
    with pytest.raises(ConfigError, match="longer"):
        client_vector(partial, {**config, "max_turns": 3})


@pytest.mark.engines
def test_secagg_simulation_of_20_clients_decodes_the_exact_merge() -> None:
    rng = np.random.default_rng(0)
    # some clients hold 1-2 conversations: fewer than k in every cluster
    parts = [partial_of(random_scores(rng, int(rng.integers(1, 12)))) for _ in range(20)]
    config = FederatedConfig(header=HEADER, max_turns=9, clients=20)
    assert run_federated_simulation(parts, config) == merge_partials(parts, HEADER)


@pytest.mark.engines
def test_federated_report_equals_the_single_machine_report(tmp_path: Path) -> None:
    # 20 clients, each with one of the shipped example's first 20 conversations. Batch size 1
    # makes every turn's score independent of its batch mates (the int8 scorer's are not), so
    # each device scores exactly as the single machine does.
    from edge_eval.scoring import ScoreConfig, score

    lines = EXAMPLE.read_text().splitlines(keepends=True)[:20]
    union = tmp_path / "union.jsonl"
    union.write_text("".join(lines))
    files = []
    for i in range(20):
        f = tmp_path / f"client{i:02d}.jsonl"
        f.write_text(lines[i])
        files.append(f)
    # default batch size on both sides: the union is scored in batches of 32 turns, each client
    # alone with its own few; the batch-independent scorer makes that irrelevant
    config = ScoreConfig(min_count=3, use_ledger=False)
    single = score(union, config).report.to_dict()
    federated = score_federated_simulation(files, config, max_turns=16)
    assert federated.clients == 20
    assert federated.report.to_dict() == single
    assert any(g["status"] == "published" for g in single["clusters"])


@pytest.mark.engines
def test_cli_federated_simulate_writes_the_union_report(run_cli: object, tmp_path: Path) -> None:
    from edge_eval.scoring import ScoreConfig, score

    lines = EXAMPLE.read_text().splitlines(keepends=True)[40:52]
    union = tmp_path / "union.jsonl"
    union.write_text("".join(lines))
    (tmp_path / "a.jsonl").write_text("".join(lines[:5]))
    (tmp_path / "b.jsonl").write_text("".join(lines[5:]))
    want = score(union, ScoreConfig(min_count=3, use_ledger=False))
    code, out, err = run_cli(  # type: ignore[operator]
        "federated",
        "simulate",
        str(tmp_path / "a.jsonl"),
        str(tmp_path / "b.jsonl"),
        "--min-count",
        "3",
        "--max-turns",
        "8",
        "--json",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    assert json.loads(out) == want.report.to_dict()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["command"] == "federated"
    assert manifest["privacy"]["secure_aggregation"] == "secagg+"


@pytest.mark.engines
def test_the_deployable_flower_apps_run_a_round(tmp_path: Path) -> None:
    # the ServerApp/ClientApp objects a Flower deployment loads, each node scoring its own file
    from edge_eval.engines.federated import InProcessGrid
    from edge_eval.engines.flower_app import client_app, serve_federated_round
    from edge_eval.scoring import ScoreConfig, score

    lines = EXAMPLE.read_text().splitlines(keepends=True)[60:69]
    union = tmp_path / "union.jsonl"
    union.write_text("".join(lines))
    nodes = {}
    for i, chunk in enumerate((lines[:3], lines[3:6], lines[6:])):
        f = tmp_path / f"node{i}.jsonl"
        f.write_text("".join(chunk))
        nodes[2001 + i] = {"input": str(f), "batch-size": 1}
    run_config = {"clients": 3, "min-count": 3, "max-turns": 8, "out": str(tmp_path / "out")}
    grid = InProcessGrid.build(
        dict.fromkeys(nodes, client_app), run_id=7, node_configs=nodes, run_config=run_config
    )
    result = serve_federated_round(grid, run_config, run_id=7)
    want = score(union, ScoreConfig(batch_size=1, min_count=3, use_ledger=False))
    assert result.report.to_dict() == want.report.to_dict()
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written == want.report.to_dict()
    manifest = (tmp_path / "out" / "manifest.json").read_text()
    assert "node0" not in manifest and str(tmp_path) not in manifest


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.engines
def test_server_and_two_clients_over_loopback_write_the_union_report(tmp_path: Path) -> None:
    # Flower's real deployment: a SuperLink, two SuperNodes (separate processes), HTTP on
    # 127.0.0.1, SecAgg+; each node scores its own file, the server writes the report
    pytest.importorskip("uvicorn")
    from edge_eval.engines.flower_deploy import (
        ServerOptions,
        run_federated_client,
        run_federated_server,
        stop_client,
    )
    from edge_eval.scoring import ScoreConfig, score

    lines = EXAMPLE.read_text().splitlines(keepends=True)[80:88]
    union = tmp_path / "union.jsonl"
    union.write_text("".join(lines))
    files = [tmp_path / "dev_a.jsonl", tmp_path / "dev_b.jsonl"]
    files[0].write_text("".join(lines[:4]))
    files[1].write_text("".join(lines[4:]))
    port = _free_port()
    clients = [
        run_federated_client(
            f,
            f"127.0.0.1:{port}",
            port=_free_port(),
            batch_size=1,
            insecure=True,
            log_file=tmp_path / f"client{i}.log",
        )
        for i, f in enumerate(files)
    ]
    try:
        options = ServerOptions(
            out_dir=tmp_path / "out",
            clients=2,
            port=port,
            min_count=2,
            max_turns=16,
            insecure=True,
            timeout=500,
        )
        run_federated_server(options, log_dir=tmp_path / "logs")
    finally:
        for c in clients:
            stop_client(c)
    want = score(union, ScoreConfig(batch_size=1, min_count=2, use_ledger=False))
    got = json.loads((tmp_path / "out" / "report.json").read_text())
    assert got == want.report.to_dict()
    manifest = (tmp_path / "out" / "manifest.json").read_text()
    assert "dev_a" not in manifest and "secagg+" in manifest


def test_server_and_client_refuse_to_run_without_insecure(run_cli: object, tmp_path: Path) -> None:
    code, _, err = run_cli("federated", "server", "--out", str(tmp_path / "o"))  # type: ignore[operator]
    assert code == 2 and "Error: a federated server runs without TLS for now" in err
    assert "Hint: Pass --insecure" in err
    f = tmp_path / "c.jsonl"
    f.write_text(EXAMPLE.read_text().splitlines(keepends=True)[0])
    code, _, err = run_cli(  # type: ignore[operator]
        "federated", "client", str(f), "--server", "127.0.0.1:1"
    )
    assert code == 2 and "without TLS" in err
