"""`edge-eval federated`: federated evaluation on Flower under secure aggregation (SecAgg+)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("federated")
def federated_group() -> None:
    """Evaluate across devices: each scores its own conversations; only a sum leaves.

    Every client turns its scores into counts and sums, masks them in Flower's SecAgg+ protocol,
    and the server unmasks only the sum over clients, then applies the privacy gate once.
    """


@federated_group.command("simulate")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), envvar="EDGE_EVAL_OUT"
)
@click.option("--model", envvar="EDGE_EVAL_MODEL", help="Reward model (as for `score`).")
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="EDGE_EVAL_PROFILE",
)
@click.option("--min-count", type=int, default=11, show_default=True)
@click.option(
    "--max-turns",
    type=int,
    default=64,
    show_default=True,
    help="The longest conversation (assistant turns) a client may hold.",
)
@click.option(
    "--batch-size",
    type=int,
    default=32,
    show_default=True,
    help="1 makes each score independent of its batch mates (exactly the union's report).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON on stdout.")
def simulate_command(
    inputs: tuple[Path, ...],
    out_dir: Path | None,
    model: str | None,
    profile: Path | None,
    min_count: int,
    max_turns: int,
    batch_size: int,
    as_json: bool,
) -> None:
    """Simulate one client per FILE in this process, under Flower's SecAgg+.

    The clients run Flower's ClientApp with secaggplus_mod and the server Flower's
    SecAggPlusWorkflow, connected in memory instead of over a network.
    """
    from edge_eval.engines.federated import score_federated_simulation
    from edge_eval.report import render_json, render_terminal
    from edge_eval.scoring import ScoreConfig, write_score_outputs

    if out_dir is None and not as_json:
        raise click.UsageError("give --out DIR, --json, or both")
    config = ScoreConfig(
        model=model, profile=profile, min_count=min_count, batch_size=batch_size, use_ledger=False
    )
    result = score_federated_simulation(list(inputs), config, max_turns=max_turns)
    report = result.report.to_dict()
    if out_dir is not None:
        write_score_outputs(result, out_dir)
    if as_json:
        click.echo(render_json(report), nl=False)
    else:
        click.echo(render_terminal(report))
        click.echo(f"{result.clients} clients; wrote report and manifest to {out_dir}")


@federated_group.command("server")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--clients", type=int, default=2, show_default=True, help="Clients to wait for.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--min-count", type=int, default=11, show_default=True)
@click.option("--max-turns", type=int, default=64, show_default=True)
@click.option("--profile", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--model", help="Reward bundle folder every client must hold (default: shipped).")
@click.option("--insecure", is_flag=True, help="No TLS (required for now).")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path))
def server_command(
    out_dir: Path,
    clients: int,
    host: str,
    port: int,
    min_count: int,
    max_turns: int,
    profile: Path | None,
    model: str | None,
    insecure: bool,
    log_dir: Path | None,
) -> None:
    """Run a Flower SuperLink and one SecAgg+ round; write the report of the clients' sum."""
    from edge_eval.engines.flower_deploy import ServerOptions, run_federated_server

    options = ServerOptions(
        out_dir=out_dir,
        clients=clients,
        host=host,
        port=port,
        min_count=min_count,
        max_turns=max_turns,
        profile=profile,
        model=model,
        insecure=insecure,
    )
    run_federated_server(options, log_dir=log_dir)
    click.echo(f"Wrote report.json, report.md, report.html and manifest.json to {out_dir}")


@federated_group.command("client")
@click.argument("input_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--server", required=True, help="The server's HOST:PORT.")
@click.option("--port", type=int, default=9094, show_default=True, help="This node's own port.")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--insecure", is_flag=True, help="No TLS (required for now).")
def client_command(
    input_file: Path, server: str, port: int, batch_size: int, insecure: bool
) -> None:
    """Take part with this device's conversations: scored here; only a masked sum leaves.

    Runs a Flower SuperNode until interrupted (Ctrl-C).
    """
    from edge_eval.engines.flower_deploy import run_federated_client, stop_client

    process = run_federated_client(
        input_file, server, port=port, batch_size=batch_size, insecure=insecure
    )
    try:
        process.wait()
    except KeyboardInterrupt:
        stop_client(process)
