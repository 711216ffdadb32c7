"""Empathetic expert adapters: synthesize preference pairs, train one LoRA per task cluster
(DPO), route by task, and compare baseline / system prompt / adapter over turns.

    synth:   simulated users (scenarios.toml) ─► steered chosen / rejected replies ─► pairs.jsonl
    train:   pairs ─► DPO LoRA on the dequantized GGUF base ─► peft + gated GGUF adapter
    route:   first user turn ─► recogniser ─► that cluster's GGUF adapter in llama.cpp
    compare: same users for every system ─► score every turn ─► report per system, per turn

torch, peft and llama_cpp load only inside the stage that needs them.
"""

from __future__ import annotations

from edge_eval.adapters.compare import (
    CompareConfig,
    CompareResult,
    System,
    compare_systems,
    write_compare_outputs,
)
from edge_eval.adapters.generate import ChatGenerator, GenerationConfig
from edge_eval.adapters.route import (
    SHIPPED_ADAPTERS_DIR,
    AdapterRouter,
    RoutedReply,
    TaskRouter,
    find_adapters,
    generate_routed_reply,
)
from edge_eval.adapters.scenarios import ScenarioSet, Split, load_scenarios
from edge_eval.adapters.synth import PreferencePair, SynthConfig, SynthResult, synthesize_pairs
from edge_eval.adapters.train import AdapterArtifact, AdapterTrainConfig, train_adapter

__all__ = [
    "SHIPPED_ADAPTERS_DIR",
    "AdapterArtifact",
    "AdapterRouter",
    "AdapterTrainConfig",
    "ChatGenerator",
    "CompareConfig",
    "CompareResult",
    "GenerationConfig",
    "PreferencePair",
    "RoutedReply",
    "ScenarioSet",
    "Split",
    "SynthConfig",
    "SynthResult",
    "System",
    "TaskRouter",
    "compare_systems",
    "find_adapters",
    "generate_routed_reply",
    "load_scenarios",
    "synthesize_pairs",
    "train_adapter",
    "write_compare_outputs",
]
