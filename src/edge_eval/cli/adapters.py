"""`edge-eval synth`, `edge-eval adapters train|chat` and `edge-eval compare`: thin shells over
:mod:`edge_eval.adapters`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from edge_eval.cli.gates import GateChoice, lm_gate_options

_SAMPLING = [
    click.option("--max-tokens", type=int, default=64, show_default=True, help="Longest reply."),
    click.option("--temperature", type=float, default=0.7, show_default=True),
    click.option(
        "--threads",
        type=click.IntRange(1, 256),
        default=1,
        show_default=True,
        help="llama.cpp threads (1 is fastest on a busy machine).",
    ),
]


def _sampling(func: Any) -> Any:
    for option in reversed(_SAMPLING):
        func = option(func)
    return func


def _generation(max_tokens: int, temperature: float, threads: int) -> Any:
    from edge_eval.adapters.generate import GenerationConfig

    return GenerationConfig(max_tokens=max_tokens, temperature=temperature, n_threads=threads)


def _gguf_model(value: str | None) -> Path | None:
    if value is None:
        return None
    return Path(value.removeprefix("gguf:"))


class _Bar:
    """A click progress bar on stderr (when stderr is a terminal or EDGE_EVAL_PROGRESS=1)."""

    def __init__(self, label: str, *, enabled: bool) -> None:
        import os

        self._enabled = enabled and (
            sys.stderr.isatty() or os.environ.get("EDGE_EVAL_PROGRESS") == "1"
        )
        self._label = label
        self._bar: Any = None
        self._done = 0

    def update(self, done: int, total: int) -> None:
        if not self._enabled or total <= 0:
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=total, label=self._label, file=sys.stderr, width=30
            )
            self._bar.__enter__()
        self._bar.update(done - self._done)
        self._done = done

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@click.command("synth")
@click.option("--cluster", required=True, help="Task cluster to simulate.")
@click.option("--n", "n", type=int, required=True, help="Conversations to simulate.")
@click.option("--turns", type=int, default=3, show_default=True, help="User turns each.")
@click.option("--model", help="Assistant model gguf:PATH (default: SmolLM2-135M-Instruct).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--filter-with",
    help="Reward bundle (folder, gguf:PATH or 'default'): drop pairs whose rejected side is "
    "closer to the cluster's desired empathy.",
)
@click.option(
    "--scenarios",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Scenario seeds TOML (default: the shipped seeds).",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@_sampling
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--no-progress", is_flag=True)
def synth_command(
    cluster: str,
    n: int,
    turns: int,
    model: str | None,
    seed: int,
    filter_with: str | None,
    scenarios: Path | None,
    out_dir: Path,
    max_tokens: int,
    temperature: float,
    threads: int,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Simulate users of a cluster and write steered preference pairs (resumable)."""
    from edge_eval.adapters.synth import SynthConfig, synthesize_pairs

    config = SynthConfig(
        cluster=cluster,
        n=n,
        turns=turns,
        model=_gguf_model(model),
        seed=seed,
        generation=_generation(max_tokens, temperature, threads),
        scenarios=scenarios,
        filter_with=filter_with,
    )
    with _Bar("Simulating", enabled=not no_progress) as bar:
        result = synthesize_pairs(config, out_dir=out_dir, progress=bar.update)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    line = f"{result.conversations} conversations, {result.pairs} pairs"
    if result.resumed_from:
        line += f" ({result.resumed_from} conversations were already done)"
    if result.empty_turns:
        line += f", {result.empty_turns} turn(s) left out for an empty reply"
    click.echo(line + f" in {result.seconds:.0f} s.")
    if result.dropped is not None:
        click.echo(f"Filter: kept {result.kept}, dropped {result.dropped} pair(s).")


@click.group("adapters")
def adapters_group() -> None:
    """Train empathetic expert adapters and chat with them."""


