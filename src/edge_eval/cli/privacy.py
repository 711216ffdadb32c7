"""`edge-eval keys` and `edge-eval audit`: thin shells over edge_eval.privacy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def dp_options(f: F) -> F:
    """--epsilon, --delta, --budget and --ledger (score and validate)."""
    options = [
        click.option(
            "--epsilon",
            type=float,
            default=None,
            help="Release the figures with differential privacy at this ε (privacy unit: one "
            "conversation). Without it the figures are exact and NOT DP-protected.",
        ),
        click.option(
            "--delta",
            type=float,
            default=0.0,
            show_default=True,
            help="δ of the DP release: 0 = pure ε-DP (Laplace), > 0 = Gaussian noise (zCDP).",
        ),
        click.option(
            "--budget",
            type=float,
            default=3.0,
            show_default=True,
            envvar="EDGE_EVAL_BUDGET",
            help="Most ε any conversation may spend over all DP runs (privacy ledger).",
        ),
        click.option(
            "--ledger",
            type=click.Path(dir_okay=False, path_type=Path),
            envvar="EDGE_EVAL_LEDGER",
            help="Privacy ledger file (default: $EDGE_EVAL_HOME/ledger.sqlite).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group("keys")
def keys_group() -> None:
    """Manage the local Ed25519 key pair that signs results (score --sign)."""


@keys_group.command("init")
@click.option(
    "--key-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="EDGE_EVAL_KEY_DIR",
    help="Key folder (default: $EDGE_EVAL_HOME/keys or ~/.edge-eval/keys).",
)
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
def keys_init_command(key_dir: Path | None, force: bool) -> None:
    """Make a key pair. The private key never leaves the key folder and is never printed."""
    from edge_eval.privacy.signing import init_keys

    info = init_keys(key_dir, force=force)
    verb = "Made" if info.created else "Kept the existing"
    click.echo(f"{verb} Ed25519 key pair; key id {info.key_id}")
    click.echo(f"Public key (give this file to your auditor): {info.public_key_path}")


@click.group("audit")
def audit_group() -> None:
    """Check a results folder without trusting whoever made it."""


@audit_group.command("verify")
@click.argument("results_dir", type=click.Path(path_type=Path))
@click.option(
    "--inputs",
    "inputs",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="An input file of the run (repeat): checks its hash and scans outputs for 4-word runs.",
)
@click.option(
    "--pubkey",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The signer's public key (signing.pub), obtained out of band.",
)
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The privacy ledger of the machine that ran it (default: this machine's).",
)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A reward-model bundle folder: checks its files' hashes against the manifest.",
)
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The task profile TOML: checks its hash against the manifest.",
)
@click.option("--json", "as_json", is_flag=True, help="A machine verdict on stdout.")
def audit_verify_command(
    results_dir: Path,
    inputs: tuple[Path, ...],
    pubkey: Path | None,
    ledger: Path | None,
    model_dir: Path | None,
    profile: Path | None,
    as_json: bool,
) -> None:
    """Verify RESULTS_DIR: allowlist, suppression, manifest, hashes, signature, ledger, leakage.

    Exits 0 when no check failed, 10 otherwise, with one reason per failure.
    """
    from edge_eval.privacy.audit import AuditFailedError, audit_results
    from edge_eval.privacy.signing import load_public_key_file

    pinned = load_public_key_file(pubkey) if pubkey is not None else None
    result = audit_results(
        results_dir,
        inputs=inputs,
        pinned_key=pinned,
        ledger_path=ledger,
        model_dir=model_dir,
        profile=profile,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(result.render())
    if not result.ok:
        failed = [c.name for c in result.checks if c.status.value == "fail"]
        raise AuditFailedError(f"the audit failed: {', '.join(failed)}")


@audit_group.command("ledger")
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="EDGE_EVAL_LEDGER",
    help="The privacy ledger (default: $EDGE_EVAL_HOME/ledger.sqlite).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run, in a list.")
def audit_ledger_command(ledger: Path | None, as_json: bool) -> None:
    """List the runs in the privacy ledger: DP or exact, ε and δ spent, budget, worst spend."""
    from edge_eval.privacy.ledger import PrivacyLedger

    with PrivacyLedger.open(ledger, create=False) as book:
        runs = book.runs()
    rows: list[dict[str, Any]] = [
        {
            "run_id": r.run_id,
            "fingerprint": r.fingerprint,
            "dp": r.dp,
            "epsilon": r.epsilon,
            "delta": r.delta,
            "budget": r.budget,
            "mechanism": r.parameters.get("mechanism"),
            "max_spent_epsilon": r.max_spent_epsilon,
        }
        for r in runs
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'run':<12} {'kind':<6} {'ε':>6} {'δ':>8} {'budget':>6} {'worst ε now':>11}")
    for r in rows:
        kind = "dp" if r["dp"] else "exact"
        click.echo(
            f"{r['run_id'][:12]:<12} {kind:<6} {r['epsilon']:>6g} {r['delta']:>8g} "
            f"{r['budget']:>6g} {r['max_spent_epsilon']:>11g}"
        )
