from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge_eval.reward.bundle import default_bundle_dir


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    """A private copy of the embedded default bundle, safe to tamper with."""
    target = tmp_path / "bundle"
    shutil.copytree(default_bundle_dir(), target)
    return target
