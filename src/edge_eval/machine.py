"""What this machine can do, and whether the installed llama.cpp is safe to run on it.

llama-cpp-python compiles with the build machine's native flags. Two such builds crash in
native code instead of failing cleanly:

- on a CPU with AMX (Sapphire Rapids and newer), ggml's AMX backend (compiled in when the
  compiler sees AMX) segfaults at the first decode of any quantized GGUF (llama-cpp-python
  0.3.36; an f16 file works);
- a wheel built on another machine can use instructions this CPU lacks (an AVX-512 build on an
  AVX2-only CPU dies with an illegal instruction).

:func:`load_llama_cpp` is the one way edge-eval imports llama.cpp: it compares the build's own
feature list (``llama_print_system_info``) with the CPU's and refuses, with the rebuild command,
before any GGUF reaches the library.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from edge_eval.errors import MissingDependencyError, UnsafeRuntimeError

__all__ = [
    "LLAMA_CPP_CMAKE_ARGS",
    "LLAMA_CPP_VERSION",
    "REBUILD_COMMAND",
    "cpu_features",
    "llama_build_features",
    "llama_cpp_problems",
    "load_llama_cpp",
]

LLAMA_CPP_VERSION = "0.3.36"
# The build `make llama-cpp` / tools/llama_cpp_wheel.py makes on x86-64: native code generation
# (AVX2, AVX-512, VNNI fast paths kept) with the AMX instructions compiled out. A test checks that
# this stays the tool's value.
LLAMA_CPP_CMAKE_ARGS = (
    "-DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF "
    "-DCMAKE_C_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16' "
    "-DCMAKE_CXX_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'"
)
REBUILD_COMMAND = (
    f'CMAKE_ARGS="{LLAMA_CPP_CMAKE_ARGS}" pip install --no-cache-dir --force-reinstall '
    f"--no-deps --no-binary llama-cpp-python llama-cpp-python=={LLAMA_CPP_VERSION}"
)
_REBUILD_HINT = (
    f"Rebuild llama-cpp-python for this CPU: `make llama-cpp` in an edge-eval checkout, or "
    f"{REBUILD_COMMAND}"
)

# The CPU features that matter for edge-eval's runtimes, as /proc/cpuinfo names them.
RELEVANT_CPU_FLAGS = (
    "sse3", "ssse3", "avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512vbmi", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
)  # fmt: skip
# A llama.cpp build feature (system-info name) and the CPU flag it executes.
_BUILD_NEEDS = {
    "SSE3": "sse3",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AVX_VNNI": "avx_vnni",
    "AMX_INT8": "amx_int8",
}
_FEATURE = re.compile(r"([A-Z0-9_]+)\s*=\s*(\d+)")


def cpu_features(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags (``/proc/cpuinfo`` on Linux; empty where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            if "pni" in flags:  # Linux calls SSE3 "pni"
                flags.add("sse3")
            return frozenset(flags)
    return frozenset()


def llama_build_features(system_info: str) -> dict[str, int]:
    """``{"AVX2": 1, "AMX_INT8": 1, ...}`` from llama.cpp's ``llama_print_system_info``."""
    return {name: int(value) for name, value in _FEATURE.findall(system_info)}


def llama_cpp_problems(system_info: str, cpu: Iterable[str]) -> list[str]:
    """Why this llama.cpp build would crash on this CPU (empty: safe).

    Only x86-64 feature names are compared; a build that reports none of them (another
    architecture) has no problem here.
    """
    features = llama_build_features(system_info)
    flags = frozenset(cpu)
    problems = []
    if features.get("AMX_INT8") and "amx_int8" in flags:
        problems.append(
            "this llama.cpp build has ggml's AMX backend, which crashes on this CPU (AMX) at "
            "the first decode of a quantized GGUF"
        )
    if flags:  # an unreadable CPU list cannot prove a missing instruction
        missing = sorted(
            name
            for name, flag in _BUILD_NEEDS.items()
            if features.get(name) and flag not in flags and name != "AMX_INT8"
        )
        if missing:
            problems.append(
                "this llama.cpp build uses instructions this CPU lacks "
                f"({', '.join(missing)}): it was compiled on another machine"
            )
    return problems


def system_info(llama_cpp: Any) -> str:
    info = llama_cpp.llama_print_system_info()
    return info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)


def check_llama_cpp(
    llama_cpp: Any, *, cpu: Iterable[str] | None = None, info: Callable[[Any], str] = system_info
) -> None:
    """Raise :class:`UnsafeRuntimeError` when ``llama_cpp`` would crash on this CPU."""
    problems = llama_cpp_problems(info(llama_cpp), cpu_features() if cpu is None else cpu)
    if problems:
        raise UnsafeRuntimeError("; ".join(problems), hint=_REBUILD_HINT)


@cache
def load_llama_cpp() -> Any:
    """Import llama_cpp, refusing a build that would crash on this machine.

    OpenMP's wait policy is left to the user (``OMP_WAIT_POLICY``): on an idle CPU the default
    decodes 3-4x faster than ``PASSIVE``; on a machine shared with other busy processes
    ``PASSIVE`` stops llama.cpp's waiting threads from taking their cores.
    """
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError("llama-cpp-python", "llm") from exc
    check_llama_cpp(llama_cpp)
    return llama_cpp


def machine_name() -> str:
    """The CPU's model name, e.g. for benchmark tables."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_summary() -> str:
    """One line for benchmark tables: model, cores, and the features that change speed."""
    import os

    flags = cpu_features()
    shown = [f for f in RELEVANT_CPU_FLAGS if f in flags and f not in {"sse3", "ssse3", "avx"}]
    level = "AMX" if "amx_int8" in flags else "AVX-512+VNNI" if "avx512_vnni" in flags else (
        "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "pre-AVX2"
    )  # fmt: skip
    return f"{machine_name()}, {os.cpu_count()} cores, {level} ({' '.join(shown) or 'none'})"
