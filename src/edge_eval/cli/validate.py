"""`edge-eval validate` (a scorer against people) and `edge-eval calibrate` (a task profile)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edge_eval.cli.privacy import dp_options
from edge_eval.conversations import OnError
from edge_eval.validation import BASELINES, LevelPanel, ValidationReport

if TYPE_CHECKING:  # pragma: no cover
    from edge_eval.privacy.dp import DPConfig
    from edge_eval.reward.base import RewardModel

_ON_ERROR = click.option(
    "--on-error",
    type=click.Choice([e.value for e in OnError]),
    default="fail",
    show_default=True,
    help="fail on the first bad line, or skip bad lines and count them.",
)
_MIN_COUNT = click.option(
    "--min-count",
    type=int,
    default=11,
    show_default=True,
    envvar="EDGE_EVAL_MIN_COUNT",
    help="Privacy threshold k: withhold any figure from fewer items than this.",
)


@click.command("validate")
@click.argument(
    "conversations", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--model",
    envvar="EDGE_EVAL_MODEL",
    help="Reward model: a bundle folder or gguf:FILE.gguf (default: the embedded bundle).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    envvar="EDGE_EVAL_DEVICE",
)
@_ON_ERROR
@_MIN_COUNT
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--n-boot", type=int, default=2000, show_default=True, help="Bootstrap resamples.")
@click.option("--batch-size", type=int, default=32, show_default=True)
@dp_options
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def validate_command(
    conversations: tuple[Path, ...],
    model: str | None,
    device: str,
    on_error: str,
    min_count: int,
    seed: int,
    n_boot: int,
    batch_size: int,
    epsilon: float | None,
    delta: float,
    budget: float,
    ledger: Path | None,
    as_json: bool,
) -> None:
    """Compare a reward model with the human labels in each CONVERSATIONS file (JSONL).

    Per assistant turn (`empathy`) and per conversation (`perceived_empathy`, else the mean of
    its turn labels): Spearman rho and MAE with seeded bootstrap 95% intervals, accuracy,
    macro-F1 and within-1 accuracy on rounded 1-5 labels, the mean bias (mean predicted - mean
    human), and beside them the trivial baselines on the same labels (response length in words;
    contains '?'), each with its interval and the scorer's rho with that baseline held fixed
    (partial Spearman: what the scorer orders beyond it). A level with fewer than --min-count
    labelled items is withheld (null). Files are numbered in the order given; their paths are
    never printed.
    """
    from edge_eval.reward import load_reward_model

    dp = _dp_config(epsilon, delta, budget)
    scorer = load_reward_model(model, device=device, batch_size=batch_size)
    results = []
    for number, path in enumerate(conversations, start=1):
        report = _validate_file(
            path, scorer, number, len(conversations), dp=dp, budget=budget, ledger=ledger,
            on_error=on_error, min_count=min_count, n_boot=n_boot, seed=seed,
            batch_size=batch_size,
        )  # fmt: skip
        results.append(report)
    if as_json:
        outs = [_json_of(report, dp) for report in results]
        click.echo(json.dumps(outs[0] if len(outs) == 1 else {"inputs": outs}, indent=2))
        return
    for number, report in enumerate(results, start=1):
        if len(results) > 1:
            click.echo(f"{'' if number == 1 else chr(10)}Input {number} of {len(results)}")
        click.echo(render_validation(report, seed=seed))
    if dp is None:
        click.echo("privacy: NOT differentially private (exact figures; levels under k withheld)")
    else:
        click.echo(
            f"privacy: differentially private (ε = {dp.epsilon:g}"
            + (f", δ = {dp.delta:g}" if dp.delta else "")
            + f", {dp.mechanism} noise per conversation); Spearman and macro-F1 withheld"
        )


def _validate_file(
    path: Path,
    scorer: RewardModel,
    number: int,
    total: int,
    *,
    dp: DPConfig | None,
    budget: float,
    ledger: Path | None,
    **options: Any,
) -> ValidationReport:
    """One file through :func:`validate_conversations` (the ledger under DP); notes to stderr."""
    from edge_eval.conversations import LoadStats
    from edge_eval.validation import validate_conversations

    stats = LoadStats()
    digests: list[bytes] | None = [] if dp is not None else None
    report = validate_conversations(
        path,
        scorer,
        stats=stats,
        dp=dp,
        digests=digests,
        **options,  # type: ignore[arg-type]
    )
    if dp is not None:
        from edge_eval.privacy.ledger import charge_dp_run

        assert digests is not None
        charge_dp_run(
            digests,
            epsilon=dp.epsilon,
            delta=dp.delta,
            budget=budget,
            min_count=options["min_count"],
            mechanism=dp.mechanism,
            path=ledger,
        )
    which = f"Input {number}: " if total > 1 else ""
    if stats.n_skipped:
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(stats.skipped.items()))
        click.echo(f"{which}Skipped {stats.n_skipped} line(s) ({detail}).", err=True)
    if report.turns_unscored:
        click.echo(
            f"{which}{report.turns_unscored} labelled turn(s) could not be scored and were "
            "left out.",
            err=True,
        )
    judge = getattr(scorer, "stats", None)  # the GGUF judge's counts, when it was the scorer
    if judge is not None and (judge.unscored or judge.context_trimmed):
        click.echo(
            f"{which}Judge: {judge.too_long} turn(s) too long for its context, {judge.failed} "
            f"failed, {judge.context_trimmed} scored after dropping their oldest context.",
            err=True,
        )
    return report


def _json_of(report: ValidationReport, dp: DPConfig | None) -> dict[str, Any]:
    """Today's keys exactly, and beside them the panel (exact runs) or the DP note."""
    out = report.to_dict()
    if dp is not None:  # the key appears only under DP: exact output is unchanged
        out["differential_privacy"] = {
            "epsilon": dp.epsilon,
            "delta": dp.delta,
            "mechanism": dp.mechanism,
            "withheld": ["spearman", "macro_f1"],
        }
    else:
        out["panel"] = report.panel_dict()
    return out


