"""Second family: Gemma-3-270M (Q4_K_M GGUF, sentencepiece vocabulary of 262,144 tokens).

Gemma-3's converter does not reorder q/k rows (only Llama's does), so deltas go in as they are;
the merge must keep its 262k-token vocabulary, scores and mixed quant types intact.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from edge_eval.export.gguf_names import GGUFArchitecture, QKLayout

if importlib.util.find_spec("llama_cpp") is None:  # find, not import: see import_llama_cpp
    pytest.skip("llama-cpp-python is not installed", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gemma_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge_eval.errors import EdgeEvalError
    from edge_eval.export.models import find_gemma3_270m_gguf

    out = tmp_path_factory.mktemp("gemma") / "gemma-3-270m-q4_k_m.gguf"
    try:
        return find_gemma3_270m_gguf(out)
    except EdgeEvalError as exc:
        pytest.skip(f"Gemma-3-270M not available: {exc.message}")


@pytest.fixture(scope="module")
def gemma_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded peft-format LoRA (r=4) on layers 0 and 17 of Gemma-3-270M, written by hand."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(7)
    shapes = {  # projection: (out, in)
        "self_attn.q_proj": (1024, 640),
        "self_attn.k_proj": (256, 640),
        "self_attn.v_proj": (256, 640),
        "self_attn.o_proj": (640, 1024),
        "mlp.down_proj": (640, 2048),
    }
    tensors = {}
    for layer in (0, 17):
        for proj, (n_out, n_in) in shapes.items():
            key = f"base_model.model.model.layers.{layer}.{proj}"
            tensors[f"{key}.lora_A.weight"] = (rng.normal(size=(4, n_in)) / n_in**0.5).astype(
                np.float32
            )
            tensors[f"{key}.lora_B.weight"] = (rng.normal(size=(n_out, 4)) * 0.05).astype(
                np.float32
            )
    out = tmp_path_factory.mktemp("gemma_lora")
    save_file(tensors, str(out / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"]}
    (out / "adapter_config.json").write_text(json.dumps(config))
    return out


@pytest.fixture(scope="module")
def short_probes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short probes (logits over 262k tokens are large), also exercising --probes."""
    path = tmp_path_factory.mktemp("probes") / "p.jsonl"
    lines = [
        {"messages": [{"role": "user", "content": "I lost my job today 😞 and rent is due 1st."}]},
        {"messages": [{"role": "user", "content": "Fix: 'their going at 10:30'"}]},
    ]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    return path


def test_gemma3_keeps_qk_rows_as_they_are(gemma_gguf: Path) -> None:
    from edge_eval.export.lora import gguf_field_values, open_gguf

    arch = GGUFArchitecture.from_fields(gguf_field_values(open_gguf(gemma_gguf)))
    assert (arch.name, arch.head_count, arch.head_count_kv) == ("gemma3", 4, 1)
    assert arch.qk_layout is QKLayout.AS_IS
    rows = np.arange(1024 * 2, dtype=np.float32).reshape(1024, 2)
    assert arch.rows_to_gguf("q_proj", rows) is rows


def test_gemma3_merge_and_runtime_adapter_pass_their_gates(
    gemma_gguf: Path, gemma_adapter: Path, short_probes: Path, tmp_path: Path
) -> None:
    import gguf

    from edge_eval.export.lora import export_lora
    from edge_eval.export.merge import export_merge, raw_field_value

    merged = export_merge(
        gemma_gguf, gemma_adapter, tmp_path / "merged.gguf", probes_path=short_probes
    )
    manifest = json.loads(merged.manifest_path.read_text())
    assert manifest["extra"]["gate"] == "gguf-quantized-base"
    assert merged.figures.top1_agreement >= 0.9
    assert manifest["extra"]["architecture"] == "gemma3"
    before, after = gguf.GGUFReader(gemma_gguf), gguf.GGUFReader(merged.path)
    for key in (k for k in before.fields if not k.startswith("GGUF.")):
        assert raw_field_value(after.fields[key]) == raw_field_value(before.fields[key]), key
    types_before = {t.name: t.tensor_type.name for t in before.tensors}
    types_after = {t.name: t.tensor_type.name for t in after.tensors}
    assert types_after["blk.0.attn_q.weight"] == "F16"
    assert types_after["blk.1.attn_q.weight"] == types_before["blk.1.attn_q.weight"] == "Q5_0"

    lora = export_lora(gemma_adapter, gemma_gguf, tmp_path / "a.gguf", probes_path=short_probes)
    figures = lora.figures
    assert json.loads(lora.manifest_path.read_text())["extra"]["gate"] == "gguf-quantized-base"
    assert figures.n_sequences == 2 and figures.top1_agreement >= 0.9
