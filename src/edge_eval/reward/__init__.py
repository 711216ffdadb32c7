"""Reward models at run time: bundle format, ONNX scorer, GGUF judge, encoding.

Training (bundle build, distillation, preference, checkpoints) lives in :mod:`edge_eval.training`.

``load_reward_model(spec)`` turns a model spec into a :class:`RewardModel`:

- ``None``: the embedded default bundle shipped with the package;
- a folder: an ONNX reward bundle (``bundle.json`` + files, hashes verified);
- ``gguf:PATH``: a GGUF chat model used as an LLM judge (needs ``edge-eval[llm]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_eval.errors import ConfigError
from edge_eval.reward.base import RewardModel, TurnInput

__all__ = ["RewardModel", "TurnInput", "load_reward_model"]


def load_reward_model(
    spec: str | Path | None = None, *, device: str = "auto", batch_size: int = 32, **options: Any
) -> RewardModel:
    """Load the reward model a spec names (see the module docstring)."""
    text = str(spec) if spec is not None else None
    if text is not None and text.startswith("gguf:"):
        if device == "cuda":
            options.setdefault("n_gpu_layers", -1)
        from edge_eval.reward.judge import GGUFJudge

        return GGUFJudge(Path(text[len("gguf:") :]), **options)
    from edge_eval.reward.bundle import load_bundle
    from edge_eval.reward.onnx_scorer import OnnxRewardModel

    if text is not None and not Path(text).is_dir():
        raise ConfigError(
            "the reward model is neither a bundle folder nor gguf:PATH",
            hint="Pass --model BUNDLE_DIR or --model gguf:FILE.gguf, or leave it out.",
        )
    bundle = load_bundle(text)
    return OnnxRewardModel(bundle, device=device, batch_size=batch_size, **options)
