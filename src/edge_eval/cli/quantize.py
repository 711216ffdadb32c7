"""`edge-eval quantize gguf` and, when present, `edge-eval quantize onnx`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from edge_eval.cli.export import render_gguf_artifact
from edge_eval.cli.gates import GateChoice, lm_gate_options

__all__ = ["quantize_group"]


@click.group("quantize")
def quantize_group() -> None:
    """Quantize GGUF / ONNX models, each checked for fidelity against its input."""


@quantize_group.command("gguf")
@click.argument(
    "in_path", metavar="IN", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--type",
    "qtype",
    required=True,
    type=click.Choice(["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M"], case_sensitive=False),
    help="llama.cpp quantization type.",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output GGUF."
)
@lm_gate_options(threads=True)
def quantize_gguf_command(
    in_path: Path,
    qtype: str,
    out: Path,
    gate: GateChoice,
) -> None:
    """Quantize a GGUF with llama.cpp's quantizer, checked against the input on the probes."""
    from edge_eval.quantize.gguf import GGUFQuantType, quantize_gguf

    kind = GGUFQuantType.parse(qtype)
    artifact = quantize_gguf(
        in_path,
        out,
        qtype=kind,
        check=gate.check,
        gate_overrides=gate.overrides,
        probes_path=gate.probes,
        n_threads=gate.threads,
    )
    render_gguf_artifact(artifact, gate.as_json)


if importlib.util.find_spec("edge_eval.cli.onnx_commands") is not None:
    from edge_eval.cli.onnx_commands import quantize_onnx_command

    quantize_group.add_command(quantize_onnx_command, name="onnx")
