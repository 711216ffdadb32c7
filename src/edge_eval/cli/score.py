"""`edge-eval score`: a thin shell over :func:`edge_eval.score`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from edge_eval.cli.privacy import dp_options
from edge_eval.conversations import OnError


@click.command("score")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="EDGE_EVAL_OUT",
    help="Folder for report.json/.md/.html and manifest.json.",
)
@click.option(
    "--model",
    envvar="EDGE_EVAL_MODEL",
    help="Reward model: a bundle folder or gguf:FILE.gguf (default: the embedded bundle).",
)
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="EDGE_EVAL_PROFILE",
    help="Task profile TOML (default: the shipped profile).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    envvar="EDGE_EVAL_DEVICE",
    help="cuda without a working CUDA provider is an error.",
)
@click.option(
    "--on-error",
    type=click.Choice([e.value for e in OnError]),
    default="fail",
    show_default=True,
    help="fail on the first bad line, or skip bad lines and count them.",
)
@click.option(
    "--min-count",
    type=int,
    default=11,
    show_default=True,
    envvar="EDGE_EVAL_MIN_COUNT",
    help="Withhold any cell with fewer conversations than this.",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A previous run's report.json: adds gap reduction % and score factor.",
)
@click.option(
    "--engine",
    type=click.Choice(["ray", "dask"]),
    envvar="EDGE_EVAL_ENGINE",
    help="Shard the scoring over Ray or Dask workers (pip install 'edge-eval[engines]'); "
    "the report is the same as without.",
)
@click.option(
    "--workers", type=int, default=2, show_default=True, help="With --engine: scorers to start."
)
@click.option(
    "--address",
    envvar="EDGE_EVAL_ENGINE_ADDRESS",
    help="With --engine: an existing cluster (Ray: auto or ray://HOST:10001; Dask: "
    "tcp://HOST:8786); default: a local cluster of --workers processes.",
)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option(
    "--max-line-bytes",
    type=int,
    default=8 * 1024 * 1024,
    show_default=True,
    help="Refuse longer input lines.",
)
@dp_options
@click.option("--sign", is_flag=True, help="Sign the manifest (manifest.sig); see `keys init`.")
@click.option(
    "--key-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="EDGE_EVAL_KEY_DIR",
    help="Key folder for --sign (default: $EDGE_EVAL_HOME/keys).",
)
@click.option(
    "--isolate",
    is_flag=True,
    help="Score in a fresh network namespace (Linux); an error where the platform cannot.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON on stdout.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def score_command(
    inputs: tuple[Path, ...],
    out_dir: Path | None,
    model: str | None,
    profile: Path | None,
    device: str,
    on_error: str,
    min_count: int,
    baseline: Path | None,
    engine: str | None,
    workers: int,
    address: str | None,
    batch_size: int,
    max_line_bytes: int,
    epsilon: float | None,
    delta: float,
    budget: float,
    ledger: Path | None,
    sign: bool,
    key_dir: Path | None,
    isolate: bool,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Score conversations (JSONL) locally and report the empathy gap per task cluster.

    Only aggregates leave: report.json, report.md, report.html and manifest.json, with
    small groups withheld. No conversation text, id or path is written anywhere.
    """
    from edge_eval.report import render_json, render_terminal
    from edge_eval.scoring import ScoreConfig, score, write_score_outputs

    if out_dir is None and not as_json:
        raise click.UsageError("give --out DIR, --json, or both")
    if sign and out_dir is None:
        raise click.UsageError("--sign needs --out DIR")
    if isolate and engine is not None:
        raise click.UsageError("--isolate cuts the network, which --engine needs; use one")
    if isolate and not _in_isolated_child():
        from edge_eval.privacy.isolation import run_isolated

        sys.exit(run_isolated(_argv_without_isolate()))
    config = ScoreConfig(
        model=model,
        profile=profile,
        device=device,
        on_error=OnError(on_error),
        min_count=min_count,
        batch_size=batch_size,
        max_line_bytes=max_line_bytes,
        epsilon=epsilon,
        delta=delta,
        budget=budget,
        ledger=ledger,
        require_isolation=_in_isolated_child(),
    )
    result: Any
    if engine is None:
        with _ProgressBar(enabled=not no_progress) as bar:
            result = score(list(inputs), config, baseline=baseline, progress=bar.update)
    else:
        from edge_eval.engines import Engine, EngineConfig, score_sharded

        spread = EngineConfig(engine=Engine(engine), workers=workers, address=address)
        result = score_sharded(list(inputs), config, spread, baseline=baseline)
    report = result.report.to_dict()
    if out_dir is not None:
        write_score_outputs(result, out_dir, sign=sign, key_dir=key_dir)
    if result.skipped:
        total = sum(result.skipped.values())
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(result.skipped.items()))
        click.echo(f"Skipped {total} line(s) ({detail}).", err=True)
    if as_json:
        click.echo(render_json(report), nl=False)
    else:
        click.echo(render_terminal(report))
        signed = " and manifest.sig" if sign else ""
        click.echo(f"Wrote report.json, report.md, report.html, manifest.json{signed} to {out_dir}")


def _in_isolated_child() -> bool:
    import os

    from edge_eval.privacy.isolation import ISOLATED_ENV

    return os.environ.get(ISOLATED_ENV) == "1"


def _argv_without_isolate() -> list[str]:
    """This command line again, from the parsed values (for the isolated child)."""
    ctx = click.get_current_context()
    argv = ["--debug"] if (ctx.obj or {}).get("debug") else []
    argv.append("score")
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name == "isolate" or value is None:
            continue
        if isinstance(param, click.Argument):
            argv.extend(str(v) for v in value)
            continue
        assert isinstance(param, click.Option)
        opt = param.opts[0]
        if param.is_flag:
            if value:
                argv.append(opt)
        elif param.multiple:
            for v in value:
                argv.extend([opt, str(v)])
        else:
            argv.extend([opt, str(value)])
    return argv


class _ProgressBar:
    """A progress bar on stderr that appears only once a run has taken more than a second."""

    def __init__(self, *, enabled: bool) -> None:
        import time

        self._enabled = enabled and sys.stderr.isatty() or enabled and _forced()
        self._start = time.monotonic()
        self._bar: Any = None
        self._done = 0

    def __enter__(self) -> _ProgressBar:
        return self

    def update(self, done: int, total: int) -> None:
        import time

        if not self._enabled or total <= 0:
            return
        if self._bar is None:
            if time.monotonic() - self._start < 1.0:
                return
            bar = click.progressbar(length=total, label="Scoring", file=sys.stderr, width=30)
            bar.__enter__()
            self._bar = bar
        self._bar.update(done - self._done)
        self._done = done

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)  # type: ignore[attr-defined]


def _forced() -> bool:
    import os

    return os.environ.get("EDGE_EVAL_PROGRESS") == "1"
