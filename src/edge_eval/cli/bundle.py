"""`edge-eval bundle`: build the default reward bundle from the project's data, or show one."""

from __future__ import annotations

import json
from dataclasses import replace
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
    help="Synthetic labelled turns (a small share of the head's training weight).",
)
@click.option(
    "--heldout",
    "heldout_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=Path("datasets/empathy-synth/heldout.jsonl"),
    show_default=True,
)
@click.option(
    "--human",
    "human_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=Path("datasets/ieval/ieval.jsonl"),
    show_default=True,
    help="Conversations rated by people (perceived_empathy): the head's main training data.",
)
@click.option(
    "--behaviours",
    "behaviours_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=Path("datasets/empathy-behaviours/behaviours.jsonl"),
    show_default=True,
    help="Graded replies (levels 1-5 to one message): they order the head's replies to the "
    "same message, never its level.",
)
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=Path("datasets/ieval-reply-labels/labels.jsonl"),
    show_default=True,
    help="A behaviour level 1-5 per reply of the --human conversations (matched by id): the "
    "encoder's top layers are trained on them before the head.",
)
@click.option(
    "--label-layers",
    type=click.IntRange(0),
    default=None,
    help="Top encoder layers trained on --labels (default: the recipe's, 2; 0: frozen encoder, "
    "as bundle v5 was built).",
)
@click.option(
    "--label-epochs",
    type=click.IntRange(0),
    default=None,
    help="Epochs of that training (default: the recipe's, 3).",
)
@click.option(
    "--head",
    "head_target",
    type=click.Choice(["ratings", "rubric"]),
    default=None,
    help="What the head is fitted on (default: the recipe's): people's conversation ratings, "
    "or the reply labels (rubric) with people's ratings setting only the scale (an affine map).",
)
@click.option(
    "--graded-layers",
    is_flag=True,
    help="Distil the graded replies' levels into the trained layers too, beside the reply "
    "labels (off by default; the graded-replies figure is then in-sample for the encoder).",
)
@click.option(
    "--pair-weight",
    type=click.FloatRange(0.0),
    default=None,
    help="Context pairs in the layers' training: weight of the loss that scores a well-labelled "
    "reply higher after its own conversation than after another person's (default: the "
    "recipe's, 3, or 0 with --label-layers 0; 0: none).",
)
@click.option(
    "--pair-margin",
    type=click.FloatRange(0.0),
    default=None,
    help="How much higher, on the 1-5 scale, that reply should score after its own (default: "
    "the recipe's, 1).",
)
@click.option(
    "--behaviour-share",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=None,
    help="Share of the head's weight on the graded replies (default: the recipe's, 0.07; "
    "0: leave them out).",
)
@click.option(
    "--rater-share",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Share of the head's weight on the rated conversations compared within the person who "
    "rated them (the rater's leniency removed; --human ids carry the person). 0: not used.",
)
@click.option(
    "--measure",
    "measure",
    multiple=True,
    metavar="LABEL=PATH",
    help="An unseen human-rated set, scored for the bundle's figures only (never trained on); "
    "LABEL: empathetic_exchanges.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Bundle folder to write (e.g. src/edge_eval/reward/default).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--fp32", is_flag=True, help="Ship fp32 instead of int8.")
