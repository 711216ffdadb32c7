"""Real SmolLM2-135M: a LoRA trained a few steps with peft, merged into GGUF, applied at runtime
as a GGUF adapter, and the torch reference all agree; quantized copies carry their figures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("llama_cpp") is None:  # find, not import: see import_llama_cpp
    pytest.skip("llama-cpp-python is not installed", allow_module_level=True)

pytestmark = pytest.mark.slow


def _seq_logprobs(logits: list[np.ndarray], ids: list[list[int]]) -> np.ndarray:
    out = []
    for row, seq in zip(logits, ids, strict=True):
        row = row.astype(np.float64)
        log_p = row - row.max(-1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
        out.append(log_p[np.arange(len(seq) - 1), seq[1:]].sum())
    return np.array(out)


def test_smollm2_lora_merge_runtime_and_torch_agree(
    smollm2_gguf_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    from edge_eval.export.lora import export_lora
    from edge_eval.export.merge import dequantize_gguf, export_merge
    from edge_eval.export.probes import gguf_logits, gguf_tokenize, load_probe_set
    from edge_eval.quantize.gguf import quantize_gguf

    work = tmp_path_factory.mktemp("smollm2")
    ids = gguf_tokenize(smollm2_gguf_path, list(load_probe_set().texts))
    # the first 32 tokens of each probe: f16 matmuls (llama.cpp rounds activations to f16)
    # drift by ~0.1 nats over the longest 75-token probe, ~0.03 over 32 tokens
    short = [seq[:32] for seq in ids]

    # the f16 copy of the base: llama.cpp runs it, torch loads the very same weights in f32
    base_f16 = dequantize_gguf(smollm2_gguf_path, work / "base-f16.gguf", outtype="f16")
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        base_f16.parent, gguf_file=base_f16.name, dtype=torch.float32
    )
    config = peft.LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )
    model = peft.get_peft_model(model, config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    for step in range(3):
        batch = torch.tensor([ids[step]])
        model(batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    adapter_dir = work / "adapter"
    model.save_pretrained(adapter_dir, safe_serialization=True)
    model.eval()
    with torch.no_grad():
        torch_logits = [model(torch.tensor([seq])).logits[0].numpy() for seq in short]
        with model.disable_adapter():
            base_logits = [model(torch.tensor([seq])).logits[0].numpy() for seq in short]
        # the merged model as an f16 GGUF holds it: every weight rounded to f16 (the base's are
        # f16 already, so only the merged tensors change), computed in torch
        merged_torch = model.merge_and_unload()
        for weight in merged_torch.parameters():
            weight.copy_(weight.half().float())
        rounded_logits = [merged_torch(torch.tensor([seq])).logits[0].numpy() for seq in short]
    del model, merged_torch

    # merged GGUF and GGUF adapter on the f16 copy, each through its gate (all 8 full probes)
    merged = export_merge(base_f16, adapter_dir, work / "merged-f16.gguf", outtype="f16")
    lora = export_lora(adapter_dir, base_f16, work / "adapter.gguf")
    assert merged.checked and lora.checked

    merged_logits = gguf_logits(merged.path, short)
    runtime_logits = gguf_logits(base_f16, short, lora_path=lora.path)
    lp_torch = _seq_logprobs(torch_logits, short)
    lp_merged = _seq_logprobs(merged_logits, short)
    lp_runtime = _seq_logprobs(runtime_logits, short)
    lp_base = _seq_logprobs(base_logits, short)
    # the adapter matters (else agreement would prove nothing) ...
    assert np.abs(lp_torch - lp_base).max() > 0.5
    # ... and the three implementations agree as closely as f16 arithmetic lets them. Two error
    # sources, both measured here rather than assumed: llama.cpp's f16 kernels (the base without
    # adapter, llama.cpp vs torch: `kernels`) and the merged weights' rounding to f16 (torch with
    # and without it: `rounding`). They depend on the CPU and the adapter: a fixed 0.05 nats per
    # 32-token probe passed on an AVX2 CPU, while on an AVX-512/VNNI one the merged model measured
    # 0.057 against kernels 0.014 (rounding was not measured then), so 0.05 sat on that edge. The
    # bound allows each source twice over plus 0.01; a real defect is far away: the merge without
    # llama.cpp's q/k row order moved a probe by 4.1 nats, an adapter merged twice by 27
    # (fidelity.py's measurements).
    kernels = float(np.abs(_seq_logprobs(gguf_logits(base_f16, short), short) - lp_base).max())
    rounding = float(np.abs(_seq_logprobs(rounded_logits, short) - lp_torch).max())
    assert kernels < 0.1 and rounding < 0.1, (kernels, rounding)  # each source itself is small
    tolerance = 2 * (kernels + rounding) + 0.01
    for name, delta in (
        ("merged vs torch", lp_merged - lp_torch),
        ("runtime vs torch", lp_runtime - lp_torch),
        ("runtime vs merged", lp_runtime - lp_merged),
    ):
        assert np.abs(delta).max() < tolerance, (name, delta, kernels, rounding)
    # the adapter also loads on the shipped Q4_1 base
    q41 = _seq_logprobs(gguf_logits(smollm2_gguf_path, short, lora_path=lora.path), short)
    assert np.isfinite(q41).all()

    # quantized copies of the merged model pass their default gates; figures in the manifest
    for qtype in ("Q8_0", "Q4_K_M"):
        artifact = quantize_gguf(merged.path, work / f"merged-{qtype}.gguf", qtype=qtype)
        figures = json.loads(artifact.manifest_path.read_text())["fidelity"]["figures"]
        assert figures["n_sequences"] == len(ids)
        assert figures["mean_kl"] > 0
