"""`edge-eval distill`: train a student reward model, or a preference model from pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from edge_eval.errors import ConfigError


@click.command("distill")
@click.argument(
    "train", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--teacher",
    envvar="EDGE_EVAL_TEACHER",
    help="What the student learns from: labels (the `empathy` labels in TRAIN), default (the "
    "embedded bundle), a bundle folder, or gguf:FILE.gguf (an LLM judge).",
)
@click.option(
    "--pairs",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Train a Bradley-Terry preference model on chosen/rejected pairs (JSONL) instead.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The bundle folder to write (files replaced atomically; nothing written on failure).",
)
@click.option(
    "--heldout",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Held-out file (conversations, or pairs with --pairs). Default: hold out a share.",
)
@click.option(
    "--heldout-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of conversations held out (seeded, by conversation) without --heldout.",
)
@click.option("--finetune-encoder", is_flag=True, help="Train the encoder too (torch, slower).")
@click.option("--epochs", type=int, default=None, help="Fine-tuning epochs [3; pairs: 2].")
@click.option("--lr", type=float, default=2e-5, show_default=True, help="Encoder learning rate.")
@click.option(
    "--calibration",
    type=click.Choice(["isotonic", "linear"]),
    default="isotonic",
    show_default=True,
    help="Map of raw outputs to 1-5, fitted on the training split.",
)
@click.option("--beta", type=float, default=0.1, show_default=True, help="Bradley-Terry beta.")
@click.option(
    "--max-length",
    type=int,
    default=256,
    show_default=True,
    help="Tokens per turn (context + response); 128 keeps --finetune-encoder fast on a CPU.",
)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--name", default=None, help="The bundle's name (a label).")
@click.option("--fp32", is_flag=True, help="Ship fp32 instead of int8 per-channel.")
@click.option(
    "--teacher-device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Where a bundle or GGUF teacher runs.",
)
@click.option(
    "--min-count",
    type=int,
    default=11,
    show_default=True,
    envvar="EDGE_EVAL_MIN_COUNT",
    help="Privacy threshold k: withhold held-out figures from fewer items than this.",
)
@click.option(
    "--save-torch",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also keep the student's torch weights here (a checkpoint for "
    "`edge-eval export onnx --reward`, e.g. to merge a LoRA adapter later).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the held-out figures as JSON.")
def distill_command(
    train: Path | None,
    teacher: str | None,
    pairs: Path | None,
    out: Path,
    heldout: Path | None,
    heldout_fraction: float,
    finetune_encoder: bool,
    epochs: int | None,
    lr: float,
    calibration: str,
    beta: float,
    max_length: int,
    batch_size: int,
    seed: int,
    name: str | None,
    fp32: bool,
    teacher_device: str,
    min_count: int,
    save_torch: Path | None,
    as_json: bool,
) -> None:
    """Distil a student reward model from TRAIN (conversations JSONL), or train a preference
    model from --pairs.

    \b
    edge-eval distill TRAIN.jsonl --teacher labels|default|BUNDLE|gguf:FILE --out DIR
    edge-eval distill --pairs PAIRS.jsonl --beta 0.1 --out DIR

    The student is MiniLM-L6 plus a linear head, exported to ONNX and quantized int8
    per-channel; the run fails (exit 8, nothing written) if int8 ranks the held-out turns
    differently from fp32 (Spearman < 0.99). bundle.json records the held-out figures.
    """
    from edge_eval.reward.bundle import InputTemplate

    if (train is None) == (pairs is None):
        raise ConfigError(
            "give either TRAIN (conversations) or --pairs PAIRS.jsonl, not both or neither",
            hint="edge-eval distill TRAIN.jsonl --teacher labels --out DIR, or "
            "edge-eval distill --pairs PAIRS.jsonl --out DIR",
        )
    if max_length < 32 or max_length > 512:
        raise ConfigError("--max-length must lie between 32 and 512")
    template = InputTemplate(max_length=max_length, max_response_tokens=(max_length * 5) // 8)
    common: dict[str, Any] = {
        "heldout_fraction": heldout_fraction,
        "finetune_encoder": finetune_encoder,
        "lr": lr,
        "calibration": calibration,
        "seed": seed,
        "template": template,
        "batch_size": batch_size,
        "quantize": not fp32,
        "min_count": min_count,
    }
    if epochs is not None:
        common["epochs"] = epochs
    if name:
        common["name"] = name

    def say(message: str) -> None:
        click.echo(message, err=True)

    if pairs is not None:
        if teacher is not None:
            raise ConfigError(
                "--teacher does not apply to --pairs (the pairs are the teacher)",
                hint="Leave --teacher out, or distil from conversations instead.",
            )
        if save_torch is not None:
            raise ConfigError(
                "--save-torch is not supported with --pairs yet",
                hint="Leave --save-torch out; the preference bundle is written as usual.",
            )
        from edge_eval.training.preference import PreferenceConfig, train_preference_model

        report = train_preference_model(
            pairs,
            PreferenceConfig(beta=beta, **common),
            out_dir=out,
            heldout_path=heldout,
            progress=say,
        )
    else:
        assert train is not None
        if teacher is None:
            raise ConfigError(
                "--teacher is required with TRAIN",
                hint="--teacher labels (the `empathy` labels in the file), default, a bundle "
                "folder, or gguf:FILE.gguf",
            )
        from edge_eval.training.distill import DistillConfig, distill_reward_model

        report = distill_reward_model(
            train,
            DistillConfig(teacher=teacher, teacher_device=teacher_device, **common),
            out_dir=out,
            heldout_path=heldout,
            torch_dir=save_torch,
            progress=say,
        )
    validation = report.validation
    if as_json:
        click.echo(json.dumps(validation, indent=2))
        return
    click.echo(render_distill(report.metadata))
    if save_torch is not None:
        click.echo("Kept the torch checkpoint (export it with `edge-eval export onnx --reward`).")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def render_distill(meta: dict[str, Any]) -> str:
    """A short plain-text summary of a written bundle (aggregates from bundle.json only)."""
    v = meta["validation"]
    lines = [f"Wrote the bundle: {meta['kind']}, {meta['training']['precision']}."]
    check = v.get("int8_vs_fp32")
    if check:
        lines.append(
            f"int8 vs fp32 on {check['n']} held-out items: Spearman {_fmt(check['spearman'], 4)}, "
            f"MAE {_fmt(check['mae'], 4)}"
        )
    if meta["kind"] == "onnx-preference":
        row = v.get("pairs")
        if row is None:
            lines.append(f"held-out pairs: {v['heldout_pairs']} (figures withheld: too few)")
        else:
            low, high = row["pairwise_accuracy_ci"]
            lines.append(
                f"held-out pairwise accuracy: {_fmt(row['pairwise_accuracy'])} "
                f"[{_fmt(low, 2)}, {_fmt(high, 2)}] over {row['n']} pairs"
            )
        return "\n".join(lines)
    lines.append(f"held-out agreement with the {v['reference']}:")
    for level in ("turn", "conversation"):
        row = v.get(level)
        if row is None:
            lines.append(f"  {level:<13} withheld (no targets or too few)")
            continue
        low, high = row["spearman_ci"]
        lines.append(
            f"  {level:<13} n {row['n']:>5}  Spearman {_fmt(row['spearman'])} "
            f"[{_fmt(low, 2)}, {_fmt(high, 2)}]  MAE {_fmt(row['mae'])}"
        )
    return "\n".join(lines)
