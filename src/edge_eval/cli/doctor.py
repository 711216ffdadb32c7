"""`edge-eval doctor`: what this machine can do and what edge-eval will use."""

from __future__ import annotations

import json
import sys

import click

_MARK = {"ok": "ok", "absent": "--", "broken": "!!"}


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor_command(as_json: bool) -> None:
    """Say what this machine can do and what edge-eval will use; exit 1 if something is broken."""
    from edge_eval.doctor import diagnose

    report = diagnose()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        for check in report.checks:
            click.echo(f"[{_MARK[check.status.value]}] {check.name:<15} {check.summary}")
            if check.hint and check.status.value != "ok":
                click.echo(f"     {'':<15} hint: {check.hint}")
        click.echo(
            "edge-eval can run here." if report.ok else "Something edge-eval needs is broken."
        )
    if not report.ok:
        sys.exit(1)
