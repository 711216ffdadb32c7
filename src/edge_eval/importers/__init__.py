"""Importers: convert labelled datasets into edge-eval's conversations JSON Lines."""

from __future__ import annotations

from edge_eval.importers.sense7 import Sense7Import, import_sense7

__all__ = ["Sense7Import", "import_sense7"]
