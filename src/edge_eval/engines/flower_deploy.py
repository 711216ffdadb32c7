"""Run a federated evaluation over a real network with Flower's own deployment runtime.

Server: ``flower-superlink`` (one HTTP endpoint for the fleet and the control API), then
``flwr run`` of a tiny Flower app whose components are :mod:`edge_eval.engines.flower_app`; the
ServerApp waits for the agreed number of clients, runs one SecAgg+ round, finalizes and writes
the report. Client: ``flower-supernode`` with the device's conversations file in its node config
(the path stays on the device: node config is never sent). The processes are Flower's; this
module only starts them with the right options and waits.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edge_eval.errors import ConfigError, MissingDependencyError

__all__ = ["ServerOptions", "run_federated_client", "run_federated_server"]

_APP_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "edgeevalfederated"
version = "1.0.0"
description = "edge-eval federated evaluation (SecAgg+)"
license = "Apache-2.0"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "edgeeval"

[tool.flwr.app.components]
serverapp = "edge_eval.engines.flower_app:server_app"
clientapp = "edge_eval.engines.flower_app:client_app"

[tool.flwr.app.config]
clients = {clients}
min-count = {min_count}
max-turns = {max_turns}
profile = "{profile}"
model = "{model}"
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """A federated server run.

    Attributes:
        out_dir: where the report and manifest go (on the server).
        clients: clients that must take part (SecAgg+ needs at least 2).
        host, port: where the SuperLink listens (127.0.0.1 for a local test; 0.0.0.0 to serve
            devices on a network).
        min_count, max_turns: the privacy gate's k and the longest conversation a client holds.
        profile, model: the profile and bundle the federation agrees on (None: the shipped ones).
        insecure: no TLS (Flower's ``--insecure``); required for now, TLS is not wired yet.
        timeout: seconds to wait for the round.
    """

    out_dir: Path
    clients: int = 2
    host: str = "127.0.0.1"
    port: int = 8000
    min_count: int = 11
    max_turns: int = 64
    profile: Path | None = None
    model: str | None = None
    insecure: bool = False
    timeout: float = 3600.0

    def __post_init__(self) -> None:
        if not self.insecure:
            raise ConfigError(
                "a federated server runs without TLS for now",
                hint="Pass --insecure (use it on a trusted network or a tunnel only).",
            )
        if self.clients < 2:
            raise ConfigError("secure aggregation needs at least 2 clients")


def _tool(name: str) -> str:
    found = shutil.which(
        name, path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    )
    if found is None:
        raise MissingDependencyError("flwr", "federated")
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_federated_server(options: ServerOptions, *, log_dir: Path | None = None) -> Path:
    """Start a SuperLink, run one federated evaluation, stop the SuperLink; returns out_dir."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["EDGE_EVAL_FEDERATED_OUT"] = str(Path(options.out_dir).resolve())
    with tempfile.TemporaryDirectory(prefix="edge-eval-flwr-") as tmp:
        home, app = Path(tmp) / "home", Path(tmp) / "app"
        home.mkdir()
        app.mkdir()
        env["FLWR_HOME"] = str(home)
        address = (
            f"127.0.0.1:{options.port}"
            if options.host in ("0.0.0.0", "::")
            else (f"{options.host}:{options.port}")
        )
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "edgeeval"\n\n[superlink.edgeeval]\n'
            f'address = "{address}"\ninsecure = true\n'
        )
        (app / "pyproject.toml").write_text(
            _APP_PYPROJECT.format(
                clients=options.clients,
                min_count=options.min_count,
                max_turns=options.max_turns,
                profile="" if options.profile is None else Path(options.profile).resolve(),
                model="" if options.model is None else options.model,
            )
        )
        logs = Path(log_dir) if log_dir is not None else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / "superlink.log").open("wb") as link_log:
            link = subprocess.Popen(
                [
                    _tool("flower-superlink"),
                    "--insecure",
                    "--host",
                    options.host,
                    "--port",
                    str(options.port),
                ],
                env=env,
                stdout=link_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                time.sleep(3.0)
                if link.poll() is not None:
                    raise ConfigError(
                        "the Flower SuperLink did not start",
                        hint="Is the port free? See superlink.log with --log-dir.",
                    )
                with (logs / "run.log").open("wb") as run_log:
                    run = subprocess.run(
                        [_tool("flwr"), "run", str(app), "edgeeval", "--stream"],
                        env=env,
                        stdout=run_log,
                        stderr=subprocess.STDOUT,
                        timeout=options.timeout,
                        check=False,
                    )
            finally:
                _stop(link)
        if run.returncode != 0 or not (Path(options.out_dir) / "report.json").is_file():
            raise ConfigError(
                "the federated round did not finish",
                hint="See run.log and superlink.log (pass --log-dir); check that every client "
                "connected with the same profile and model.",
            )
    return Path(options.out_dir)


def run_federated_client(
    input_file: Path,
    server: str,
    *,
    port: int = 9094,
    batch_size: int = 32,
    insecure: bool = False,
    log_file: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start this device's Flower SuperNode: it scores ``input_file`` here and sends only its
    masked partial. Returns the process (it serves until stopped)."""
    if not insecure:
        raise ConfigError(
            "a federated client connects without TLS for now",
            hint="Pass --insecure (use it on a trusted network or a tunnel only).",
        )
    if not Path(input_file).is_file():
        raise ConfigError("the conversations file does not exist", hint="Check the path.")
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    node_config = f'input="{Path(input_file).resolve()}" batch-size={int(batch_size)}'
    out = open(log_file, "wb") if log_file is not None else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [
            _tool("flower-supernode"),
            "--insecure",
            "--superlink",
            server,
            "--port",
            str(port),
            "--node-config",
            node_config,
        ],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_client(process: subprocess.Popen[bytes]) -> None:
    """Stop a client started by :func:`run_federated_client` (and its Flower subprocesses)."""
    _stop(process)
