"""`edge-eval`: the root command group and the one place errors become exit codes."""

from __future__ import annotations

import sys

import click

from edge_eval import __version__
from edge_eval.errors import EdgeEvalError


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs (keeps --help fast)."""

    _lazy: dict[str, tuple[str, str, str]] = {
        # name: (module, attribute, one-line help)
        "score": ("edge_eval.cli.score", "score_command", "Score conversations locally."),
        "export": ("edge_eval.cli.export", "export_group", "Merge and export models."),
        "quantize": ("edge_eval.cli.quantize", "quantize_group", "Quantize GGUF/ONNX models."),
        "import": ("edge_eval.cli.importers", "import_group", "Import labelled datasets."),
        "validate": ("edge_eval.cli.validate", "validate_command", "Validate a scorer vs people."),
        "calibrate": ("edge_eval.cli.validate", "calibrate_command", "Derive a task profile."),
        "distill": ("edge_eval.cli.distill", "distill_command", "Train a student reward model."),
        "bundle": ("edge_eval.cli.bundle", "bundle_group", "Build and inspect reward bundles."),
        "keys": ("edge_eval.cli.privacy", "keys_group", "Make the key pair that signs results."),
        "audit": ("edge_eval.cli.privacy", "audit_group", "Verify a results folder."),
        "federated": (
            "edge_eval.cli.federated",
            "federated_group",
            "Evaluate across devices (Flower, SecAgg+).",
        ),
        "synth": (
            "edge_eval.cli.adapters",
            "synth_command",
            "Simulate users, make preference pairs.",
        ),
        "adapters": ("edge_eval.cli.adapters", "adapters_group", "Train and chat with adapters."),
        "compare": ("edge_eval.cli.adapters", "compare_command", "Compare systems over turns."),
        "doctor": ("edge_eval.cli.doctor", "doctor_command", "Say what this machine can run."),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        for name, (module, _, _) in self._lazy.items():
            if _module_exists(module):
                names.add(name)
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self._lazy and _module_exists(self._lazy[name][0]):
            import importlib

            module, attr, _ = self._lazy[name]
            return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, self._lazy[n][2]) for n in self.list_commands(ctx) if n in self._lazy]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module_exists(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edge-eval")
@click.option("--debug", is_flag=True, envvar="EDGE_EVAL_DEBUG", help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """edge-eval: on-device, privacy-preserving evaluation of empathy in conversational AI."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the CLI and turns EdgeEvalError into `Error:`/`Hint:` + code."""
    from edge_eval.privacy.network import set_offline_environment

    set_offline_environment()
    args = list(argv if argv is not None else sys.argv[1:])
    debug = "--debug" in args
    if debug:  # accepted anywhere on the line, as a root option
        args = ["--debug", *(a for a in args if a != "--debug")]
    try:
        cli.main(args=args, prog_name="edge-eval", standalone_mode=False)
    except EdgeEvalError as exc:
        if debug:
            raise
        click.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"Hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
