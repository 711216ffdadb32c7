"""The run manifest: what was used to make a report, by hash, and nothing about the inputs' content.

It records SHA-256 of every input file, model file and profile; tool and library versions; the
execution providers actually used; seed and privacy parameters; whether the network guard was
on and what it blocked; and the hash of every output written beside it. No path, no file name
of an input, no count of input conversations (a count could help undo suppression).
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from edge_eval import __version__

__all__ = ["MANIFEST_KIND", "RunManifest", "library_versions"]

MANIFEST_KIND = "edge-eval.manifest"
_LIBRARIES = ("numpy", "onnxruntime", "onnxruntime-gpu", "tokenizers", "click", "llama-cpp-python")


def library_versions(names: Sequence[str] = _LIBRARIES) -> dict[str, str]:
    """Installed versions of the named distributions (those not installed are left out)."""
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class RunManifest:
    """What a `score` run used. Every string here is a hash, a version, or a fixed label.

    Attributes:
        command: the stage, e.g. ``"score"``.
        input_sha256: SHA-256 of each input file, in the order given.
        model: the reward model's own description (kind, bundle hash, file hashes, providers).
        profile_sha256: SHA-256 of the task profile's TOML.
        device_requested: ``auto``, ``cpu`` or ``cuda``.
        providers: onnxruntime execution providers actually used.
        seed: a seed the run's figures depend on (None: none; report intervals need none).
        privacy: privacy parameters (k, complementary suppression, DP).
        network_guard: ``{"active": bool, "blocked_attempts": int}``.
        baseline_sha256: SHA-256 of the baseline report, if one was compared.
    """

    command: str
    input_sha256: tuple[str, ...]
    model: Mapping[str, Any]
    profile_sha256: str
    device_requested: str
    providers: tuple[str, ...]
    seed: int | None
    privacy: Mapping[str, Any]
    network_guard: Mapping[str, Any]
    baseline_sha256: str | None = None

    def to_dict(self, outputs: Mapping[str, bytes]) -> dict[str, Any]:
        """The manifest as JSON-ready data, with the SHA-256 of each output's bytes."""
        return {
            "schema_version": 1,
            "kind": MANIFEST_KIND,
            "command": self.command,
            "tool": {"edge_eval": __version__, "python": platform.python_version()},
            "libraries": library_versions(),
            "inputs": [{"sha256": h} for h in self.input_sha256],
            "model": dict(self.model),
            "profile": {"sha256": self.profile_sha256},
            "execution": {
                "device_requested": self.device_requested,
                "providers": list(self.providers),
            },
            "seed": self.seed,
            "privacy": dict(self.privacy),
            "network_guard": dict(self.network_guard),
            "baseline": None if self.baseline_sha256 is None else {"sha256": self.baseline_sha256},
            "outputs": {
                name: hashlib.sha256(data).hexdigest() for name, data in sorted(outputs.items())
            },
        }

    def render(self, outputs: Mapping[str, bytes]) -> str:
        return json.dumps(self.to_dict(outputs), indent=2, sort_keys=False, allow_nan=False) + "\n"
