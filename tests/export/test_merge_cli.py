"""`edge-eval export merge` / `export lora` end to end on the tiny model (llama.cpp gates)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_eval.export.manifest import sha256_file

if importlib.util.find_spec("llama_cpp") is None:  # find, not import: see import_llama_cpp
    pytest.skip("llama-cpp-python is not installed", allow_module_level=True)


def _cli(args: list[str]) -> tuple[int, str, str]:
    """Run the console entry point (errors become Error:/Hint: + exit code)."""
    import click

    from edge_eval.cli.main import main

    @click.command(context_settings={"ignore_unknown_options": True})
    def entry() -> None:
        main(args)

    runner = CliRunner()
    result = runner.invoke(entry, [], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _left_over(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_merge_writes_gated_gguf_and_manifest(
    tiny_gguf_f16: Path, tiny_lora_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "merged.gguf"
    code, stdout, stderr = _cli(
        ["export", "merge", "--base", str(tiny_gguf_f16), "--adapter", str(tiny_lora_dir),
         "--out", str(out), "--json"]
    )  # fmt: skip
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["artifact"] == "merged.gguf"
    assert result["manifest"] == "merged.gguf.manifest.json"
    assert result["sha256"] == sha256_file(out)
    assert result["checked"] is True
    assert result["figures"]["top1_agreement"] >= 0.95
    assert result["figures"]["mean_kl"] < 1e-3
    assert _left_over(tmp_path) == ["merged.gguf", "merged.gguf.manifest.json"]
    manifest = json.loads((tmp_path / "merged.gguf.manifest.json").read_text())
    assert manifest["fidelity"]["checked"] is True
    assert manifest["fidelity"]["thresholds"]["max_kl"] == 1e-3
    assert manifest["extra"]["format"] == "gguf-f16"
    assert manifest["extra"]["gate"] == "gguf-f16"
    assert {e["name"] for e in manifest["reference"]} >= {"base", "adapter/adapter_config.json"}
    assert manifest["probe_set_sha256"]
    assert str(tmp_path) not in json.dumps(manifest)


def test_merge_no_check_is_recorded(
    tiny_gguf_f32: Path, tiny_lora_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.gguf"
    code, stdout, _ = _cli(
        ["export", "merge", "--base", str(tiny_gguf_f32), "--adapter", str(tiny_lora_dir),
         "--out", str(out), "--outtype", "f32", "--no-check"]
    )  # fmt: skip
    assert code == 0
    assert stdout.splitlines()[1] == "fidelity: not checked (--no-check)"
    manifest = json.loads((tmp_path / "m.gguf.manifest.json").read_text())
    assert manifest["fidelity"]["checked"] is False
    assert manifest["fidelity"]["figures"] is None
    assert manifest["probe_set_sha256"] is None


def test_merge_gate_failure_keeps_nothing(
    tiny_gguf_f16: Path, tiny_lora_dir: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, stdout, stderr = _cli(
        ["export", "merge", "--base", str(tiny_gguf_f16), "--adapter", str(tiny_lora_dir),
         "--out", str(out_dir / "m.gguf"), "--max-abs-logit", "0", "--max-seq-logprob-delta",
         "0"]
    )  # fmt: skip
    assert code == 8
    first = stderr.splitlines()[0]
    assert first.startswith("Error: the merged GGUF failed its fidelity gate: max |delta logit| ")
    assert "(--max-abs-logit); max sequence log-prob delta " in first
    assert stderr.splitlines()[1] == (
        "Hint: No output was kept. Loosen the gate with its option, or use a milder format."
    )
    assert _left_over(out_dir) == []


def test_merge_that_applies_the_adapter_twice_fails_the_default_gate(
    tiny_gguf_f16: Path, tiny_lora_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate (runtime adapter as reference) catches a wrong merge."""
    from edge_eval.errors import FidelityError
    from edge_eval.export.lora import LoraModule
    from edge_eval.export.merge import export_merge

    original = LoraModule.delta
    monkeypatch.setattr(LoraModule, "delta", lambda self: 2.0 * original(self))
    with pytest.raises(FidelityError) as info:
        export_merge(tiny_gguf_f16, tiny_lora_dir, tmp_path / "bad.gguf")
    assert "mean KL" in info.value.message and "top-1 agreement" in info.value.message
    assert _left_over(tmp_path) == []


