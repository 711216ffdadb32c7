"""The reward-model bundle: a folder with a model file, its tokenizer and ``bundle.json``.

``bundle.json`` (format ``edge-eval.reward-bundle``, version 1)::

    {"format": "edge-eval.reward-bundle", "format_version": 1,
     "name": "minilm-l6-empathy", "kind": "onnx-regression",
     "model": "model.onnx", "tokenizer": "tokenizer.json", "prototypes": "prototypes.npy",
     "output_scale": [1, 5],
     "calibration": {"kind": "linear", "slope": 1.0, "intercept": 0.0},
     "input_template": {"kind": "context-response", "max_length": 256,
                        "max_response_tokens": 160, "role_prefixes": {...},
                        "context_truncation": "left"},
     "clusters": ["..."],            # rows of prototypes.npy (recogniser)
     "files": {"model.onnx": "<sha256>", ...},
     "training": {...}, "validation": {...}}

Every file named in ``files`` is verified by SHA-256 at load; a changed or missing file is
refused. The default bundle ships inside the package (``edge_eval/reward/default``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edge_eval._io import sha256_file
from edge_eval.errors import ArtifactError

__all__ = [
    "BUNDLE_FORMAT",
    "BundleArtifact",
    "InputTemplate",
    "default_bundle_dir",
    "files_digest",
    "load_bundle",
    "read_metadata",
    "scorer_validity",
    "sha256_file",
    "verify_files",
    "write_bundle_json",
]

BUNDLE_FORMAT = "edge-eval.reward-bundle"
KINDS = ("onnx-regression", "onnx-preference")
_KEYS = (
    "format",
    "format_version",
    "name",
    "kind",
    "model",
    "tokenizer",
    "prototypes",
    "output_scale",
    "calibration",
    "input_template",
    "clusters",
    "files",
    "training",
    "validation",
    "embedding_dim",
    "head",
)


def default_bundle_dir() -> Path:
    """The embedded default bundle's folder inside the installed package."""
    return Path(str(resources.files("edge_eval.reward").joinpath("default")))


def files_digest(files: dict[str, str]) -> str:
    """One digest over a table of file hashes (what a manifest records as the model)."""
    joined = "\n".join(f"{k}:{v}" for k, v in sorted(files.items()))
    return hashlib.sha256(joined.encode()).hexdigest()


def read_metadata(
    meta_path: Path, *, label: str, fmt: str, keys: tuple[str, ...], hint: str
) -> dict[str, Any]:
    """A model folder's metadata JSON (``bundle.json``, ``reward.json``), its header checked.

    Checked: the file exists and is JSON, ``format`` is ``fmt``, no key outside ``keys``,
    ``format_version`` 1 and a known ``kind``. Errors name the folder by ``label`` only.
    """
    name = meta_path.name
    if not meta_path.is_file():
        raise ArtifactError(f"{label}: no {name} found", hint=hint)
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{label}: {name} is not valid JSON") from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise ArtifactError(f"{label}: {name} is not an {fmt} file")
    unknown = sorted(set(meta) - set(keys))
    if unknown:
        raise ArtifactError(f"{label}: {name} has unknown key(s) {', '.join(unknown)}")
    if meta.get("format_version") != 1:
        raise ArtifactError(f"{label}: unsupported format_version {meta.get('format_version')!r}")
    if meta.get("kind") not in KINDS:
        raise ArtifactError(
            f"{label}: unknown kind {meta.get('kind')!r}; known: {', '.join(KINDS)}"
        )
    return meta


