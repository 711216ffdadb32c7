"""The tokenizer rebuilt from a GGUF's metadata tokenizes exactly like llama.cpp.

Byte-level BPE (SmolLM2's vocabulary: digits split one by one, ChatML control tokens) and
sentencepiece BPE (a tiny sentencepiece model trained here, written to a vocabulary-only GGUF
the way llama.cpp's converter does) are both compared with ``llama_cpp.Llama.tokenize`` on the
shipped probe texts and on seeded random strings.
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
from pathlib import Path

import pytest

from edge_eval.errors import ArtifactError, ExportError
from edge_eval.export.tokenizer import (
    TOKENIZER_PROBE_TEXTS,
    GGUFTokenizerSpec,
    build_tokenizer,
    check_tokenizer,
    llama_cpp_token_ids,
    read_gguf_metadata,
    read_gguf_tokenizer,
    save_tokenizer,
)


def _random_texts(pieces: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(n)]


_PIECES = list("abcXYZ 0123456789 \n\t'\".,;:!?-_()[]<>|/@#$%&*+=") + [
    "é",
    "ß",
    "日本",
    "😀",
    "👍🏽",
    "\r\n",
    "  ",
    "'s",
    "'ll",
    " 12",
    "١٢٣",
    "½",
]


# ---------------------------------------------------------------------------------------------
# Byte-level BPE with SmolLM2's vocabulary (from the tiny GGUF, which carries every tokenizer key)


@pytest.fixture(scope="module")
def tiny_spec(tiny_gguf_f32: Path) -> GGUFTokenizerSpec:
    return read_gguf_tokenizer(tiny_gguf_f32)


def test_spec_reads_smollm2_special_tokens(tiny_spec: GGUFTokenizerSpec) -> None:
    assert tiny_spec.model == "gpt2"
    assert tiny_spec.pre == "smollm"
    assert tiny_spec.token(tiny_spec.eos_token_id) == "<|im_end|>"
    assert tiny_spec.token(tiny_spec.bos_token_id) == "<|im_start|>"
    assert tiny_spec.add_bos is False
    assert tiny_spec.vocab_size == 49152


def test_metadata_reader_equals_the_gguf_package(
    spm_vocab: dict[str, list], tmp_path: Path
) -> None:
    """Strings, string arrays, float/int arrays, bools and ints as the gguf package reads them
    (on the small sentencepiece GGUF: the gguf package's reader is slow on 49k tokens)."""
    gguf = pytest.importorskip("gguf")
    path = _write_spm_gguf(tmp_path / "spm.gguf", spm_vocab, add_space_prefix=True)
    ours = read_gguf_metadata(path)
    reference = {
        key: field.contents()
        for key, field in gguf.GGUFReader(path).fields.items()
        if not key.startswith("GGUF.")
    }
    assert len(reference) > 15
    assert set(ours) == set(reference)
    for key, value in reference.items():
        mine = ours[key].tolist() if hasattr(ours[key], "tolist") else ours[key]
        assert mine == pytest.approx(value) if isinstance(value, float) else mine == value, key


def test_damaged_gguf_is_refused(tiny_gguf_f32: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf_f32.read_bytes()[:4096])
    with pytest.raises(ArtifactError, match="truncated or damaged header"):
        read_gguf_tokenizer(cut)
    other = tmp_path / "other.gguf"
    other.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ArtifactError, match="no GGUF magic"):
        read_gguf_tokenizer(other)


def test_digits_are_split_one_by_one(tiny_spec: GGUFTokenizerSpec) -> None:
    tokenizer = build_tokenizer(tiny_spec)
    ids = tokenizer.encode("12345", add_special_tokens=True).ids
    assert [tiny_spec.tokens[i] for i in ids] == ["1", "2", "3", "4", "5"]


