"""The fidelity-gate options every `export` / `quantize` command shares, parsed once.

A command decorated with :func:`lm_gate_options` receives one :class:`GateChoice` argument
(``gate``) instead of seven separate options, and builds its thresholds with
:meth:`GateChoice.thresholds`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # pragma: no cover
    from edge_eval.export.fidelity import GateThresholds, LMFidelity

__all__ = ["GateChoice", "lm_fidelity_line", "lm_gate_options"]

#: The language-model gate bounds: option parameter name -> option flag.
LM_BOUNDS = {
    "max_kl": "--max-kl",
    "min_top1": "--min-top1",
    "max_abs_logit": "--max-abs-logit",
    "max_seq_logprob_delta": "--max-seq-logprob-delta",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class GateChoice:
    """What the user asked of the fidelity gate."""

    probes: Path | None = None
    """A probe file instead of the shipped set."""
    overrides: dict[str, float | None] = field(default_factory=dict)
    """Language-model bounds given on the command line (None: the format's default)."""
    check: bool = True
    """False with ``--no-check`` (recorded in the manifest)."""
    as_json: bool = False
    threads: int = 2
    """CPU threads for llama.cpp (the commands that run it have ``--threads``)."""

    def thresholds(self, fmt: str) -> GateThresholds:
        """The default gate of ``fmt`` with the bounds given on the command line."""
        from edge_eval.export.fidelity import gate_for

        return gate_for(fmt).with_overrides(**self.overrides)

    def given(self) -> dict[str, float]:
        """The language-model bounds given on the command line, by flag."""
        return {LM_BOUNDS[k]: v for k, v in self.overrides.items() if v is not None}


def lm_gate_options(*, threads: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """Add ``--probes``, the four LM bounds, ``--no-check``, ``--json`` (and ``--threads``).

    The decorated function gets them as one keyword argument ``gate`` (a :class:`GateChoice`).
    """
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
    ]
    if threads:
        options.append(
            click.option(
                "--threads",
                type=click.IntRange(1, 256),
                default=2,
                show_default=True,
                envvar="EDGE_EVAL_THREADS",
                help="CPU threads for llama.cpp.",
            )
        )
    options.append(click.option("--json", "as_json", is_flag=True, help="Print JSON."))

    def decorate(func: Callable[..., Any]) -> Any:
        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            choice = GateChoice(
                probes=kwargs.pop("probes"),
                overrides={name: kwargs.pop(name) for name in LM_BOUNDS},
                check=not kwargs.pop("no_check"),
                as_json=kwargs.pop("as_json"),
                threads=kwargs.pop("threads", 2),
            )
            return func(*args, gate=choice, **kwargs)

        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def lm_fidelity_line(figures: LMFidelity) -> str:
    """One line of a language model's fidelity figures."""
    f = figures
    return (
        f"fidelity on {f.n_sequences} probes / {f.n_tokens} tokens: "
        f"max |delta logit| {f.max_abs_logit_delta:.4g}, mean KL {f.mean_kl:.4g}, "
        f"top-1 {f.top1_agreement:.4f}, max seq log-prob delta {f.max_seq_logprob_delta:.4g}"
    )
