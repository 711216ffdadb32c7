"""`export onnx` on the tiny model: merged adapter, tokenizer, gate failures, refusals.

Every export here runs optimum-onnx for real (a few seconds for the tiny model); the ONNX
logits are compared with peft's *unmerged* adapter in torch, computed independently of the
library's own check.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_eval.cli.onnx_commands import export_onnx_command
from edge_eval.errors import ArtifactError, ExportError, FidelityError
from edge_eval.export.fidelity import DEFAULT_GATES
from edge_eval.export.onnx import OnnxExportConfig, export_onnx, onnx_lm_logits

pytest.importorskip("optimum.exporters.onnx")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

_PROMPT = [1, 4093, 198, 7306, 346, 724, 549, 47, 216, 33, 34, 35, 2, 198, 1, 520, 9531, 198]


def _peft_logits(base: Path, adapter: Path, ids: list[int]) -> np.ndarray:
    model = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = peft.PeftModel.from_pretrained(model, adapter).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


@pytest.fixture(scope="module")
def hf_export(
    tmp_path_factory: pytest.TempPathFactory, tiny_hf_dir: Path, tiny_lora_dir: Path
) -> Path:
    """HF base + adapter exported through the CLI command."""
    out = tmp_path_factory.mktemp("onnx") / "hf"
    result = CliRunner().invoke(
        export_onnx_command,
        ["--base", str(tiny_hf_dir), "--adapter", str(tiny_lora_dir), "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["format"] == "onnx-fp32" and figures["checked"] is True
    return out


def test_hf_export_matches_peft_adapter(
    hf_export: Path, tiny_hf_dir: Path, tiny_lora_dir: Path
) -> None:
    reference = _peft_logits(tiny_hf_dir, tiny_lora_dir, _PROMPT)
    plain = transformers.AutoModelForCausalLM.from_pretrained(tiny_hf_dir, dtype=torch.float32)
    with torch.no_grad():
        base_only = plain(torch.tensor([_PROMPT])).logits[0].numpy()
    (onnx_logits,) = onnx_lm_logits(hf_export / "model.onnx", [np.asarray(_PROMPT)])
    assert np.abs(onnx_logits - reference).max() < 1e-3
    assert np.abs(base_only - reference).max() > 0.05  # the adapter really changed the model


def test_hf_export_folder_and_manifest(hf_export: Path) -> None:
    names = {p.name for p in hf_export.iterdir()}
    assert {"model.onnx", "config.json", "tokenizer.json", "manifest.json"} <= names
    manifest = json.loads((hf_export / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["command"] == "export onnx"
    assert manifest["fidelity"]["checked"] is True
    figures = manifest["fidelity"]["figures"]
    assert figures["top1_agreement"] == 1.0
    assert figures["max_seq_logprob_delta"] < 0.01
    assert manifest["fidelity"]["thresholds"] == DEFAULT_GATES["onnx-fp32"].to_dict()
    reference_names = {entry["name"].split("/")[0] for entry in manifest["reference"]}
    assert reference_names == {"base", "adapter"}
    assert any(e["name"] == "model.onnx" for e in manifest["artifact"])
    assert manifest["extra"]["adapter_merged"] is True
    assert len(manifest["probe_set_sha256"]) == 64
    text = json.dumps(manifest)
    assert "/tmp" not in text and str(hf_export) not in text  # no paths


def test_ort_generate_works_with_the_shipped_tokenizer(hf_export: Path) -> None:
    """ORTModelForCausalLM.generate rejects token_type_ids: the tokenizer must not emit them."""
    from optimum.onnxruntime import ORTModelForCausalLM

    model = ORTModelForCausalLM.from_pretrained(hf_export, use_cache=True, use_io_binding=False)
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_export)
    inputs = tokenizer("<|im_start|>user\nHi<|im_end|>\n", return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 4


def test_gguf_export_rebuilds_the_tokenizer_and_checks_it(
    tmp_path: Path, tiny_gguf_f32: Path, tiny_lora_dir: Path, tiny_hf_dir: Path
) -> None:
    pytest.importorskip("llama_cpp")
    artifact = export_onnx(
        OnnxExportConfig(base=tiny_gguf_f32, adapter=tiny_lora_dir), out_dir=tmp_path / "g"
    )
    assert artifact.tokenizer_figures is not None
    assert artifact.tokenizer_figures.exact_match == 1.0
    assert artifact.figures is not None and artifact.figures.top1_agreement == 1.0
    config = json.loads((tmp_path / "g" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["eos_token"] == "<|im_end|>" and config["add_bos_token"] is False
    generation = json.loads((tmp_path / "g" / "generation_config.json").read_text("utf-8"))
    assert generation["eos_token_id"] == 2
    # the GGUF base dequantized by transformers is the same model as the HF folder
    reference = _peft_logits(tiny_hf_dir, tiny_lora_dir, _PROMPT)
    (onnx_logits,) = onnx_lm_logits(tmp_path / "g" / "model.onnx", [np.asarray(_PROMPT)])
    assert np.abs(onnx_logits - reference).max() < 1e-3
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["extra"]["tokenizer_fidelity"]["mismatches"] == 0


def test_failing_gate_exits_non_zero_and_keeps_nothing(tmp_path: Path, tiny_hf_dir: Path) -> None:
    out = tmp_path / "never"
    result = CliRunner().invoke(
        export_onnx_command,
        ["--base", str(tiny_hf_dir), "--out", str(out), "--max-abs-logit", "1e-12"],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, FidelityError)
    assert result.exception.exit_code == 8
    assert "max |delta logit|" in result.exception.message
    assert "--max-abs-logit" in result.exception.message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging folder left behind


def test_no_check_is_recorded(tmp_path: Path, tiny_hf_dir: Path) -> None:
    result = CliRunner().invoke(
        export_onnx_command,
        ["--base", str(tiny_hf_dir), "--out", str(tmp_path / "o"), "--no-check"],
    )
    assert result.exit_code == 0, result.output
    assert "fidelity: not checked (--no-check)" in result.stdout
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["fidelity"] == {"checked": False, "figures": None, "thresholds": None}
    assert manifest["probe_set_sha256"] is None


def test_corrupted_adapter_is_refused(
    tmp_path: Path, tiny_hf_dir: Path, tiny_lora_dir: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_lora_dir, broken)
    weights = broken / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(ArtifactError, match="adapter_model.safetensors is damaged"):
        export_onnx(OnnxExportConfig(base=tiny_hf_dir, adapter=broken), out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_mismatched_adapter_names_the_module(
    tmp_path: Path, tiny_hf_dir: Path, tiny_lora_dir: Path
) -> None:
    from safetensors.numpy import load_file, save_file

    wrong = tmp_path / "wrong"
    shutil.copytree(tiny_lora_dir, wrong)
    tensors = load_file(str(wrong / "adapter_model.safetensors"))
    key = next(k for k in tensors if "layers.1.mlp.down_proj.lora_A" in k)
    tensors[key] = np.zeros((tensors[key].shape[0], 96), dtype=tensors[key].dtype)
    save_file(tensors, str(wrong / "adapter_model.safetensors"))
    with pytest.raises(ExportError, match=r"model\.layers\.1\.mlp\.down_proj: LoRA A\[4, 96\]"):
        export_onnx(OnnxExportConfig(base=tiny_hf_dir, adapter=wrong), out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# Real SmolLM2 (slow): a LoRA adapter merged and exported once per session


@pytest.fixture(scope="session")
def smollm2_onnx(
    tmp_path_factory: pytest.TempPathFactory, smollm2_gguf_path: Path
) -> tuple[Path, Path, object]:
    """SmolLM2 + a seeded LoRA (non-zero B, so it changes the logits) exported to ONNX."""
    pytest.importorskip("llama_cpp")
    root = tmp_path_factory.mktemp("smollm2_onnx")
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(smollm2_gguf_path.parent), gguf_file=smollm2_gguf_path.name, dtype=torch.float32
    )
    config = peft.LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0
    )
    peft_model = peft.get_peft_model(model, config)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.01)
    adapter = root / "adapter"
    peft_model.save_pretrained(adapter)
    peft_model.eval()
    with torch.no_grad():  # the unmerged adapter in torch: an independent reference
        reference = peft_model(torch.tensor([_PROMPT])).logits[0].numpy()
    del peft_model, model
    artifact = export_onnx(
        OnnxExportConfig(base=smollm2_gguf_path, adapter=adapter), out_dir=root / "onnx"
    )
    return root / "onnx", reference, artifact


def _seq_logprob(logits: np.ndarray, ids: list[int]) -> float:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(logp[np.arange(len(ids) - 1), ids[1:]].sum())


@pytest.mark.slow
def test_smollm2_merged_onnx_matches_torch(smollm2_onnx: tuple[Path, np.ndarray, object]) -> None:
    out, reference, artifact = smollm2_onnx
    (onnx_logits,) = onnx_lm_logits(out / "model.onnx", [np.asarray(_PROMPT)])
    assert abs(_seq_logprob(onnx_logits, _PROMPT) - _seq_logprob(reference, _PROMPT)) < 0.05
    assert (onnx_logits.argmax(-1) == reference.argmax(-1)).all()
    figures = artifact.figures  # type: ignore[attr-defined]
    assert figures.max_seq_logprob_delta < 0.05
    assert figures.top1_agreement == 1.0
    assert artifact.tokenizer_figures.exact_match == 1.0  # type: ignore[attr-defined]
    size = sum(p.stat().st_size for p in out.glob("model.onnx*"))
    assert 400e6 < size < 700e6
