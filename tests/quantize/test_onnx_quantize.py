"""`quantize onnx` on a tiny seeded Llama: int8 with and without exclusions, int4, gate failures.

The module builds its own tiny model (byte-level vocabulary of 256 bytes + ChatML tokens, hidden
64, 2 layers) and a *sensitive* twin: in every layer one MLP channel is scaled up 10^4 in
``up_proj`` and down 10^4 in ``down_proj``. The twin computes the same function in fp32, but
per-tensor int8 activations at ``down_proj``'s input lose every other channel: plain dynamic
int8 fails the gate, while the default exclusion list (``down_proj``, ``lm_head``) passes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_eval.cli.onnx_commands import quantize_onnx_command
from edge_eval.errors import ConfigError, FidelityError, QuantizationError
from edge_eval.export.fidelity import DEFAULT_GATES
from edge_eval.export.onnx import OnnxExportConfig, export_onnx
from edge_eval.quantize.onnx import OnnxQuantizeConfig, OnnxQuantMode, quantize_onnx

pytest.importorskip("optimum.exporters.onnx")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")

_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _byte_tokenizer(out_dir: Path) -> int:
    """A byte-level BPE without merges (every byte a token) plus ChatML control tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    vocab = {tok: i for i, tok in enumerate(_SPECIALS)}
    for char in bytes_to_unicode().values():
        vocab[char] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in _SPECIALS])
    tokenizer.save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|im_start|>",
        "eos_token": "<|im_end|>",
        "model_input_names": ["input_ids", "attention_mask"],
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return len(vocab)


def _tiny_llama(out_dir: Path, *, sensitive: bool) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_size = _byte_tokenizer(out_dir)
    config = transformers.LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    model = transformers.LlamaForCausalLM(config).eval()
    gen = torch.Generator().manual_seed(2024)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("embed_tokens.weight"):
                param.copy_(torch.randn(param.shape, generator=gen) * 0.4)
            elif param.ndim == 1:
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=gen))
            else:
                param.copy_(torch.randn(param.shape, generator=gen) / param.shape[1] ** 0.5)
        if sensitive:
            for layer in model.model.layers:
                layer.mlp.up_proj.weight[7, :] *= 1e4
                layer.mlp.down_proj.weight[:, 7] /= 1e4
    model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


