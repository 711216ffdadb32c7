"""`edge-eval bundle`: build the default reward bundle from the project's data, or show one."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("bundle")
def bundle_group() -> None:
    """Build and inspect ONNX reward bundles."""


@bundle_group.command("build")
@click.option(
    "--train",
    "train_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=Path("datasets/empathy-synth/train.jsonl"),
    show_default=True,
)
@click.option(
    "--heldout",
    "heldout_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=Path("datasets/empathy-synth/heldout.jsonl"),
    show_default=True,
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Bundle folder to write (e.g. src/edge_eval/reward/default).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--fp32", is_flag=True, help="Ship fp32 instead of int8 per-channel.")
@click.option(
    "--finetune-layers",
    type=int,
    default=2,
    show_default=True,
    help="Top encoder layers trained with the head (0: ridge head on frozen features).",
)
@click.option("--epochs", type=int, default=4, show_default=True, help="Fine-tuning epochs.")
@click.option(
    "--save-torch",
    "torch_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also keep the trained torch weights here (a checkpoint for export onnx --reward).",
)
def build_command(
    train_path: Path,
    heldout_path: Path,
    out_dir: Path,
    seed: int,
    fp32: bool,
    finetune_layers: int,
    epochs: int,
    torch_dir: Path | None,
) -> None:
    """Train the head on labelled turns, export ONNX, quantize, measure on held-out turns."""
    from edge_eval.training.train import TrainConfig, build_reward_bundle

    meta = build_reward_bundle(
        train_path,
        heldout_path,
        out_dir,
        TrainConfig(
            seed=seed, quantize=not fp32, finetune_layers=finetune_layers, finetune_epochs=epochs
        ),
        progress=lambda message: click.echo(message, err=True),
        torch_dir=torch_dir,
    )
    click.echo(json.dumps(meta["validation"], indent=2))


@bundle_group.command("show")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
def show_command(path: Path | None) -> None:
    """Print a bundle's metadata (hashes verified); the embedded default without PATH."""
    from edge_eval.reward.bundle import load_bundle

    bundle = load_bundle(path)
    click.echo(json.dumps(bundle.metadata, indent=2))