def test_merge_without_qk_permutation_would_fail_the_gate(
    tiny_gguf_f16: Path, tiny_lora_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge that forgets llama.cpp's q/k row order differs from the runtime adapter by far
    more than the f16 gate allows."""
    import edge_eval.export.gguf_names as names
    from edge_eval.export.fidelity import check_gate, compare_lm_logits, gate_for
    from edge_eval.export.lora import export_lora
    from edge_eval.export.merge import merge_lora_gguf
    from edge_eval.export.probes import gguf_logits, gguf_tokenize, load_probe_set

    lora = export_lora(tiny_lora_dir, tiny_gguf_f16, tmp_path / "a.gguf", check=False).path
    monkeypatch.setitem(names.SUPPORTED_ARCHITECTURES, "llama", names.QKLayout.AS_IS)
    bad = merge_lora_gguf(tiny_gguf_f16, tiny_lora_dir, tmp_path / "bad.gguf")
    ids = gguf_tokenize(tiny_gguf_f16, list(load_probe_set().texts))
    figures = compare_lm_logits(
        gguf_logits(tiny_gguf_f16, ids, lora_path=lora), gguf_logits(bad, ids), ids
    )
    assert len(check_gate(figures, gate_for("gguf-f16"))) >= 2


def test_mismatched_base_is_refused_naming_the_module(
    smollm2_gguf_path: Path, tiny_lora_dir: Path, tmp_path: Path
) -> None:
    code, _, stderr = _cli(
        ["export", "merge", "--base", str(smollm2_gguf_path), "--adapter", str(tiny_lora_dir),
         "--out", str(tmp_path / "m.gguf")]
    )  # fmt: skip
    assert code == 7
    assert stderr.startswith("Error: the adapter does not match the base model: adapter module ")
    assert "'base_model.model.model.layers.0.mlp.down_proj' has delta shape (64, 128)" in stderr
    assert "blk.0.ffn_down.weight is (576, 1536)" in stderr
    assert "Hint: Use the base model the adapter was trained on." in stderr
    assert _left_over(tmp_path) == []


def test_corrupted_adapter_is_refused_without_naming_its_path(
    tiny_gguf_f32: Path, tiny_lora_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "PLANTED_adapter_dir"
    shutil.copytree(tiny_lora_dir, broken)
    weights = broken / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    code, _, stderr = _cli(
        ["export", "lora", "--adapter", str(broken), "--base", str(tiny_gguf_f32),
         "--out", str(tmp_path / "a.gguf")]
    )  # fmt: skip
    assert code == 5
    assert "lies beyond the end of the file" in stderr
    assert "PLANTED" not in stderr


def test_lora_export_loads_in_llama_cpp_and_matches_merge(
    tiny_gguf_f16: Path, tiny_lora_dir: Path, tmp_path: Path
) -> None:
    from edge_eval.export.fidelity import compare_lm_logits
    from edge_eval.export.merge import merge_lora_gguf
    from edge_eval.export.probes import gguf_logits, gguf_tokenize, load_probe_set

    out = tmp_path / "adapter.gguf"
    code, stdout, stderr = _cli(
        ["export", "lora", "--adapter", str(tiny_lora_dir), "--base", str(tiny_gguf_f16),
         "--out", str(out)]
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.startswith("wrote adapter.gguf (")
    assert stdout.splitlines()[1].startswith("fidelity on 8 probes / ")
    manifest = json.loads((tmp_path / "adapter.gguf.manifest.json").read_text())
    assert manifest["extra"]["format"] == "gguf-lora"
    assert manifest["fidelity"]["figures"]["top1_agreement"] >= 0.9

    import gguf

    reader = gguf.GGUFReader(out)
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == pytest.approx(8.0)
    shapes = {t.name: tuple(int(s) for s in t.shape) for t in reader.tensors}
    assert shapes["blk.0.attn_k.weight.lora_a"] == (64, 4)  # ne order: [in, r]
    assert shapes["blk.0.attn_k.weight.lora_b"] == (4, 32)  # [r, out]; 2 kv heads of 16
    assert len(shapes) == 2 * 7 * 2

    ids = gguf_tokenize(tiny_gguf_f16, list(load_probe_set().texts))
    merged = merge_lora_gguf(tiny_gguf_f16, tiny_lora_dir, tmp_path / "m.gguf", outtype="f16")
    figures = compare_lm_logits(
        gguf_logits(merged, ids), gguf_logits(tiny_gguf_f16, ids, lora_path=out), ids
    )
    assert figures.top1_agreement >= 0.99
    assert figures.max_seq_logprob_delta < 0.1
    assert np.isfinite(figures.mean_kl)


def test_rslora_adapter_scaling_survives_export(
    tiny_hf_dir: Path, tiny_gguf_f32: Path, make_tiny_lora, tmp_path: Path
) -> None:
    """rsLoRA scales by alpha/sqrt(r): the GGUF alpha is chosen so llama.cpp's alpha/r matches
    peft, checked against torch."""
    import torch
    import transformers
    from peft import PeftModel

    from edge_eval.export.fidelity import compare_lm_logits
    from edge_eval.export.lora import export_lora
    from edge_eval.export.probes import gguf_logits, gguf_tokenize, load_probe_set

    adapter = make_tiny_lora(
        "rslora", r=4, alpha=4.0, use_rslora=True, targets=("q_proj", "up_proj")
    )
    artifact = export_lora(adapter, tiny_gguf_f32, tmp_path / "rs.gguf", check=False)
    ids = gguf_tokenize(tiny_gguf_f32, list(load_probe_set().texts))
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_hf_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter).eval()
    with torch.no_grad():
        ref = [model(torch.tensor([s])).logits[0].numpy() for s in ids]
    figures = compare_lm_logits(ref, gguf_logits(tiny_gguf_f32, ids, lora_path=artifact.path), ids)
    assert figures.max_abs_logit_delta < 0.02, figures
