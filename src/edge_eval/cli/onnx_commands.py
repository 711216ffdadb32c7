"""`edge-eval export onnx` and `edge-eval quantize onnx` (registered by the export/quantize groups).

Thin shells: parse options, build one config, call one library function, print the figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edge_eval.cli.gates import GateChoice, lm_fidelity_line, lm_gate_options

if TYPE_CHECKING:  # pragma: no cover
    from edge_eval.export.reward import RewardExportConfig

__all__ = ["export_onnx_command", "quantize_onnx_command"]


def _render(artifact: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(artifact.to_dict(), indent=2, sort_keys=True))
        return
    size = artifact.model_bytes / 1e6
    click.echo(f"wrote {artifact.format} model ({size:.1f} MB) and manifest.json")
    if artifact.figures is None:
        click.echo("fidelity: not checked (--no-check)")
        return
    click.echo(lm_fidelity_line(artifact.figures))
    if artifact.tokenizer_figures is not None:
        t = artifact.tokenizer_figures
        click.echo(
            f"tokenizer vs llama.cpp: {t.n_probes - t.mismatches}/{t.n_probes} probes identical"
        )


def _progress(message: str) -> None:
    click.echo(message, err=True)


@click.command("onnx")
@click.option(
    "--base",
    type=click.Path(exists=True, path_type=Path),
    help="Base language model: a GGUF file or a Hugging Face model folder.",
)
@click.option(
    "--reward",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Reward model instead of --base: a torch checkpoint (from `edge-eval distill "
    "--save-torch`), or an fp32 ONNX bundle to quantize to int8.",
)
@click.option(
    "--adapter",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="peft LoRA adapter folder to merge before exporting (with --reward: on the encoder).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write (model.onnx, tokenizer, manifest.json; a bundle with --reward).",
)
@click.option("--opset", type=int, help="ONNX opset (default: the exporter's, 18 for Llama).")
@click.option(
    "--precision",
    type=click.Choice(["int8", "fp32"]),
    help="--reward only: int8 (per-row activations, batch-independent; default) or fp32.",
)
@click.option("--max-reward-mae", type=float, help="--reward only: largest score MAE.")
@click.option(
    "--min-reward-spearman", type=float, help="--reward only: smallest Spearman of the scores."
)
@lm_gate_options()
def export_onnx_command(
    base: Path | None,
    reward: Path | None,
    adapter: Path | None,
    out_dir: Path,
    opset: int | None,
    precision: str | None,
    max_reward_mae: float | None,
    min_reward_spearman: float | None,
    gate: GateChoice,
) -> None:
    """Export a language model (--base, + a LoRA adapter merged) to an ONNX decoder with past
    key values, or a reward model (--reward) to an ONNX reward bundle.

    \b
    edge-eval export onnx --base BASE.gguf|HF_DIR [--adapter PEFT_DIR] --out DIR
    edge-eval export onnx --reward CHECKPOINT [--adapter PEFT_DIR] [--precision int8|fp32] --out DIR

    Language models: the tokenizer is rebuilt from the GGUF's own vocabulary and checked id for
    id against llama.cpp; the ONNX logits are checked against torch on the probe set. Reward
    models: the bundle's scores (through the runtime scorer) are checked against torch's on the
    probe conversations' assistant turns (MAE, Spearman). A failing check exits non-zero and
    keeps nothing.
    """
    lm_options = {"--opset": opset, **gate.given()}
    reward_options = {
        "--precision": precision,
        "--max-reward-mae": max_reward_mae,
        "--min-reward-spearman": min_reward_spearman,
    }
    _check_model_choice(base, reward, lm_options, reward_options)
    if reward is not None:
        from edge_eval.export.reward import export_reward_onnx

        reward_config = _reward_config(reward, adapter, precision, gate, reward_options)
        written = export_reward_onnx(reward_config, out_dir=out_dir, progress=_progress)
        _render_reward(written, gate.as_json)
        return
    from edge_eval.export.onnx import OnnxExportConfig, export_onnx

    assert base is not None
    config = OnnxExportConfig(
        base=base,
        adapter=adapter,
        opset=opset,
        check=gate.check,
        gate=gate.thresholds("onnx-fp32"),
        probes=gate.probes,
    )
    artifact = export_onnx(config, out_dir=out_dir, progress=_progress)
    _render(artifact, gate.as_json)


def _reward_config(
    reward: Path,
    adapter: Path | None,
    precision: str | None,
    gate: GateChoice,
    reward_options: dict[str, Any],
) -> RewardExportConfig:
    from edge_eval.export.fidelity import gate_for
    from edge_eval.export.reward import RewardExportConfig, RewardPrecision

    chosen = RewardPrecision(precision or "int8")
    thresholds = gate_for(
        "reward-onnx" if chosen is RewardPrecision.FP32 else "reward-onnx-int8"
    ).with_overrides(
        max_reward_mae=reward_options["--max-reward-mae"],
        min_reward_spearman=reward_options["--min-reward-spearman"],
    )
    return RewardExportConfig(
        source=reward,
        adapter=adapter,
        precision=chosen,
        check=gate.check,
        gate=thresholds,
        probes=gate.probes,
    )


def _check_model_choice(
    base: Path | None,
    reward: Path | None,
    lm_options: dict[str, Any],
    reward_options: dict[str, Any],
) -> None:
    """Exactly one of --base and --reward, and only the options of that kind of model."""
    from edge_eval.errors import ConfigError

    if (base is None) == (reward is None):
        raise ConfigError(
            "give either --base (a language model) or --reward (a reward model), not both or "
            "neither",
            hint="edge-eval export onnx --base BASE.gguf|HF_DIR --out DIR, or "
            "edge-eval export onnx --reward CHECKPOINT_DIR --out DIR",
        )
    given, other = (lm_options, "--base") if reward is not None else (reward_options, "--reward")
    misplaced = [name for name, value in given.items() if value is not None]
    if misplaced:
        raise ConfigError(
            f"{', '.join(misplaced)} only appl{'ies' if len(misplaced) == 1 else 'y'} with {other}",
            hint="Reward gates: --max-reward-mae, --min-reward-spearman; language-model gates: "
            "--max-kl, --min-top1, --max-abs-logit, --max-seq-logprob-delta.",
        )


def _render_reward(artifact: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(artifact.to_dict(), indent=2, sort_keys=True))
        return
    size = artifact.model_bytes / 1e6
    click.echo(f"wrote {artifact.format} bundle ({size:.1f} MB) and manifest.json")
    if artifact.figures is None:
        click.echo("fidelity: not checked (--no-check)")
        return
    reference = "torch" if artifact.source_kind == "torch-checkpoint" else "the fp32 bundle"
    f = artifact.figures
    click.echo(
        f"fidelity vs {reference} on {f.n} probe turns: "
        f"score MAE {f.mae:.4g}, Spearman {f.spearman:.4f}"
    )
    if artifact.fp32_figures is not None:
        g = artifact.fp32_figures
        click.echo(f"(fp32 ONNX vs torch: score MAE {g.mae:.4g}, Spearman {g.spearman:.4f})")


@click.command("onnx")
@click.argument("in_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--mode",
    type=click.Choice(["int8", "int4"]),
    required=True,
    help="int8: dynamic, per-channel weights; int4: weight-only MatMulNBits blocks.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write.",
)
@click.option(
    "--exclude",
    multiple=True,
    help="MatMul to keep fp32: module name (down_proj, lm_head, layers.0) or node-name glob; "
    "repeat it. Replaces the default list (int8: lm_head, down_proj; int4: lm_head).",
)
@click.option("--no-exclude", is_flag=True, help="Quantize every weight MatMul.")
@click.option(
    "--block-size",
    type=click.Choice(["16", "32", "64", "128", "256"]),
    default="32",
    show_default=True,
    help="int4 only: weights per block.",
)
@click.option(
    "--int4-algorithm",
    type=click.Choice(["hqq", "rtn"]),
    default="hqq",
    show_default=True,
    help="int4 only: HQQ (fitted scale and float zero point per block, needs torch; more "
    "faithful, slower to run) or symmetric round-to-nearest (faster to run).",
)
@lm_gate_options()
def quantize_onnx_command(
    in_dir: Path,
    mode: str,
    out_dir: Path,
    exclude: tuple[str, ...],
    no_exclude: bool,
    block_size: str,
    int4_algorithm: str,
    gate: GateChoice,
) -> None:
    """Quantize an exported ONNX language model (IN_DIR from `export onnx`) to int8 or int4.

    The result is checked against the fp32 input on the probe set; a failing check exits
    non-zero and keeps nothing.
    """
    from edge_eval.errors import ConfigError
    from edge_eval.quantize.onnx import (
        Int4Algorithm,
        OnnxQuantizeConfig,
        OnnxQuantMode,
        quantize_onnx,
    )

    if no_exclude and exclude:
        raise ConfigError("--exclude and --no-exclude contradict each other")
    chosen: tuple[str, ...] | None = () if no_exclude else (tuple(exclude) or None)
    config = OnnxQuantizeConfig(
        mode=OnnxQuantMode(mode),
        exclude=chosen,
        block_size=int(block_size),
        int4_algorithm=Int4Algorithm(int4_algorithm),
        check=gate.check,
        gate=gate.thresholds(f"onnx-{mode}"),
        probes=gate.probes,
    )
    artifact = quantize_onnx(in_dir, config, out_dir=out_dir, progress=_progress)
    _render(artifact, gate.as_json)