@pytest.fixture(scope="module")
def fp32_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The plain and the sensitive tiny model exported to ONNX fp32 (gated against torch)."""
    root = tmp_path_factory.mktemp("tiny_onnx")
    out = {}
    for name, sensitive in (("plain", False), ("sensitive", True)):
        hf = _tiny_llama(root / f"{name}-hf", sensitive=sensitive)
        export_onnx(OnnxExportConfig(base=hf), out_dir=root / name)
        out[name] = root / name
    return out


def _op_types(model_dir: Path) -> dict[str, str]:
    graph = onnx.load(str(model_dir / "model.onnx"), load_external_data=False).graph
    return {n.name: n.op_type for n in graph.node}


def _manifest(model_dir: Path) -> dict:
    return json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))


def test_sensitive_twin_is_the_same_function_in_fp32(fp32_dirs: dict[str, Path]) -> None:
    from edge_eval.export.onnx import load_probe_token_ids, onnx_lm_logits

    ids, _ = load_probe_token_ids(fp32_dirs["plain"])
    plain = onnx_lm_logits(fp32_dirs["plain"] / "model.onnx", ids)
    twin = onnx_lm_logits(fp32_dirs["sensitive"] / "model.onnx", ids)
    assert max(float(np.abs(a - b).max()) for a, b in zip(plain, twin, strict=True)) < 1e-2


def test_int8_default_exclusions_pass_on_the_sensitive_model(
    fp32_dirs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "int8"
    result = CliRunner().invoke(
        quantize_onnx_command, [str(fp32_dirs["sensitive"]), "--mode", "int8", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    ops = _op_types(out)
    assert ops["/model/layers.0/mlp/down_proj/MatMul"] == "MatMul"  # kept fp32
    assert ops["/lm_head/MatMul"] == "MatMul"
    assert "/model/layers.0/mlp/up_proj/MatMul_quant" in ops  # quantized (MatMulInteger)
    assert "MatMulInteger" in ops.values()
    manifest = _manifest(out)
    assert manifest["command"] == "quantize onnx"
    assert manifest["extra"]["exclude_patterns"] == ["lm_head", "down_proj"]
    assert manifest["extra"]["matmuls_kept_fp32"] == 3  # 2 down_proj + lm_head
    assert manifest["fidelity"]["thresholds"] == DEFAULT_GATES["onnx-int8"].to_dict()
    assert manifest["fidelity"]["figures"]["top1_agreement"] >= 0.75
    assert (out / "tokenizer.json").is_file() and (out / "config.json").is_file()


def test_plain_int8_fails_the_gate_and_keeps_nothing(
    fp32_dirs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "int8-plain"
    result = CliRunner().invoke(
        quantize_onnx_command,
        [str(fp32_dirs["sensitive"]), "--mode", "int8", "--no-exclude", "--out", str(out)],
    )
    assert isinstance(result.exception, FidelityError), result.output
    assert result.exception.exit_code == 8
    assert "the int8 quantization failed its fidelity gate" in result.exception.message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_int4_writes_matmulnbits_and_passes(fp32_dirs: dict[str, Path], tmp_path: Path) -> None:
    artifact = quantize_onnx(
        fp32_dirs["plain"],
        OnnxQuantizeConfig(mode=OnnxQuantMode.INT4, block_size=16),
        out_dir=tmp_path / "q4",
    )
    ops = _op_types(tmp_path / "q4")
    assert list(ops.values()).count("MatMulNBits") == 14  # 7 projections x 2 layers
    assert ops["/lm_head/MatMul"] == "MatMul"
    assert artifact.format == "onnx-int4"
    assert artifact.figures is not None and artifact.figures.top1_agreement >= 0.6
    assert _manifest(tmp_path / "q4")["extra"]["quantizer"] == "MatMulNBits 4-bit hqq, block 16"
    graph = onnx.load(str(tmp_path / "q4" / "model.onnx")).graph
    node = next(n for n in graph.node if n.op_type == "MatMulNBits")
    assert len(node.input) == 4  # HQQ: scales and float zero points


def test_int4_rtn_is_symmetric(fp32_dirs: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        quantize_onnx_command,
        [
            str(fp32_dirs["plain"]),
            "--mode",
            "int4",
            "--int4-algorithm",
            "rtn",
            "--out",
            str(tmp_path / "q4"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["format"] == "onnx-int4"
    graph = onnx.load(str(tmp_path / "q4" / "model.onnx")).graph
    node = next(n for n in graph.node if n.op_type == "MatMulNBits")
    assert len(node.input) == 3  # symmetric: no zero points
    assert _manifest(tmp_path / "q4")["extra"]["quantizer"] == "MatMulNBits 4-bit rtn, block 32"


def test_int4_exclude_overrides_the_default_list(
    fp32_dirs: dict[str, Path], tmp_path: Path
) -> None:
    quantize_onnx(
        fp32_dirs["plain"],
        OnnxQuantizeConfig(
            mode=OnnxQuantMode.INT4, exclude=("layers.0",), block_size=16, check=False
        ),
        out_dir=tmp_path / "q4",
    )
    ops = _op_types(tmp_path / "q4")
    assert ops["/model/layers.0/self_attn/q_proj/MatMul"] == "MatMul"
    # lm_head is no longer excluded: its tied (transposed) embedding was folded and quantized
    assert list(ops.values()).count("MatMulNBits") == 8  # 7 in layer 1 + lm_head


def test_exclude_pattern_matching_nothing_is_refused(
    fp32_dirs: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="matched no weight MatMul: down_prj"):
        quantize_onnx(
            fp32_dirs["plain"],
            OnnxQuantizeConfig(mode=OnnxQuantMode.INT8, exclude=("down_prj",)),
            out_dir=tmp_path / "q",
        )
    assert not (tmp_path / "q").exists()


def test_strict_threshold_fails_int4(fp32_dirs: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        quantize_onnx_command,
        [str(fp32_dirs["plain"]), "--mode", "int4", "--out", str(tmp_path / "q"), "--max-kl", "0"],
    )
    assert isinstance(result.exception, FidelityError)
    assert "mean KL" in result.exception.message and "--max-kl" in result.exception.message
    assert not (tmp_path / "q").exists()


def test_quantized_input_is_refused(fp32_dirs: dict[str, Path], tmp_path: Path) -> None:
    first = tmp_path / "q8"
    quantize_onnx(
        fp32_dirs["plain"], OnnxQuantizeConfig(mode=OnnxQuantMode.INT8, check=False), out_dir=first
    )
    assert _manifest(first)["fidelity"]["checked"] is False
    with pytest.raises(QuantizationError, match="already quantized"):
        quantize_onnx(first, OnnxQuantizeConfig(mode=OnnxQuantMode.INT4), out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()
