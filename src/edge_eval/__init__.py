"""edge-eval: privacy-preserving, on-device evaluation of empathy in conversational AI.

Everything the CLI does is a function here; heavy libraries load only when a stage needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "DPConfig",
    "EdgeEvalError",
    "ScoreConfig",
    "ScorePartial",
    "__version__",
    "audit_results",
    "calibrate_profile",
    "compare_systems",
    "distill_reward_model",
    "export_lora",
    "export_merge",
    "export_onnx",
    "export_reward_onnx",
    "finalize_report",
    "generate_routed_reply",
    "import_sense7",
    "init_keys",
    "load_conversations",
    "load_profile",
    "load_reward_checkpoint",
    "load_reward_model",
    "quantize_gguf",
    "quantize_onnx",
    "save_reward_checkpoint",
    "score",
    "score_federated_simulation",
    "score_sharded",
    "synthesize_pairs",
    "train_adapter",
    "train_preference_model",
    "validate_conversations",
    "validate_scores",
    "write_score_outputs",
]

from edge_eval.errors import EdgeEvalError

if TYPE_CHECKING:  # pragma: no cover
    from edge_eval.adapters import (
        compare_systems,
        generate_routed_reply,
        synthesize_pairs,
        train_adapter,
    )
    from edge_eval.conversations import load_conversations
    from edge_eval.engines import score_sharded
    from edge_eval.engines.federated import score_federated_simulation
    from edge_eval.export.lora import export_lora
    from edge_eval.export.merge import export_merge
    from edge_eval.export.onnx import export_onnx
    from edge_eval.export.reward import export_reward_onnx
    from edge_eval.importers import import_sense7
    from edge_eval.partial import ScorePartial
    from edge_eval.privacy.audit import audit_results
    from edge_eval.privacy.dp import DPConfig
    from edge_eval.privacy.signing import init_keys
    from edge_eval.quantize.gguf import quantize_gguf
    from edge_eval.quantize.onnx import quantize_onnx
    from edge_eval.report import finalize_report
    from edge_eval.reward import load_reward_model
    from edge_eval.scoring import ScoreConfig, score, write_score_outputs
    from edge_eval.tasks.calibrate import calibrate_profile
    from edge_eval.tasks.profile import load_profile
    from edge_eval.training.checkpoint import load_reward_checkpoint, save_reward_checkpoint
    from edge_eval.training.distill import distill_reward_model
    from edge_eval.training.preference import train_preference_model
    from edge_eval.validation import validate_conversations, validate_scores

_LAZY = {
    "compare_systems": "edge_eval.adapters",
    "generate_routed_reply": "edge_eval.adapters",
    "synthesize_pairs": "edge_eval.adapters",
    "train_adapter": "edge_eval.adapters",
    "DPConfig": "edge_eval.privacy.dp",
    "audit_results": "edge_eval.privacy.audit",
    "init_keys": "edge_eval.privacy.signing",
    "ScoreConfig": "edge_eval.scoring",
    "ScorePartial": "edge_eval.partial",
    "finalize_report": "edge_eval.report",
    "score_federated_simulation": "edge_eval.engines.federated",
    "score_sharded": "edge_eval.engines",
    "calibrate_profile": "edge_eval.tasks.calibrate",
    "distill_reward_model": "edge_eval.training.distill",
    "export_lora": "edge_eval.export.lora",
    "export_merge": "edge_eval.export.merge",
    "export_onnx": "edge_eval.export.onnx",
    "export_reward_onnx": "edge_eval.export.reward",
    "import_sense7": "edge_eval.importers",
    "load_conversations": "edge_eval.conversations",
    "load_profile": "edge_eval.tasks.profile",
    "load_reward_checkpoint": "edge_eval.training.checkpoint",
    "load_reward_model": "edge_eval.reward",
    "quantize_gguf": "edge_eval.quantize.gguf",
    "quantize_onnx": "edge_eval.quantize.onnx",
    "save_reward_checkpoint": "edge_eval.training.checkpoint",
    "score": "edge_eval.scoring",
    "train_preference_model": "edge_eval.training.preference",
    "validate_conversations": "edge_eval.validation",
    "validate_scores": "edge_eval.validation",
    "write_score_outputs": "edge_eval.scoring",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edge_eval' has no attribute {name!r}")