def test_saved_files_load_in_transformers_with_the_gguf_special_tokens(
    tiny_spec: GGUFTokenizerSpec, tmp_path: Path
) -> None:
    transformers = pytest.importorskip("transformers")
    save_tokenizer(tiny_spec, tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["eos_token"] == "<|im_end|>"
    assert config["bos_token"] == "<|im_start|>"
    assert config["add_bos_token"] is False
    assert config["model_input_names"] == ["input_ids", "attention_mask"]
    loaded = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.eos_token_id == 2 and loaded.bos_token_id == 1
    text = "<|im_start|>user\nHi 2024 😊<|im_end|>\n"
    assert loaded(text)["input_ids"] == build_tokenizer(tiny_spec).encode(text).ids
    assert "token_type_ids" not in loaded(text)
    assert loaded.decode(loaded(text)["input_ids"]) == text


def test_tiny_gguf_ids_equal_llama_cpp(tiny_gguf_f32: Path, tiny_spec: GGUFTokenizerSpec) -> None:
    pytest.importorskip("llama_cpp")
    texts = list(TOKENIZER_PROBE_TEXTS) + _random_texts(
        _PIECES + ["<|im_start|>", "<|im_end|>", "<|endoftext|>"], 300, seed=1
    )
    figures = check_tokenizer(tiny_gguf_f32, build_tokenizer(tiny_spec), texts)
    assert figures.n_probes == len(texts)
    assert figures.mismatches == 0


def test_a_wrong_pre_tokenizer_is_caught_by_the_check(
    tiny_gguf_f32: Path, tiny_spec: GGUFTokenizerSpec
) -> None:
    """The check has teeth: Llama-3's splitting (punctuation glued to the next word) is caught."""
    pytest.importorskip("llama_cpp")
    wrong = build_tokenizer(dataclasses.replace(tiny_spec, pre="llama3"))
    figures = check_tokenizer(tiny_gguf_f32, wrong)
    assert figures.mismatches >= 1 and figures.exact_match < 1.0


def test_unknown_pre_tokenizer_is_refused(tiny_spec: GGUFTokenizerSpec) -> None:
    with pytest.raises(ExportError, match="pre-tokenizer 'made-up' is not supported") as info:
        dataclasses.replace(tiny_spec, pre="made-up")
    assert "smollm" in info.value.hint


@pytest.mark.slow
def test_smollm2_ids_equal_llama_cpp(smollm2_gguf_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    spec = read_gguf_tokenizer(smollm2_gguf_path)
    tokenizer = build_tokenizer(spec)
    texts = list(TOKENIZER_PROBE_TEXTS)
    reference = llama_cpp_token_ids(smollm2_gguf_path, texts)
    assert [e.ids for e in tokenizer.encode_batch(texts)] == reference
    # spot checks a reader can verify by eye
    by_text = dict(zip(texts, reference, strict=True))
    chat = "<|im_start|>user\nCan you help me?<|im_end|>\n<|im_start|>assistant\n"
    assert by_text[chat][0] == 1 and 2 in by_text[chat]  # control tokens parsed, no BOS added
    emoji = "I feel 😢 today… but 👍🏽 thanks! 🎉🎉"
    assert tokenizer.decode(by_text[emoji]) == emoji


@pytest.mark.slow
def test_gemma3_ids_equal_llama_cpp() -> None:
    """Gemma-3-270M: sentencepiece BPE, 262k pieces, BOS added, no space prefix."""
    pytest.importorskip("llama_cpp")
    from edge_eval.errors import EdgeEvalError
    from edge_eval.export.models import find_gemma3_270m_gguf

    try:
        path = find_gemma3_270m_gguf()
    except EdgeEvalError as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"Gemma-3-270M GGUF not available: {exc.message}")
    spec = read_gguf_tokenizer(path)
    assert (spec.model, spec.add_bos, spec.add_space_prefix) == ("llama", True, False)
    tokenizer = build_tokenizer(spec)
    texts = list(TOKENIZER_PROBE_TEXTS) + _random_texts(
        _PIECES + ["<start_of_turn>", "<end_of_turn>", "    ", "\n\n"], 200, seed=3
    )
    assert [e.ids for e in tokenizer.encode_batch(texts)] == llama_cpp_token_ids(path, texts)


# ---------------------------------------------------------------------------------------------
# sentencepiece BPE (the Gemma kind), on a tiny model trained here


@pytest.fixture(scope="module")
def spm_vocab() -> dict[str, list]:
    spm = pytest.importorskip("sentencepiece")
    from sentencepiece import sentencepiece_model_pb2

    corpus = [
        "I am sorry you are going through this, it sounds really hard.",
        "The meeting is at 10:30 on 12/05/2024.",
        "Thank you so much for helping me today!",
        "Can you fix the grammar of my paragraph please?",
        "Über naïve café façade Straße",
        "def square(x): return x * x",
        "Start with the basics: variables, loops and functions.",
    ] * 20
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=buffer,
        vocab_size=400,
        model_type="bpe",
        byte_fallback=True,
        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
        character_coverage=1.0,
        minloglevel=2,
    )
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(buffer.getvalue())
    # sentencepiece's piece types use llama.cpp's numbering (1 normal ... 6 byte)
    return {
        "tokens": [p.piece for p in proto.pieces],
        "scores": [p.score for p in proto.pieces],
        "types": [int(p.type) for p in proto.pieces],
    }


def _write_spm_gguf(path: Path, vocab: dict[str, list], *, add_space_prefix: bool) -> Path:
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_feed_forward_length(16)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(4)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(vocab["tokens"])
    writer.add_token_scores(vocab["scores"])
    writer.add_token_types(vocab["types"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(add_space_prefix)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize("add_space_prefix", [True, False])
def test_sentencepiece_ids_equal_llama_cpp(
    spm_vocab: dict[str, list], tmp_path: Path, add_space_prefix: bool
) -> None:
    pytest.importorskip("llama_cpp")
    path = _write_spm_gguf(tmp_path / "spm.gguf", spm_vocab, add_space_prefix=add_space_prefix)
    spec = read_gguf_tokenizer(path)
    assert spec.model == "llama" and spec.add_bos and spec.add_space_prefix is add_space_prefix
    tokenizer = build_tokenizer(spec)
    texts = list(TOKENIZER_PROBE_TEXTS) + _random_texts(
        _PIECES + ["<start_of_turn>", "<end_of_turn>", "sorry", "meeting", " the"], 400, seed=2
    )
    reference = llama_cpp_token_ids(path, texts)
    candidate = [e.ids for e in tokenizer.encode_batch(texts)]
    assert candidate == reference
    assert all(ids[0] == 1 for ids in candidate)  # BOS added, as llama.cpp does
    assert any(3 in ids for ids in candidate)  # user-defined <start_of_turn> kept whole
    byte_ids = {i for i, t in enumerate(spm_vocab["types"]) if t == 6}
    assert any(byte_ids & set(ids) for ids in candidate)  # emoji fell back to bytes
