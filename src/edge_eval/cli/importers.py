"""`edge-eval import`: convert labelled datasets into conversations JSON Lines."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click


@click.group("import")
def import_group() -> None:
    """Import labelled datasets into conversations JSON Lines."""


@import_group.command("sense7")
@click.argument("xlsx", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The JSON Lines file to write (replaced atomically).",
)
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="EDGE_EVAL_PROFILE",
    help="Task profile whose clusters and aliases map PreTaskChoice (default: the shipped one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the import counts as JSON.")
def sense7_command(xlsx: Path, out: Path, profile: Path | None, as_json: bool) -> None:
    """Convert the SENSE-7 spreadsheet (sheets Tasks and Messages) into conversations JSONL.

    Per assistant turn, empathy is the mean of the seven dimensions rated (EmpathyOverall where
    all seven are N/A). No PID or TaskId is written: ids are a sequence.
    """
    from edge_eval.importers import import_sense7
    from edge_eval.tasks.profile import load_profile

    result = import_sense7(xlsx, out, profile=load_profile(profile) if profile else None)
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2))
        return
    click.echo(
        f"Wrote {result.conversations} conversation(s) with {result.assistant_turns} assistant "
        f"turn(s), {result.labelled_turns} of them labelled."
    )
    notes = [
        (result.overall_fallback_turns, "turn label(s) taken from EmpathyOverall (7 dims N/A)"),
        (result.unknown_task_choices, "PreTaskChoice value(s) not in the profile (no task)"),
        (result.tasks_without_turns, "task(s) without an assistant message, left out"),
        (result.orphan_messages, "message(s) whose TaskId is not in Tasks, left out"),
        (result.user_ratings_dropped, "rating(s) on user messages, not kept"),
    ]
    for count, what in notes:
        if count:
            click.echo(f"  {count} {what}")
