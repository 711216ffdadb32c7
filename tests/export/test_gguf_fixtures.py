"""The shared tiny fixtures are what they claim: llama.cpp reads the tiny GGUF like torch reads
the HF folder (this also proves the q/k permutation), and tokenizes like its tokenizer.json."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edge_eval.export.fidelity import compare_lm_logits
from edge_eval.export.probes import gguf_logits, gguf_tokenize, load_probe_set

if importlib.util.find_spec("llama_cpp") is None:  # find, not import: see probes.import_llama_cpp
    pytest.skip("llama-cpp-python is not installed", allow_module_level=True)


def _torch_logits(hf_dir: Path, ids: list[list[int]], adapter: Path | None = None) -> list:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
    if adapter is not None:
        peft = pytest.importorskip("peft")
        model = peft.PeftModel.from_pretrained(model, adapter)
    model.eval()
    out = []
    with torch.no_grad():
        for seq in ids:
            out.append(model(torch.tensor([seq])).logits[0].numpy())
    return out


def test_tiny_gguf_tokenizes_like_the_hf_folder(tiny_hf_dir: Path, tiny_gguf_f32: Path) -> None:
    transformers = pytest.importorskip("transformers")
    texts = list(load_probe_set().texts)
    llama_ids = gguf_tokenize(tiny_gguf_f32, texts)
    hf = transformers.AutoTokenizer.from_pretrained(tiny_hf_dir)
    assert [hf(t)["input_ids"] for t in texts] == llama_ids
    assert all(ids[0] == 1 for ids in llama_ids)  # <|im_start|> parsed as a special token


def test_tiny_gguf_f32_matches_torch(tiny_hf_dir: Path, tiny_gguf_f32: Path) -> None:
    ids = gguf_tokenize(tiny_gguf_f32, list(load_probe_set().texts))
    figures = compare_lm_logits(
        _torch_logits(tiny_hf_dir, ids), gguf_logits(tiny_gguf_f32, ids), ids
    )
    assert figures.top1_agreement == 1.0
    assert figures.max_abs_logit_delta < 0.02
    assert figures.max_seq_logprob_delta < 0.05  # llama.cpp keeps its KV cache in f16


def test_runtime_lora_matches_peft(
    tiny_hf_dir: Path, tiny_gguf_f32: Path, tiny_lora_dir: Path, tmp_path: Path
) -> None:
    from edge_eval.export.lora import (
        check_adapter_against_base,
        open_gguf,
        read_peft_adapter,
        write_lora_gguf,
    )

    adapter = read_peft_adapter(tiny_lora_dir)
    arch = check_adapter_against_base(adapter, open_gguf(tiny_gguf_f32))
    lora = write_lora_gguf(adapter, arch, tmp_path / "a.gguf")
    ids = gguf_tokenize(tiny_gguf_f32, list(load_probe_set().texts))
    ref = _torch_logits(tiny_hf_dir, ids, tiny_lora_dir)
    base = _torch_logits(tiny_hf_dir, ids)
    got = gguf_logits(tiny_gguf_f32, ids, lora_path=lora)
    figures = compare_lm_logits(ref, got, ids)
    assert figures.max_abs_logit_delta < 0.02, figures
    # and the adapter really changes the model
    assert compare_lm_logits(base, ref, ids).max_abs_logit_delta > 0.5
    assert np.isfinite(got[0]).all()
