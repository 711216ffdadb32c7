"""Fixtures of the adapter tests: the tiny seeded Llama + GGUF of tests/export/conftest.py
(re-exported, not copied), pairs for it, and a tiny adapters folder."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_edge_eval_export_fixtures", Path(__file__).parents[1] / "export" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_export = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_export)

smollm2_gguf_path = _export.smollm2_gguf_path
smollm2_vocab = _export.smollm2_vocab
tiny_model_state = _export.tiny_model_state
tiny_hf_dir = _export.tiny_hf_dir
tiny_gguf_f32 = _export.tiny_gguf_f32
tiny_gguf_f16 = _export.tiny_gguf_f16
tiny_lora_dir = _export.tiny_lora_dir

CLUSTERS = (
    "distressing_social_personal",
    "learning_skills",
    "work_career_self_improvement",
    "work_assignment_writing",
)


def write_pairs(path: Path, cluster: str = "work_assignment_writing") -> Path:
    """Four hand-written preference pairs (the tiny model only has to tell them apart)."""
    system = {"role": "system", "content": "You are a helpful assistant."}
    rows = [
        ("Fix: their going home.", "They're going home.", "Oh no, I feel so sad for you!"),
        ("Shorten: in order to go.", "To go.", "You are so brave, I am moved to tears."),
        ("Title for a sales slide?", "Quarterly sales.", "What a wonderful, emotional question!"),
        ("Proofread: the datas shows.", "The data show.", "I hug you, my dear friend, always."),
    ]
    with path.open("w", encoding="utf-8") as handle:
        for i, (user, chosen, rejected) in enumerate(rows):
            record = {
                "context": [system, {"role": "user", "content": user}],
                "chosen": chosen,
                "rejected": rejected,
                "task": cluster,
                "conversation": i,
                "turn": 0,
            }
            handle.write(json.dumps(record) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_adapter_gguf(
    tmp_path_factory: pytest.TempPathFactory, tiny_lora_dir: Path, tiny_gguf_f32: Path
) -> Path:
    """The seeded tiny LoRA as a GGUF adapter for the tiny f32 base."""
    from edge_eval.export.lora import export_lora

    out = tmp_path_factory.mktemp("tiny_adapter") / "adapter.gguf"
    return export_lora(tiny_lora_dir, tiny_gguf_f32, out, check=False).path


@pytest.fixture(scope="session")
def tiny_adapters_dir(tmp_path_factory: pytest.TempPathFactory, tiny_adapter_gguf: Path) -> Path:
    """An adapters folder with the tiny adapter under every cluster's name."""
    root = tmp_path_factory.mktemp("adapters")
    for cluster in CLUSTERS:
        (root / cluster).mkdir()
        shutil.copy(tiny_adapter_gguf, root / cluster / "adapter.gguf")
    return root
