"""`edge-eval quantize gguf` on the tiny model: llama.cpp's quantizer behind the fidelity gate.

(Here rather than in tests/quantize/ because it uses the shared tiny fixtures of this folder.)
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_eval.errors import ConfigError

if importlib.util.find_spec("llama_cpp") is None:  # find, not import: see import_llama_cpp
    pytest.skip("llama-cpp-python is not installed", allow_module_level=True)


def _cli(args: list[str]) -> tuple[int, str, str]:
    import click

    from edge_eval.cli.main import main

    @click.command()
    def entry() -> None:
        main(args)

    result = CliRunner().invoke(entry, [], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_q8_0_passes_its_default_gate(tiny_gguf_f32: Path, tmp_path: Path) -> None:
    out = tmp_path / "q8.gguf"
    code, stdout, stderr = _cli(
        ["quantize", "gguf", str(tiny_gguf_f32), "--type", "Q8_0", "--out", str(out), "--json"]
    )
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["checked"] is True
    assert 0 < result["figures"]["mean_kl"] < 0.03
    manifest = json.loads((tmp_path / "q8.gguf.manifest.json").read_text())
    assert manifest["extra"]["type"] == "Q8_0"
    assert manifest["extra"]["requantized_from_quantized_input"] is False
    assert manifest["extra"]["tensor_types"]["Q8_0"] >= 14  # every projection matrix
    assert out.stat().st_size < 0.4 * tiny_gguf_f32.stat().st_size


def test_quantization_failing_its_gate_keeps_nothing(tiny_gguf_f16: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, stdout, stderr = _cli(
        ["quantize", "gguf", str(tiny_gguf_f16), "--type", "q4_k_m", "--out",
         str(out_dir / "q4.gguf"), "--max-kl", "0.0001", "--min-top1", "0.999"]
    )  # fmt: skip
    assert code == 8, stderr
    assert stderr.startswith("Error: the Q4_K_M GGUF failed its fidelity gate: ")
    assert "(--max-kl)" in stderr and "(--min-top1)" in stderr
    assert stdout == ""
    assert list(out_dir.iterdir()) == []


def test_no_check_records_it(tiny_gguf_f16: Path, tmp_path: Path) -> None:
    code, stdout, _ = _cli(
        ["quantize", "gguf", str(tiny_gguf_f16), "--type", "Q6_K", "--out",
         str(tmp_path / "q6.gguf"), "--no-check"]
    )  # fmt: skip
    assert code == 0
    assert stdout.splitlines()[1] == "fidelity: not checked (--no-check)"
    manifest = json.loads((tmp_path / "q6.gguf.manifest.json").read_text())
    assert manifest["fidelity"] == {
        "checked": False,
        "figures": None,
        "thresholds": manifest["fidelity"]["thresholds"],
    }


def test_unknown_type_is_refused(tiny_gguf_f16: Path, tmp_path: Path) -> None:
    from edge_eval.quantize.gguf import GGUFQuantType

    code, _, stderr = _cli(
        ["quantize", "gguf", str(tiny_gguf_f16), "--type", "Q3_K", "--out", str(tmp_path / "x")]
    )
    assert code == 2
    assert "Invalid value for '--type'" in stderr
    with pytest.raises(ConfigError, match="Q3_K"):
        GGUFQuantType.parse("Q3_K")


def test_a_file_llama_cpp_cannot_read_is_a_quantization_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + b"\\0" * 64)
    code, _, stderr = _cli(
        ["quantize", "gguf", str(bogus), "--type", "Q8_0", "--out", str(tmp_path / "o.gguf")]
    )
    assert code in (5, 9), stderr
    assert stderr.startswith("Error: ")
    assert not (tmp_path / "o.gguf").exists()