def _dp_config(epsilon: float | None, delta: float, budget: float) -> DPConfig | None:
    from edge_eval.errors import ConfigError
    from edge_eval.privacy.dp import DPConfig, require_opendp
    from edge_eval.privacy.ledger import BudgetExceededError

    if epsilon is None:
        if delta:
            raise ConfigError("--delta needs --epsilon")
        return None
    if epsilon > budget:
        raise BudgetExceededError(f"ε = {epsilon:g} alone is more than the budget {budget:g}")
    config = DPConfig(epsilon=epsilon, delta=delta)
    require_opendp()  # a missing extra fails before any scoring
    return config


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _with_ci(value: float, ci: tuple[float, float]) -> str:
    return f"{_fmt(value)} [{_fmt(ci[0], 2)}, {_fmt(ci[1], 2)}]"


def render_validation(report: ValidationReport, *, seed: int) -> str:
    """The validation figures as a plain-text table."""
    k = report.min_count
    lines = [
        f"Agreement with people (95% bootstrap intervals, seed {seed}; k = {k})",
        f"{'level':<13}{'n':>6}  {'Spearman rho':<23}{'MAE':<20}"
        f"{'accuracy':>9}{'macro-F1':>10}{'within-1':>10}",
    ]
    for name, level in (("turn", report.turn), ("conversation", report.conversation)):
        if level is None:
            lines.append(f"{name:<13}{'':>6}  withheld: no labels or fewer than {k}")
            continue
        lines.append(
            f"{name:<13}{level.n:>6}  {_with_ci(level.spearman, level.spearman_ci):<23}"
            f"{_with_ci(level.mae, level.mae_ci):<20}{_fmt(level.accuracy):>9}"
            f"{_fmt(level.macro_f1):>10}{_fmt(level.within1):>10}"
        )
        panel = report.turn_panel if name == "turn" else report.conversation_panel
        if panel is not None:
            lines += _panel_lines(panel, level.spearman)
    return "\n".join(lines)


def _panel_lines(panel: LevelPanel, rho: float) -> list[str]:
    """Bias, then each trivial baseline's rho, how far the scorer is above it and the scorer's
    rho with the baseline held fixed (what it orders beyond that baseline)."""
    lines = [
        f"{'':<21}bias {_signed(panel.bias)} (mean predicted {_fmt(panel.mean_predicted)}, "
        f"people {_fmt(panel.mean_human)})"
    ]
    for baseline in panel.baselines:
        label = f"baseline: {BASELINES[baseline.name]}"
        above = rho - baseline.spearman
        lines.append(
            f"{'':<21}{label:<36}{_with_ci(baseline.spearman, baseline.spearman_ci):<23}"
            f"scorer - baseline {_signed(above)}; scorer given it "
            f"{_fmt(baseline.scorer_given)} [{_fmt(baseline.scorer_given_ci[0], 2)}, "
            f"{_fmt(baseline.scorer_given_ci[1], 2)}]"
        )
    if panel.by_level:
        cells = [
            f"{b.low if b.low == b.high else f'{b.low}-{b.high}'}: "
            f"{_fmt(b.mean_predicted, 2)} (n {b.n})"
            for b in panel.by_level
        ]
        lines.append(f"{'':<21}mean predicted by people's level: " + ", ".join(cells))
    return lines


def _signed(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:+.3f}"


@click.command("calibrate")
@click.argument("conversations", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The profile TOML to write (replaced atomically).",
)
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="EDGE_EVAL_PROFILE",
    help="Base profile: its clusters, aliases and priors (default: the shipped one).",
)
@_MIN_COUNT
@click.option(
    "--small",
    type=click.Choice(["fail", "prior"]),
    default="fail",
    show_default=True,
    help="A cluster with labels from fewer than --min-count conversations: refuse the run, "
    "or keep the base profile's value for it.",
)
@click.option("--name", default="calibrated", show_default=True, help="The new profile's name.")
@_ON_ERROR
def calibrate_command(
    conversations: Path,
    out: Path,
    profile: Path | None,
    min_count: int,
    small: str,
    name: str,
    on_error: str,
) -> None:
    """Derive a task profile (desired empathy per cluster) from labelled CONVERSATIONS.

    Each cluster's desired_empathy becomes the mean over its conversations' desired_empathy,
    written with its count n. A mean of fewer than --min-count conversations is never written.
    """
    from edge_eval.tasks.calibrate import calibrate_profile, write_calibrated_profile
    from edge_eval.tasks.profile import load_profile

    report = calibrate_profile(
        conversations,
        base=load_profile(profile),
        min_count=min_count,
        small=small,
        name=name,
        on_error=on_error,
    )
    write_calibrated_profile(report, out)
    click.echo(f"{'cluster':<30}{'n':>6}{'desired':>9}  source")
    for c in report.clusters:
        source = "data" if c.n else ("prior (too few)" if c.withheld else "prior (no labels)")
        click.echo(f"{c.name:<30}{c.n:>6}{c.desired:>9.3f}  {source}")
    unused = report.without_task + report.without_desired
    if unused:
        click.echo(f"{unused} conversation(s) without a known task or desired_empathy not used.")
    click.echo("Wrote the profile.")