def verify_files(folder: Path, files: dict[str, str], *, label: str, listed_in: str) -> None:
    """Every file of the table exists under ``folder`` with its SHA-256, or ArtifactError."""
    for name, expected in sorted(files.items()):
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ArtifactError(f"{label}: file entry {name!r} must be a plain relative name")
        file = folder / name
        if not file.is_file():
            raise ArtifactError(f"{label}: file {name} is missing")
        if sha256_file(file) != expected:
            raise ArtifactError(
                f"{label}: file {name} does not match its SHA-256 in {listed_in} "
                "(changed or corrupted); refusing to load it"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTemplate:
    """How a turn and its context become model input.

    The input is ``[CLS] context [SEP] response [SEP]``: the response is cut to
    ``max_response_tokens``, then the context fills what is left of ``max_length`` from its end
    (oldest tokens dropped first). Each context message is prefixed by its role's prefix.
    """

    kind: str = "context-response"
    max_length: int = 256
    max_response_tokens: int = 160
    role_prefixes: dict[str, str] = field(
        default_factory=lambda: {"user": "user:", "assistant": "assistant:"}
    )
    context_truncation: str = "left"

    def __post_init__(self) -> None:
        if self.kind != "context-response" or self.context_truncation != "left":
            raise ArtifactError(f"unsupported input template {self.kind!r}")
        if not 8 <= self.max_response_tokens < self.max_length <= 512:
            raise ArtifactError("input template: need 8 <= max_response_tokens < max_length <= 512")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "max_length": self.max_length,
            "max_response_tokens": self.max_response_tokens,
            "role_prefixes": dict(self.role_prefixes),
            "context_truncation": self.context_truncation,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleArtifact:
    """A verified reward bundle on disk."""

    path: Path
    name: str
    kind: str
    model_file: Path
    tokenizer_file: Path
    prototypes_file: Path | None
    clusters: tuple[str, ...]
    output_scale: tuple[float, float]
    calibration: dict[str, Any]
    template: InputTemplate
    files: dict[str, str]
    metadata: dict[str, Any]

    @property
    def sha256(self) -> str:
        """A digest over the bundle's file hashes (what the manifest records as the model)."""
        return files_digest(self.files)


def load_bundle(path: Path | str | None = None, *, verify: bool = True) -> BundleArtifact:
    """Read ``bundle.json`` and verify every listed file's SHA-256."""
    folder = Path(path) if path is not None else default_bundle_dir()
    label = "the default bundle" if path is None else f"bundle {folder.name}"
    meta = read_metadata(
        folder / "bundle.json",
        label=label,
        fmt=BUNDLE_FORMAT,
        keys=_KEYS,
        hint="Pass a folder made by `edge-eval distill` or `make bundle`.",
    )
    files: dict[str, str] = dict(meta.get("files", {}))
    for role in ("model", "tokenizer"):
        if meta.get(role) not in files:
            raise ArtifactError(f"{label}: the {role} file is not listed in 'files' with a hash")
    if verify:
        verify_files(folder, files, label=label, listed_in="bundle.json")
    scale = meta.get("output_scale", [1, 5])
    prototypes = meta.get("prototypes")
    return BundleArtifact(
        path=folder,
        name=str(meta.get("name", folder.name)),
        kind=meta["kind"],
        model_file=folder / meta["model"],
        tokenizer_file=folder / meta["tokenizer"],
        prototypes_file=(folder / prototypes) if prototypes else None,
        clusters=tuple(meta.get("clusters", ())),
        output_scale=(float(scale[0]), float(scale[1])),
        calibration=dict(
            meta.get("calibration", {"kind": "linear", "slope": 1.0, "intercept": 0.0})
        ),
        template=InputTemplate(**meta.get("input_template", {})),
        files=files,
        metadata=meta,
    )


def write_bundle_json(folder: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Hash the bundle's files, add the ``files`` table and write ``bundle.json``."""
    from edge_eval._io import atomic_write_text

    names = [meta["model"], meta["tokenizer"]]
    names += [meta[key] for key in ("prototypes", "head") if meta.get(key)]
    full = dict(meta)
    full["format"] = BUNDLE_FORMAT
    full["format_version"] = 1
    full["files"] = {name: sha256_file(folder / name) for name in names}
    atomic_write_text(folder / "bundle.json", json.dumps(full, indent=2, sort_keys=True) + "\n")
    return full


def scorer_validity(meta: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """The bundle's measured agreement with people, as a report may carry it.

    Reads ``validation.human_agreement.<set>`` of ``bundle.json`` and keeps only allowlisted
    sets, levels and protocols (:data:`edge_eval.report.schema.VALIDITY_SETS`, ...) and the
    numbers n, Spearman rho with its interval, and bias: never free text from the bundle.
    An entry that does not fit is left out.
    """
    from edge_eval.report.schema import VALIDITY_LEVELS, VALIDITY_PROTOCOLS, VALIDITY_SETS

    validation = meta.get("validation")
    agreement = validation.get("human_agreement") if isinstance(validation, Mapping) else None
    if not isinstance(agreement, Mapping):
        return ()

    def number(value: Any, low: float, high: float) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        value = float(value)
        return round(value, 6) if math.isfinite(value) and low <= value <= high else None

    out = []
    for name in VALIDITY_SETS:
        entry = agreement.get(name)
        if not isinstance(entry, Mapping):
            continue
        n = entry.get("n")
        ci = entry.get("spearman_ci")
        ci = ci if isinstance(ci, list | tuple) and len(ci) == 2 else (None, None)
        if (
            entry.get("level") not in VALIDITY_LEVELS
            or entry.get("protocol") not in VALIDITY_PROTOCOLS
            or isinstance(n, bool)
            or not isinstance(n, int)
            or n < 1
        ):
            continue
        out.append(
            {
                "set": name,
                "level": entry["level"],
                "protocol": entry["protocol"],
                "n": n,
                "spearman": number(entry.get("spearman"), -1.0, 1.0),
                "low": number(ci[0], -1.0, 1.0),
                "high": number(ci[1], -1.0, 1.0),
                "bias": number(entry.get("bias"), -4.0, 4.0),
            }
        )
    return tuple(out)
