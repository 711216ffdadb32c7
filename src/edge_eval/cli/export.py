"""`edge-eval export merge|lora` (GGUF) and, when present, `edge-eval export onnx`.

Thin shells: parse options, build the gate, call one library function, print the result.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import click

from edge_eval.cli.gates import GateChoice, lm_fidelity_line, lm_gate_options

__all__ = ["export_group", "render_gguf_artifact"]


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
    click.echo(lm_fidelity_line(artifact.figures))


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
@lm_gate_options(threads=True)
def merge_command(
    base: Path,
    adapter: Path,
    out: Path,
    outtype: str,
    gate: GateChoice,
) -> None:
    """Merge a LoRA adapter into a GGUF model (no torch), checked against the runtime adapter."""
    from edge_eval.export.merge import export_merge

    artifact = export_merge(
        base,
        adapter,
        out,
        outtype=outtype,
        check=gate.check,
        gate_overrides=gate.overrides,
        probes_path=gate.probes,
        n_threads=gate.threads,
    )
    render_gguf_artifact(artifact, gate.as_json)


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
@lm_gate_options(threads=True)
def lora_command(
    adapter: Path,
    base: Path,
    out: Path,
    outtype: str,
    gate: GateChoice,
) -> None:
    """Write a GGUF LoRA adapter that llama.cpp applies at load time (Llama(lora_path=...))."""
    from edge_eval.export.lora import export_lora

    artifact = export_lora(
        adapter,
        base,
        out,
        outtype=outtype,
        check=gate.check,
        gate_overrides=gate.overrides,
        probes_path=gate.probes,
        n_threads=gate.threads,
    )
    render_gguf_artifact(artifact, gate.as_json)


# The ONNX commands live in their own module; registered when it exists (a broken module
# still fails loudly: it is imported, not guarded by an except).
if importlib.util.find_spec("edge_eval.cli.onnx_commands") is not None:
    from edge_eval.cli.onnx_commands import export_onnx_command

    export_group.add_command(export_onnx_command, name="onnx")
