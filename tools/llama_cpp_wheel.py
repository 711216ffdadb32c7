#!/usr/bin/env python3
"""Build and install llama-cpp-python the way edge-eval needs it on every x86-64 CPU.

    python tools/llama_cpp_wheel.py install [--python VENV_PYTHON]   # build once, then install
    python tools/llama_cpp_wheel.py key                              # print the build key
    python tools/llama_cpp_wheel.py cmake-args                       # print CMAKE_ARGS

Why: llama-cpp-python is a source-only package that compiles with the machine's native flags.
On a CPU with AMX (Sapphire Rapids and newer) that compiles in ggml's AMX backend, which
crashes on the first decode of any quantized GGUF (llama-cpp-python 0.3.36). The chosen build
keeps native code generation (AVX2, AVX-512, VNNI fast paths stay) and compiles the AMX
instructions out.

pip caches a built wheel by its version alone, whatever flags built it, and a native build from
another CPU can use instructions this one lacks. So this script never lets pip build or pick a
wheel: it keeps its own wheelhouse keyed by (version, CMAKE_ARGS, the CPU features that native
code generation sees), builds with pip's cache disabled when the key has no wheel yet, and
installs exactly that file.

Standard library only: it runs before the project is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

VERSION = "0.3.36"
# Compile the AMX instructions out of a native build (the ggml AMX backend is compiled only when
# the compiler defines __AMX_INT8__). GCC keeps an explicit -mno-* even after -march=native.
_NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
CMAKE_ARGS = (
    f"-DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF "
    f"-DCMAKE_C_FLAGS='{_NO_AMX}' -DCMAKE_CXX_FLAGS='{_NO_AMX}'"
)
# The flags that change what -march=native compiles: a wheel built where any differs is rebuilt.
_KEY_FLAGS = (
    "sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "bmi2",
    "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512_vnni", "avx512_bf16",
    "avx512vbmi", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
)  # fmt: skip
DEPENDENCIES = ("typing-extensions>=4.5.0", "numpy>=1.20.0", "diskcache>=5.6.1", "jinja2>=2.11.3")


def cpu_flags() -> list[str]:
    """The CPU features in _KEY_FLAGS that this machine reports."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            present = set(line.split(":", 1)[1].split())
            return [flag for flag in _KEY_FLAGS if flag in present]
    return []


def cmake_args() -> str:
    """CMAKE_ARGS for this machine: the AMX-free native build on x86-64, native elsewhere."""
    if platform.machine().lower() in {"x86_64", "amd64"}:
        return CMAKE_ARGS
    return "-DGGML_NATIVE=ON"


def build_key() -> str:
    """Short hash of what decides the built code: version, CMAKE_ARGS, compiler-visible CPU."""
    payload = json.dumps(
        {"version": VERSION, "cmake_args": cmake_args(), "machine": platform.machine(),
         "cpu_flags": cpu_flags()},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def wheelhouse() -> Path:
    root = os.environ.get("EDGE_EVAL_WHEELHOUSE") or str(
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edge-eval" / "wheels"
    )
    return Path(root) / f"llama-cpp-python-{VERSION}-{build_key()}"


def _built_wheel(folder: Path) -> Path | None:
    wheels = sorted(folder.glob("llama_cpp_python-*.whl")) if folder.is_dir() else []
    return wheels[0] if wheels else None


def build(python: str) -> Path:
    """Return this machine's wheel, building it (pip cache off) when the key has none yet."""
    target = wheelhouse()
    wheel = _built_wheel(target)
    if wheel is not None:
        print(f"llama-cpp-python {VERSION}: reusing {wheel.name} (build key {build_key()})")
        return wheel
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    env = dict(os.environ, CMAKE_ARGS=cmake_args())
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    print(f"llama-cpp-python {VERSION}: compiling (a few minutes) with CMAKE_ARGS={cmake_args()}")
    command = [python, "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "--no-binary",
               "llama-cpp-python", f"llama-cpp-python=={VERSION}", "-w", str(staging)]  # fmt: skip
    log = staging / "build.log"
    with log.open("w") as handle:
        status = subprocess.run(
            command, env=env, stdout=handle, stderr=subprocess.STDOUT
        ).returncode
    wheel = _built_wheel(staging)
    if status != 0 or wheel is None:
        sys.exit(f"llama-cpp-python build failed (exit {status}); see {log}")
    info = {"version": VERSION, "cmake_args": cmake_args(), "cpu_flags": cpu_flags(),
            "machine": platform.machine(), "key": build_key()}  # fmt: skip
    (staging / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    try:
        staging.rename(target)  # one rename: the key's folder appears complete or not at all
    except OSError:  # another build won the race: use its wheel
        shutil.rmtree(staging, ignore_errors=True)
    wheel = _built_wheel(target)
    assert wheel is not None
    return wheel


def install(python: str) -> None:
    wheel = build(python)
    pip = [python, "-m", "pip", "install", "-q", "--no-cache-dir"]
    subprocess.run([*pip, *DEPENDENCIES], check=True)
    # --force-reinstall: a llama-cpp-python of the same version built another way may be there.
    subprocess.run([*pip, "--no-deps", "--force-reinstall", str(wheel)], check=True)
    print(f"llama-cpp-python {VERSION}: installed {wheel} ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["install", "build", "key", "cmake-args", "command"])
    parser.add_argument("--python", default=sys.executable, help="the venv's python")
    args = parser.parse_args()
    if args.action == "install":
        install(args.python)
    elif args.action == "build":
        print(build(args.python))
    elif args.action == "key":
        print(build_key())
    elif args.action == "cmake-args":
        print(cmake_args())
    else:  # the plain pip command, for people who don't use this script
        print(f'CMAKE_ARGS="{cmake_args()}" pip install --no-cache-dir --force-reinstall '
              f"--no-deps --no-binary llama-cpp-python llama-cpp-python=={VERSION}")  # fmt: skip


if __name__ == "__main__":
    main()
