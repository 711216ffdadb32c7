"""The CLI shell: fast help, lazy heavy imports, version."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True
    ).stdout


def test_import_edge_eval_loads_no_heavy_library() -> None:
    out = run(
        "import sys, edge_eval; "
        "print(sorted(m for m in ('torch','onnxruntime','transformers','llama_cpp','numpy',"
        "'optimum','peft','tokenizers') if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_help_is_fast_and_lists_the_commands() -> None:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "edge_eval", "--help"], capture_output=True, text=True, env=ENV
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0
    for command in ("score", "export", "quantize", "bundle"):
        assert command in proc.stdout
    assert elapsed < 10  # generous: a loaded 2-core CI machine; the point is no heavy import
    out = run(
        "import sys\nfrom click.testing import CliRunner\nfrom edge_eval.cli.main import cli\n"
        "CliRunner().invoke(cli, ['--help'])\n"
        "print(any(m in sys.modules for m in ('torch','onnxruntime','transformers','llama_cpp')))"
    )
    assert out.strip() == "False"


def test_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge_eval", "--version"], capture_output=True, text=True, env=ENV
    )
    assert proc.returncode == 0 and "0.1.0" in proc.stdout


def test_every_public_name_resolves() -> None:
    import edge_eval

    for name in edge_eval.__all__:
        assert getattr(edge_eval, name) is not None, name
