"""``manifest.json`` beside an exported artifact: hashes, versions, reference, figures.

The manifest never holds an input path or probe text: files are named by their base name and
SHA-256, the probe set by its SHA-256.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from edge_eval import __version__
from edge_eval._io import atomic_write_text, sha256_file
from edge_eval.export.fidelity import GateThresholds, figures_to_dict

__all__ = [
    "MANIFEST_NAME",
    "GGUFArtifact",
    "MANIFEST_SCHEMA_VERSION",
    "library_versions",
    "manifest_path_for",
    "publish_gguf",
    "sha256_file",
    "write_artifact_manifest",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1
_LIBRARIES = (
    "gguf",
    "llama_cpp_python",
    "onnxruntime",
    "onnx",
    "torch",
    "transformers",
    "optimum",
    "optimum-onnx",
    "peft",
    "numpy",
)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that took part, from package metadata (nothing is imported)."""
    versions = {"edge-eval": __version__, "python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name.replace("_", "-")] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _file_entries(files: Sequence[Path] | Mapping[str, Path]) -> list[dict[str, Any]]:
    items = files.items() if isinstance(files, Mapping) else ((Path(p).name, p) for p in files)
    entries = []
    for name, path in items:
        path = Path(path)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                entries.append(
                    {
                        "name": f"{name}/{child.relative_to(path).as_posix()}",
                        "sha256": sha256_file(child),
                        "bytes": child.stat().st_size,
                    }
                )
        else:
            entries.append(
                {"name": name, "sha256": sha256_file(path), "bytes": path.stat().st_size}
            )
    return entries


def write_artifact_manifest(
    out_path: Path,
    *,
    artifact_files: Sequence[Path] | Mapping[str, Path],
    reference_files: Sequence[Path] | Mapping[str, Path],
    probe_set_sha256: str | None,
    figures: Any,
    thresholds: GateThresholds | None,
    checked: bool,
    command: str,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``manifest.json`` (atomically) and return its path.

    ``artifact_files`` are the files produced, ``reference_files`` what they were checked
    against (or built from); either as paths (named by base name) or a name -> path mapping.
    ``figures`` is a fidelity dataclass (or mapping, or None when the gate was skipped).
    """
    manifest: dict[str, Any] = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "command": command,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "artifact": _file_entries(artifact_files),
        "reference": _file_entries(reference_files),
        "probe_set_sha256": probe_set_sha256,
        "fidelity": {
            "checked": checked,
            "figures": figures_to_dict(figures) if checked else None,
            "thresholds": thresholds.to_dict() if thresholds is not None else None,
        },
        "versions": library_versions(),
        "extra": dict(extra or {}),
    }
    out_path = Path(out_path)
    atomic_write_text(out_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out_path


@dataclass(frozen=True, slots=True, kw_only=True)
class GGUFArtifact:
    """A GGUF file written by an export or quantize stage, with its manifest."""

    path: Path
    """The artifact."""
    sha256: str
    """SHA-256 of its bytes."""
    manifest_path: Path
    """``<artifact>.manifest.json`` beside it."""
    checked: bool
    """Whether the fidelity gate ran (``False`` with ``--no-check``)."""
    figures: Any
    """The fidelity figures (``LMFidelity``), or None when not checked."""


def manifest_path_for(artifact: Path) -> Path:
    """Where the manifest of a single-file artifact goes: ``<name>.manifest.json``."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".manifest.json")


def publish_gguf(
    tmp: Path,
    out_path: Path,
    *,
    reference_files: Sequence[Path] | Mapping[str, Path],
    probe_set_sha256: str | None,
    figures: Any,
    thresholds: GateThresholds | None,
    checked: bool,
    command: str,
    extra: Mapping[str, Any] | None = None,
) -> GGUFArtifact:
    """Move a gated temporary file to ``out_path`` and write its manifest beside it."""
    out_path = Path(out_path)
    digest = sha256_file(tmp)
    os.replace(tmp, out_path)
    manifest = write_artifact_manifest(
        manifest_path_for(out_path),
        artifact_files={out_path.name: out_path},
        reference_files=reference_files,
        probe_set_sha256=probe_set_sha256,
        figures=figures,
        thresholds=thresholds,
        checked=checked,
        command=command,
        extra=extra,
    )
    return GGUFArtifact(
        path=out_path, sha256=digest, manifest_path=manifest, checked=checked, figures=figures
    )
