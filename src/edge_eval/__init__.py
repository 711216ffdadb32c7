"""edge-eval: privacy-preserving, on-device evaluation of empathy in conversational AI.

Everything the CLI does is a function here; heavy libraries load only when a stage needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "EdgeEvalError",
    "__version__",
    "load_conversations",
    "score",
]

from edge_eval.errors import EdgeEvalError

if TYPE_CHECKING:  # pragma: no cover
    from edge_eval.conversations import load_conversations
    from edge_eval.scoring import score

_LAZY = {
    "load_conversations": "edge_eval.conversations",
    "score": "edge_eval.scoring",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edge_eval' has no attribute {name!r}")
