"""`edge-eval export merge|lora` (GGUF) and, when present, `edge-eval export onnx`.

Thin shells: parse options, build the gate, call one library function, print the result.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["export_group", "gguf_gate_options", "render_gguf_artifact"]


def gguf_gate_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Fidelity-gate options shared by the GGUF export and quantize commands."""
    options = [
        click.option(
            "--probes",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="JSON Lines probe conversations (default: the shipped probe set).",
        ),
        click.option("--max-kl", type=float, help="Largest mean KL(reference || new), nats."),
        click.option("--min-top1", type=float, help="Smallest top-1 agreement (0..1)."),
        click.option("--max-abs-logit", type=float, help="Largest |delta logit|."),
        click.option(
            "--max-seq-logprob-delta",
            type=float,
            help="Largest change of a probe's summed log-probability, nats.",
        ),
        click.option(
            "--no-check", is_flag=True, help="Skip the fidelity gate (recorded in the manifest)."
        ),
        click.option(
            "--threads",
            type=click.IntRange(1, 256),
            default=2,
            show_default=True,
            envvar="EDGE_EVAL_THREADS",
            help="CPU threads for llama.cpp.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def render_gguf_artifact(artifact: Any, as_json: bool) -> None:
    """Print what was written (file names only) and the fidelity figures."""
    from edge_eval.export.fidelity import figures_to_dict

    if as_json:
        payload = {
            "artifact": artifact.path.name,
            "sha256": artifact.sha256,
            "bytes": artifact.path.stat().st_size,
            "manifest": artifact.manifest_path.name,
            "checked": artifact.checked,
            "figures": figures_to_dict(artifact.figures) if artifact.checked else None,
        }
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
        return
    size = artifact.path.stat().st_size / 1e6
    click.echo(f"wrote {artifact.path.name} ({size:.1f} MB) and {artifact.manifest_path.name}")
    if not artifact.checked:
        click.echo("fidelity: not checked (--no-check)")
        return
    f = artifact.figures
    click.echo(
        f"fidelity on {f.n_sequences} probes / {f.n_tokens} tokens: "
        f"max |delta logit| {f.max_abs_logit_delta:.4g}, mean KL {f.mean_kl:.4g}, "
        f"top-1 {f.top1_agreement:.4f}, max seq log-prob delta {f.max_seq_logprob_delta:.4g}"
    )


@click.group("export")
def export_group() -> None:
    """Merge LoRA adapters and export models (GGUF, ONNX), each checked for fidelity."""


_BASE = click.option(
    "--base",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Base model GGUF.",
)
_ADAPTER = click.option(
    "--adapter",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="peft LoRA adapter folder (adapter_config.json + adapter_model.safetensors).",
)
_OUT = click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output GGUF."
)


@export_group.command("merge")
@_BASE
@_ADAPTER
@_OUT
@click.option(
    "--outtype",
    type=click.Choice(["f16", "f32"]),
    default="f16",
    show_default=True,
    help="Type of the tensors the adapter changes (the others are copied as they are).",
)
@gguf_gate_options
def merge_command(
    base: Path,
    adapter: Path,
    out: Path,
    outtype: str,
    probes: Path | None,
    max_kl: float | None,
    min_top1: float | None,
    max_abs_logit: float | None,
    max_seq_logprob_delta: float | None,
    no_check: bool,
    threads: int,
    as_json: bool,
) -> None:
    """Merge a LoRA adapter into a GGUF model (no torch), checked against the runtime adapter."""
    from edge_eval.export.merge import export_merge

    overrides = {
        "max_kl": max_kl,
        "min_top1": min_top1,
        "max_abs_logit": max_abs_logit,
        "max_seq_logprob_delta": max_seq_logprob_delta,
    }
    artifact = export_merge(
        base,
        adapter,
        out,
        outtype=outtype,
        check=not no_check,
        gate_overrides=overrides,
        probes_path=probes,
        n_threads=threads,
    )
    render_gguf_artifact(artifact, as_json)


@export_group.command("lora")
@_ADAPTER
@_BASE
@_OUT
@click.option(
    "--outtype",
    type=click.Choice(["f32", "f16"]),
    default="f32",
    show_default=True,
    help="Type of the LoRA matrices.",
)
@gguf_gate_options
def lora_command(
    adapter: Path,
    base: Path,
    out: Path,
    outtype: str,
    probes: Path | None,
    max_kl: float | None,
    min_top1: float | None,
    max_abs_logit: float | None,
    max_seq_logprob_delta: float | None,
    no_check: bool,
    threads: int,
    as_json: bool,
) -> None:
    """Write a GGUF LoRA adapter that llama.cpp applies at load time (Llama(lora_path=...))."""
    from edge_eval.export.lora import export_lora

    overrides = {
        "max_kl": max_kl,
        "min_top1": min_top1,
        "max_abs_logit": max_abs_logit,
        "max_seq_logprob_delta": max_seq_logprob_delta,
    }
    artifact = export_lora(
        adapter,
        base,
        out,
        outtype=outtype,
        check=not no_check,
        gate_overrides=overrides,
        probes_path=probes,
        n_threads=threads,
    )
    render_gguf_artifact(artifact, as_json)


# The ONNX commands live in their own module; registered when it exists (a broken module
# still fails loudly: it is imported, not guarded by an except).
if importlib.util.find_spec("edge_eval.cli.onnx_commands") is not None:
    from edge_eval.cli.onnx_commands import export_onnx_command

    export_group.add_command(export_onnx_command, name="onnx")