@adapters_group.command("train")
@click.option("--cluster", required=True)
@click.option(
    "--pairs", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--base",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Base GGUF (default: SmolLM2-135M-Instruct).",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--steps", type=int, default=30, show_default=True)
@click.option("--batch-pairs", type=int, default=2, show_default=True)
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option("--beta", type=float, default=0.1, show_default=True)
@click.option("--r", "rank", type=int, default=8, show_default=True)
@click.option("--alpha", type=int, default=16, show_default=True)
@click.option(
    "--layers", type=int, default=4, show_default=True, help="LoRA on the top N layers (0: all)."
)
@click.option(
    "--max-tokens", type=int, default=192, show_default=True, help="Longest prompt + reply."
)
@click.option("--seed", type=int, default=0, show_default=True)
@lm_gate_options()
def train_command(
    cluster: str,
    pairs: Path,
    base: Path | None,
    out_dir: Path,
    steps: int,
    batch_pairs: int,
    learning_rate: float,
    beta: float,
    rank: int,
    alpha: int,
    layers: int,
    max_tokens: int,
    seed: int,
    gate: GateChoice,
) -> None:
    """Train a DPO LoRA adapter for one cluster; writes peft + gated GGUF adapters."""
    from edge_eval.adapters.train import AdapterTrainConfig, train_adapter

    config = AdapterTrainConfig(
        cluster=cluster,
        pairs=pairs,
        base=base,
        steps=steps,
        batch_pairs=batch_pairs,
        learning_rate=learning_rate,
        beta=beta,
        r=rank,
        alpha=alpha,
        layers=layers,
        max_tokens=max_tokens,
        seed=seed,
        check=gate.check,
        gate_overrides={k: v for k, v in gate.overrides.items() if v is not None},
    )
    say = None if gate.as_json else (lambda message: click.echo(message, err=True))
    artifact = train_adapter(config, out_dir=out_dir, progress=say)
    if gate.as_json:
        click.echo(json.dumps(artifact.info, indent=2))
        return
    fig = artifact.info["figures"]
    click.echo(
        f"Wrote {artifact.gguf.name} ({artifact.gguf_sha256[:12]}) to {out_dir}: "
        f"train pair accuracy {fig['train_pair_accuracy_after']:.3f}, "
        f"mean margin {fig['train_margin_mean_after']:.3f}, "
        f"{artifact.info['seconds']['total']:.0f} s."
    )


@adapters_group.command("chat")
@click.option(
    "--adapters",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Adapters folder (<cluster>/adapter.gguf; default: the shipped ones).",
)
@click.option("--base", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--cluster", help="Use this cluster's adapter instead of recognising it.")
@click.option("--seed", type=int, default=0, show_default=True)
@_sampling
def chat_command(
    adapters: Path | None,
    base: Path | None,
    cluster: str | None,
    seed: int,
    max_tokens: int,
    temperature: float,
    threads: int,
) -> None:
    """Chat in the terminal; the first message picks the adapter. Empty line or Ctrl-D ends."""
    from edge_eval.adapters.route import AdapterRouter

    messages: list[tuple[str, str]] = []
    with AdapterRouter(
        adapters_dir=adapters, base=base, config=_generation(max_tokens, temperature, threads)
    ) as router:
        turn = 0
        while True:
            try:
                text = click.prompt("you", default="", show_default=False, prompt_suffix="> ")
            except (EOFError, click.exceptions.Abort):
                break
            if not text.strip():
                break
            messages.append(("user", text))
            reply = router.reply(messages, seed=seed + turn, cluster=cluster)
            if cluster is None:
                cluster = reply.cluster
                click.echo(f"[adapter: {cluster}]", err=True)
            messages.append(("assistant", reply.text))
            click.echo(f"assistant> {reply.text}")
            turn += 1


@click.command("compare")
@click.option(
    "--systems",
    default="baseline,system-prompt,adapter",
    show_default=True,
    help="Comma-separated; the first is the reference.",
)
@click.option("--adapters", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--base", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--model", help="Reward model for scoring (default: the embedded bundle).")
@click.option("--conversations", type=int, default=12, show_default=True, help="Per cluster.")
@click.option("--turns", type=int, default=4, show_default=True)
@click.option("--clusters", help="Comma-separated clusters (default: every adapter's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--min-count", type=int, default=11, show_default=True)
@click.option("--n-boot", type=int, default=2000, show_default=True)
@click.option("--no-route", is_flag=True, help="Use each conversation's true cluster.")
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local folder for the generated conversations; a rerun with the same settings "
    "rescores them (e.g. with a newer bundle) instead of generating again.",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@_sampling
@click.option("--json", "as_json", is_flag=True, help="Print compare.json.")
@click.option("--no-progress", is_flag=True)
def compare_command(
    systems: str,
    adapters: Path | None,
    base: Path | None,
    model: str | None,
    conversations: int,
    turns: int,
    clusters: str | None,
    seed: int,
    min_count: int,
    n_boot: int,
    no_route: bool,
    cache: Path | None,
    out_dir: Path,
    max_tokens: int,
    temperature: float,
    threads: int,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Run baseline, system prompt and adapter on the same simulated users; report per turn."""
    from edge_eval.adapters.compare import (
        CompareConfig,
        System,
        compare_systems,
        write_compare_outputs,
    )
    from edge_eval.adapters.compare_render import render_compare_markdown
    from edge_eval.errors import ConfigError

    try:
        chosen = tuple(System(s.strip()) for s in systems.split(",") if s.strip())
    except ValueError:
        raise ConfigError(
            "unknown system in --systems", hint="Use baseline, system-prompt and/or adapter."
        ) from None
    config = CompareConfig(
        systems=chosen,
        conversations=conversations,
        turns=turns,
        clusters=None if clusters is None else tuple(c.strip() for c in clusters.split(",")),
        adapters=adapters,
        base=base,
        model=model,
        seed=seed,
        generation=_generation(max_tokens, temperature, threads),
        min_count=min_count,
        n_boot=n_boot,
        route=not no_route,
        cache=cache,
    )
    with _Bar("Generating", enabled=not no_progress) as bar:
        result = compare_systems(config, progress=bar.update)
    write_compare_outputs(result, out_dir)
    if as_json:
        click.echo(json.dumps(result.summary, indent=2))
    else:
        click.echo(render_compare_markdown(result.summary))
        click.echo(f"Wrote compare.json/.md/.svg/.html and per-system reports to {out_dir}")
