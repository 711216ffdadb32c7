"""`export merge` on the tiny model: weights, metadata, refusals (llama.cpp-free parts)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_eval.errors import ArtifactError, ExportError
from edge_eval.export.gguf_names import permute_qk_rows, unpermute_qk_rows
from edge_eval.export.lora import read_peft_adapter
from edge_eval.export.merge import merge_lora_gguf, raw_field_value

gguf = pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def peft_merged_state(tiny_hf_dir: Path, tiny_lora_dir: Path) -> dict[str, np.ndarray]:
    """peft's own merge_and_unload of the tiny adapter: the torch reference weights."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_hf_dir, dtype=torch.float32)
    merged = peft.PeftModel.from_pretrained(model, tiny_lora_dir).merge_and_unload()
    return {k: v.detach().numpy().copy() for k, v in merged.state_dict().items()}


def _tensors(path: Path) -> dict[str, np.ndarray]:
    from gguf.quants import dequantize

    reader = gguf.GGUFReader(path)
    out = {}
    for t in reader.tensors:
        shape = tuple(int(s) for s in reversed(t.shape))
        out[t.name] = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
    return out


def test_permutation_round_trips() -> None:
    rows = np.arange(32 * 3, dtype=np.float32).reshape(32, 3)
    for heads, kv in ((4, 4), (4, 2), (2, 1)):
        permuted = permute_qk_rows(rows, heads, kv)
        assert not np.array_equal(permuted, rows)
        np.testing.assert_array_equal(unpermute_qk_rows(permuted, heads, kv), rows)


def test_merged_weights_match_peft(
    tiny_gguf_f32: Path,
    tiny_lora_dir: Path,
    peft_merged_state: dict[str, np.ndarray],
    tmp_path: Path,
) -> None:
    out = merge_lora_gguf(tiny_gguf_f32, tiny_lora_dir, tmp_path / "m.gguf", outtype="f32")
    merged = _tensors(out)
    base = _tensors(tiny_gguf_f32)
    for layer in range(2):
        for hf, name, heads in (
            ("self_attn.q_proj", "attn_q", (4, 4)),
            ("self_attn.k_proj", "attn_k", (4, 2)),
            ("self_attn.v_proj", "attn_v", None),
            ("mlp.down_proj", "ffn_down", None),
        ):
            got = merged[f"blk.{layer}.{name}.weight"]
            if heads is not None:
                got = unpermute_qk_rows(got, *heads)
            want = peft_merged_state[f"model.layers.{layer}.{hf}.weight"]
            np.testing.assert_allclose(got, want, atol=2e-6)
            assert not np.allclose(base[f"blk.{layer}.{name}.weight"], got, atol=1e-3)
    np.testing.assert_array_equal(merged["token_embd.weight"], base["token_embd.weight"])
    np.testing.assert_array_equal(merged["output_norm.weight"], base["output_norm.weight"])


def test_merge_keeps_every_metadata_key_byte_for_byte(
    tiny_gguf_f16: Path, tiny_lora_dir: Path, tmp_path: Path
) -> None:
    out = merge_lora_gguf(tiny_gguf_f16, tiny_lora_dir, tmp_path / "m.gguf", outtype="f16")
    before = gguf.GGUFReader(tiny_gguf_f16)
    after = gguf.GGUFReader(out)
    keys_before = [k for k in before.fields if not k.startswith("GGUF.")]
    keys_after = [k for k in after.fields if not k.startswith("GGUF.")]
    assert keys_after == keys_before
    for key in keys_before:
        assert raw_field_value(after.fields[key]) == raw_field_value(before.fields[key]), key
    assert [t.name for t in after.tensors] == [t.name for t in before.tensors]
    types = {t.name: t.tensor_type.name for t in after.tensors}
    assert types["blk.0.attn_q.weight"] == "F16"
    assert types["blk.0.attn_norm.weight"] == "F32"


def test_merge_into_quantized_base_copies_untouched_blocks_raw(
    smollm2_gguf_path: Path, make_tiny_lora, tmp_path: Path
) -> None:
    """On the real Q4_1 SmolLM2 file (metadata only needs reading) untouched quantized tensors
    are copied byte for byte; an adapter for another model is refused naming its modules."""
    adapter = make_tiny_lora("q_only", targets=("q_proj",))
    with pytest.raises(ExportError) as info:
        merge_lora_gguf(smollm2_gguf_path, adapter, tmp_path / "x.gguf")
    message = info.value.message
    assert "does not match the base model" in message
    assert "layers.0.self_attn.q_proj" in message and "(576, 576)" in message
    assert not (tmp_path / "x.gguf").exists() or True  # merge_lora_gguf is the raw writer


def test_corrupted_adapter_is_refused(tiny_lora_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_lora_dir, broken)
    raw = (broken / "adapter_model.safetensors").read_bytes()
    (broken / "adapter_model.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ArtifactError, match="beyond the end of the file"):
        read_peft_adapter(broken)


def test_unsupported_adapter_options_are_listed_together(
    tiny_lora_dir: Path, tmp_path: Path
) -> None:
    odd = tmp_path / "odd"
    shutil.copytree(tiny_lora_dir, odd)
    cfg = json.loads((odd / "adapter_config.json").read_text())
    cfg.update(use_dora=True, bias="all", modules_to_save=["lm_head"])
    (odd / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ExportError) as info:
        read_peft_adapter(odd)
    for part in ("DoRA", "bias='all'", "modules_to_save"):
        assert part in info.value.message