@click.option(
    "--finetune-layers",
    type=int,
    default=0,
    show_default=True,
    help="Top encoder layers trained on the synthetic turns after the head (0: frozen encoder, "
    "the default recipe; above 0 the head reads the last layer, as bundle v3 did).",
)
@click.option("--epochs", type=int, default=1, show_default=True, help="Fine-tuning epochs.")
@click.option(
    "--save-torch",
    "torch_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also keep the trained torch weights here (a checkpoint for export onnx --reward).",
)
def build_command(
    train_path: Path,
    heldout_path: Path,
    human_path: Path,
    behaviours_path: Path,
    labels_path: Path,
    label_layers: int | None,
    label_epochs: int | None,
    head_target: str | None,
    graded_layers: bool,
    pair_weight: float | None,
    pair_margin: float | None,
    behaviour_share: float | None,
    rater_share: float,
    measure: tuple[str, ...],
    out_dir: Path,
    seed: int,
    fp32: bool,
    finetune_layers: int,
    epochs: int,
    torch_dir: Path | None,
) -> None:
    """Train the encoder's top layers on the reply labels, the head on people's ratings; export
    ONNX, quantize, measure agreement."""
    from edge_eval.training.build import BuildConfig, build_default_bundle
    from edge_eval.training.head import HeadFeatures

    config = BuildConfig(seed=seed, quantize=not fp32, rater_share=rater_share)
    if behaviour_share is not None:
        config = replace(config, contrast_share=behaviour_share)
    layers = config.label_layers if label_layers is None else label_layers
    rubric = config.rubric_head if head_target is None else head_target == "rubric"
    if pair_weight is None and layers == 0:  # the recipe's pairs train layers: none to train
        pair_weight = 0.0
    config = replace(
        config,
        label_layers=layers,
        rubric_head=rubric,
        graded_layers=graded_layers,
        pair_weight=config.pair_weight if pair_weight is None else pair_weight,
    )
    if label_epochs is not None:
        config = replace(config, label_epochs=label_epochs)
    if pair_margin is not None:
        config = replace(config, pair_margin=pair_margin)
    if finetune_layers > 0:  # fine-tuning trains the last layer: the v3 head on it
        config = BuildConfig(
            seed=seed,
            quantize=not fp32,
            features=HeadFeatures.RESPONSE_LENGTH,
            pooled_layers=(),
            ridge_alpha=1e-3,
            contrast_share=0.0,
            rater_share=rater_share,
            finetune_layers=finetune_layers,
            finetune_epochs=epochs,
            label_layers=0,
            rubric_head=head_target == "rubric",  # the rubric head needs labels: this errs
            pair_weight=pair_weight or 0.0,  # so do context pairs
        )
    sets = _measure_sets(measure)
    meta = build_default_bundle(
        train_path,
        heldout_path,
        human_path,
        out_dir,
        config,
        measure=sets,
        progress=lambda message: click.echo(message, err=True),
        torch_dir=torch_dir,
        behaviours_path=behaviours_path,
        labels_path=labels_path if config.label_layers > 0 else None,
    )
    click.echo(json.dumps(meta["validation"], indent=2))


def _measure_sets(measure: tuple[str, ...]) -> dict[str, Path]:
    from edge_eval.errors import ConfigError

    sets: dict[str, Path] = {}
    for item in measure:
        label, sep, path = item.partition("=")
        if not sep or not path:
            raise ConfigError("--measure takes LABEL=PATH", hint="e.g. empathetic_exchanges=F")
        if not Path(path).is_file():
            raise ConfigError(f"--measure {label}: no such file", hint="Check the path.")
        sets[label] = Path(path)
    return sets


@bundle_group.command("measure")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--measure",
    "measure",
    multiple=True,
    required=True,
    metavar="LABEL=PATH",
    help="An unseen human-rated set to score with the bundle and record in its bundle.json; "
    "LABEL: empathetic_exchanges.",
)
def measure_command(path: Path, measure: tuple[str, ...]) -> None:
    """Add an unseen human-rated set's figures to a built bundle (what `bundle build --measure`
    writes, byte for byte), so a candidate can be built blind and measured only once chosen."""
    from edge_eval.training.build import measure_bundle

    validation = measure_bundle(
        path, _measure_sets(measure), progress=lambda message: click.echo(message, err=True)
    )
    click.echo(json.dumps(validation["human_agreement"], indent=2))


@bundle_group.command("show")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print only the metadata JSON.")
def show_command(path: Path | None, as_json: bool) -> None:
    """Print a bundle's agreement with people, then its metadata (hashes verified).

    The embedded default without PATH. The agreement lines are the ones every report made with
    the bundle carries.
    """
    from edge_eval.report._format import validity_lines
    from edge_eval.reward.bundle import load_bundle, scorer_validity

    bundle = load_bundle(path)
    if not as_json:
        figures = [dict(v) for v in scorer_validity(bundle.metadata)]
        click.echo("Agreement with people (as reports made with this bundle state it):")
        for line in validity_lines({"parameters": {"scorer_validity": figures}}):
            click.echo(f"- {line}")
        click.echo("\nMetadata:")
    click.echo(json.dumps(bundle.metadata, indent=2))
