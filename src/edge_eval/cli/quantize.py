"""`edge-eval quantize gguf` and, when present, `edge-eval quantize onnx`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from edge_eval.cli.export import gguf_gate_options, render_gguf_artifact

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
@gguf_gate_options
def quantize_gguf_command(
    in_path: Path,
    qtype: str,
    out: Path,
    probes: Path | None,
    max_kl: float | None,
    min_top1: float | None,
    max_abs_logit: float | None,
    max_seq_logprob_delta: float | None,
    no_check: bool,
    threads: int,
    as_json: bool,
) -> None:
    """Quantize a GGUF with llama.cpp's quantizer, checked against the input on the probes."""
    from edge_eval.quantize.gguf import GGUFQuantType, quantize_gguf

    kind = GGUFQuantType.parse(qtype)
    overrides = {
        "max_kl": max_kl,
        "min_top1": min_top1,
        "max_abs_logit": max_abs_logit,
        "max_seq_logprob_delta": max_seq_logprob_delta,
    }
    artifact = quantize_gguf(
        in_path,
        out,
        qtype=kind,
        check=not no_check,
        gate_overrides=overrides,
        probes_path=probes,
        n_threads=threads,
    )
    render_gguf_artifact(artifact, as_json)


if importlib.util.find_spec("edge_eval.cli.onnx_commands") is not None:
    from edge_eval.cli.onnx_commands import quantize_onnx_command

    quantize_group.add_command(quantize_onnx_command, name="onnx")
