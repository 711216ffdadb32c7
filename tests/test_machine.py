"""llama.cpp safety: the build's features against the CPU's, with system information faked."""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest

from edge_eval import machine
from edge_eval.errors import UnsafeRuntimeError

# What llama_print_system_info() printed for llama-cpp-python 0.3.36 on an AMX Xeon: the native
# build (AMX backend compiled in) and the AMX-free build made by tools/llama_cpp_wheel.py.
NATIVE_AMX = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
AMX_FREE = NATIVE_AMX.replace("AMX_INT8 = 1 | ", "")
AVX2_ONLY = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
_AVX2 = ["sse3", "ssse3", "avx", "avx2", "fma", "f16c", "bmi2"]
_AVX512 = ["avx512f", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vnni", "avx512_bf16"]
CPU_AMX = frozenset([*_AVX2, *_AVX512, "amx_tile", "amx_int8", "amx_bf16"])
CPU_AVX2 = frozenset(_AVX2)


def _fake(info: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(llama_print_system_info=lambda: info.encode())


def test_amx_build_on_amx_cpu_is_refused_with_the_rebuild_command() -> None:
    with pytest.raises(UnsafeRuntimeError) as caught:
        machine.check_llama_cpp(_fake(NATIVE_AMX), cpu=CPU_AMX)
    assert "AMX backend" in caught.value.message
    assert caught.value.exit_code == 12
    assert machine.REBUILD_COMMAND in caught.value.hint
    assert "make llama-cpp" in caught.value.hint


def test_amx_free_build_on_amx_cpu_is_accepted() -> None:
    machine.check_llama_cpp(_fake(AMX_FREE), cpu=CPU_AMX)  # no error


def test_amx_build_on_a_cpu_without_amx_is_accepted() -> None:
    # The AMX backend only runs where AMX exists; this pair cannot arise from a native build.
    cpu = CPU_AMX - {"amx_int8", "amx_tile", "amx_bf16"}
    assert machine.llama_cpp_problems(NATIVE_AMX, cpu) == []


def test_a_build_from_a_wider_cpu_is_refused_naming_the_missing_instructions() -> None:
    problems = machine.llama_cpp_problems(AMX_FREE, CPU_AVX2)
    assert len(problems) == 1
    assert "AVX512, AVX512_BF16, AVX512_VBMI, AVX512_VNNI" in problems[0]
    assert machine.llama_cpp_problems(AVX2_ONLY, CPU_AVX2) == []


def test_an_unreadable_cpu_list_proves_nothing_missing() -> None:
    assert machine.llama_cpp_problems(AMX_FREE, frozenset()) == []


def test_cpu_features_reads_cpuinfo_and_maps_pni_to_sse3() -> None:
    text = "processor\t: 0\nflags\t\t: fpu pni avx2 amx_int8\nbogomips\t: 1\n"
    assert machine.cpu_features(text) == {"fpu", "pni", "sse3", "avx2", "amx_int8"}
    assert machine.cpu_features("no flags here") == frozenset()


def test_load_llama_cpp_refuses_before_any_model_is_loaded(monkeypatch) -> None:
    fake = _fake(NATIVE_AMX)
    fake.Llama = lambda **_: pytest.fail("a GGUF reached llama.cpp")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp", fake)
    monkeypatch.setattr(machine, "cpu_features", lambda cpuinfo=None: CPU_AMX)
    machine.load_llama_cpp.cache_clear()
    try:
        from edge_eval.export.probes import import_llama_cpp
        from edge_eval.reward.judge import _import_llama_cpp

        for importer in (machine.load_llama_cpp, import_llama_cpp, _import_llama_cpp):
            with pytest.raises(UnsafeRuntimeError):
                importer()
    finally:
        machine.load_llama_cpp.cache_clear()


def test_the_cli_prints_the_refusal_not_a_crash(monkeypatch, run_cli, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", _fake(NATIVE_AMX))
    monkeypatch.setattr(machine, "cpu_features", lambda cpuinfo=None: CPU_AMX)
    machine.load_llama_cpp.cache_clear()
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    conv = tmp_path / "c.jsonl"
    conv.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, '
        '{"role": "assistant", "content": "hello", "empathy": 3}]}\n'
    )
    try:
        code, out, err = run_cli("validate", str(conv), "--model", f"gguf:{gguf}")
    finally:
        machine.load_llama_cpp.cache_clear()
    assert code == 12, out + err
    assert "AMX backend" in err and "make llama-cpp" in err
    assert "Traceback" not in err


def test_the_library_and_the_build_tool_agree_on_the_flags() -> None:
    path = Path(__file__).resolve().parents[1] / "tools" / "llama_cpp_wheel.py"
    spec = importlib.util.spec_from_file_location("llama_cpp_wheel", path)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.CMAKE_ARGS == machine.LLAMA_CPP_CMAKE_ARGS
    assert tool.VERSION == machine.LLAMA_CPP_VERSION
    # The rebuild command is one shell line that sets exactly those CMAKE_ARGS.
    words = shlex.split(machine.REBUILD_COMMAND)
    assert words[0] == f"CMAKE_ARGS={machine.LLAMA_CPP_CMAKE_ARGS}"
    printed = subprocess.run(
        [sys.executable, str(path), "command"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert printed == machine.REBUILD_COMMAND
    assert "--no-cache-dir" in words and f"llama-cpp-python=={tool.VERSION}" in words


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="no llama-cpp-python")
def test_the_installed_build_is_safe_here() -> None:
    # On every machine CI meets (AVX2 or AMX), the build `make test` installs must pass the check.
    import llama_cpp

    info = machine.system_info(llama_cpp)
    assert machine.llama_build_features(info), info  # the format is still parseable
    assert machine.llama_cpp_problems(info, machine.cpu_features()) == []
