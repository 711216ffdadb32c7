"""Hugging Face tokenizers rebuilt from a GGUF's own metadata, tokenizing exactly like llama.cpp.

transformers can build a tokenizer from a GGUF, but the result is not fit to ship beside an
exported model: it mis-sets eos/bos (SmolLM2's eos becomes ``<|im_start|>`` and a BOS is added
that the model never saw) and drops the pre-tokenizer llama.cpp applies (SmolLM2 splits digits
one by one). This module reads ``tokenizer.ggml.*`` (tokens, merges or scores, token types,
special ids, add-bos/eos, space prefix, the pre-tokenizer name) and writes the equivalent
``tokenizers`` fast tokenizer, plus ``tokenizer_config.json`` / ``special_tokens_map.json``.

Two vocabularies are supported, as llama.cpp names them:

* ``gpt2`` (byte-level BPE with ranked merges): the pre-tokenizer is a sequence of regex splits
  copied from llama.cpp's ``llm_tokenizer_bpe`` for the GGUF's ``tokenizer.ggml.pre`` (only the
  names in :data:`BPE_PRE_TOKENIZERS`; any other name is refused rather than guessed).
* ``llama`` (sentencepiece BPE, e.g. Gemma): spaces become ``▁``, an optional ``▁`` prefix,
  pieces merged by score (the merges are derived from the scores the way sentencepiece ranks
  them), bytes as ``<0xNN>`` fallback tokens.

Control and unknown tokens become special added tokens, user-defined tokens plain added tokens:
llama.cpp splits them out of the text before the BPE (control ones only when it parses special
tokens, which is how chat templates are tokenized).

:func:`check_tokenizer` proves the result: ids equal to llama.cpp's ``Llama.tokenize`` (vocab
only, BOS as the model adds it, special tokens parsed) on a probe set with digits, emoji,
whitespace runs, accents and special tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_eval.errors import ArtifactError, ExportError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

    from edge_eval.export.fidelity import TokenizerFidelity

__all__ = [
    "BPE_PRE_TOKENIZERS",
    "TOKENIZER_PROBE_TEXTS",
    "GGUFTokenizerSpec",
    "build_tokenizer",
    "check_tokenizer",
    "llama_cpp_token_ids",
    "read_gguf_metadata",
    "read_gguf_tokenizer",
    "save_tokenizer",
    "tokenizer_config",
]

# Token types as llama.cpp's converter writes them (gguf.TokenType).
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6

_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

#: ``tokenizer.ggml.pre`` -> (regexes applied in order, ignore_merges), from llama-vocab.cpp.
BPE_PRE_TOKENIZERS: dict[str, tuple[tuple[str, ...], bool]] = {
    "smollm": ((r"\p{N}", _GPT2), False),
    "starcoder": ((r"\p{N}", _GPT2), False),
    "refact": ((r"\p{N}", _GPT2), False),
    "command-r": ((r"\p{N}", _GPT2), False),
    "codeshell": ((r"\p{N}", _GPT2), False),
    "gpt-2": ((_GPT2,), False),
    "phi-2": ((_GPT2,), False),
    "mpt": ((_GPT2,), False),
    "olmo": ((_GPT2,), False),
    "llama3": ((_LLAMA3,), True),
    "llama-v3": ((_LLAMA3,), True),
    "llama-bpe": ((_LLAMA3,), True),
    "qwen2": ((_QWEN2,), False),
    "stablelm2": ((_QWEN2,), False),
}

#: Texts whose ids must equal llama.cpp's: digits, emoji, special tokens, whitespace, accents.
TOKENIZER_PROBE_TEXTS: tuple[str, ...] = (
    "Hello world",
    "I'm sorry you're going through this. It's okay to feel that way.",
    "Call me at 555-0123 before 10:45, or on 2024-03-17; it costs $1,234.56 (12%).",
    "3.14159265358979 and 1000000 and 007",
    "I feel 😢 today… but 👍🏽 thanks! 🎉🎉",
    "Ünïcödé façade, naïve café — Straße, Ελληνικά, Русский, 日本語のテキスト, 한국어",
    "  leading spaces\tand tabs\n\nnew lines   \n  trailing   ",
    "code: def f(x):\n    return x**2  # square\n",
    "<|im_start|>user\nCan you help me?<|im_end|>\n<|im_start|>assistant\n",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
    "<s>[INST] hello [/INST]</s><bos><eos><|endoftext|>",
    "don't won't it'll we've they'd I'M SHOUTING",
    "a",
    " ",
    "",
    "!!!??? ... --- ***",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GGUFTokenizerSpec:
    """The tokenizer a GGUF describes, read from its ``tokenizer.*`` metadata."""

    model: str
    """``tokenizer.ggml.model``: ``gpt2`` (byte-level BPE) or ``llama`` (sentencepiece BPE)."""
    pre: str
    """``tokenizer.ggml.pre``: llama.cpp's pre-tokenizer name (BPE only; ``default`` if absent)."""
    tokens: tuple[str, ...]
    """Every token's text, indexed by id."""
    token_types: tuple[int, ...]
    """llama.cpp token type per id (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte)."""
    merges: tuple[str, ...]
    """Ranked ``"left right"`` merges (BPE only; empty for sentencepiece)."""
    scores: tuple[float, ...]
    """Piece scores (sentencepiece only; empty for BPE)."""
    bos_token_id: int | None
    eos_token_id: int | None
    unk_token_id: int | None
    pad_token_id: int | None
    eot_token_id: int | None
    """End-of-turn token, when the model has one besides eos (Gemma's ``<end_of_turn>``)."""
    add_bos: bool
    """Whether llama.cpp prepends BOS when it adds special tokens."""
    add_eos: bool
    add_space_prefix: bool
    """Whether llama.cpp prepends a space to text (sentencepiece only)."""
    chat_template: str | None
    context_length: int | None

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.token_types):
            raise ArtifactError(
                "the GGUF's token list and token types differ in length",
                hint="The GGUF is damaged; rebuild it.",
            )
        if self.model not in ("gpt2", "llama"):
            raise ExportError(
                f"tokenizer model {self.model!r} is not supported for re-export",
                hint="Supported: 'gpt2' (byte-level BPE, e.g. SmolLM2) and 'llama' "
                "(sentencepiece BPE, e.g. Gemma).",
            )
        if self.model == "gpt2" and self.pre not in BPE_PRE_TOKENIZERS:
            raise ExportError(
                f"llama.cpp pre-tokenizer {self.pre!r} is not supported",
                hint="Supported: " + ", ".join(sorted(BPE_PRE_TOKENIZERS)) + ".",
            )
        if self.model == "llama" and len(self.scores) != len(self.tokens):
            raise ArtifactError(
                "the GGUF's sentencepiece vocabulary has no score per token",
                hint="The GGUF is damaged; rebuild it.",
            )
        for name in ("bos_token_id", "eos_token_id", "unk_token_id", "pad_token_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < len(self.tokens):
                raise ArtifactError(f"the GGUF's {name} is outside its vocabulary")

    def token(self, token_id: int | None) -> str | None:
        """The text of ``token_id`` (None for None)."""
        return None if token_id is None else self.tokens[token_id]

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q"}
_SCALARS.update({11: "<q", 12: "<d"})
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1"}
_NUMPY.update({10: "<u8", 11: "<i8", 12: "<f8"})
_STRING, _ARRAY = 8, 9


def read_gguf_metadata(gguf_path: Path) -> dict[str, Any]:
    """Every key/value of a GGUF file's header (no tensor data is read).

    A small reader of the GGUF v2/v3 layout (little-endian): the ``gguf`` package's reader
    builds a numpy view per array element, which takes minutes for a 262k-token vocabulary;
    this takes about a second. Arrays of numbers come back as numpy arrays, strings as str.
    """
    import mmap
    import struct

    import numpy as np

    def fail(what: str) -> ArtifactError:
        return ArtifactError(
            f"the base file is not a readable GGUF ({what})",
            hint="Pass a GGUF file written by llama.cpp or the gguf package.",
        )

    with Path(gguf_path).open("rb") as handle:
        try:
            buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError as exc:  # empty file
            raise fail("empty file") from exc
    try:
        if buffer[:4] != b"GGUF":
            raise fail("no GGUF magic")
        version = struct.unpack_from("<I", buffer, 4)[0]
        if version not in (2, 3):
            raise fail(f"unsupported version {version}")
        n_kv = struct.unpack_from("<Q", buffer, 16)[0]
        offset = 24

        def string() -> str:
            nonlocal offset
            (length,) = struct.unpack_from("<Q", buffer, offset)
            offset += 8
            raw = buffer[offset : offset + length]
            offset += length
            return raw.decode("utf-8", errors="replace")

        def value(kind: int) -> Any:
            nonlocal offset
            if kind == _STRING:
                return string()
            if kind == _ARRAY:
                item, count = struct.unpack_from("<IQ", buffer, offset)
                offset += 12
                if item == _STRING:
                    return [string() for _ in range(count)]
                if item in _NUMPY:
                    dtype = np.dtype(_NUMPY[item])
                    array = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset).copy()
                    offset += dtype.itemsize * count
                    return array.astype(bool) if item == 7 else array
                return [value(item) for _ in range(count)]
            if kind in _SCALARS:
                fmt = _SCALARS[kind]
                (result,) = struct.unpack_from(fmt, buffer, offset)
                offset += struct.calcsize(fmt)
                return result
            raise fail(f"unknown value type {kind}")

        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = string()
            (kind,) = struct.unpack_from("<I", buffer, offset)
            offset += 4
            metadata[key] = value(kind)
        return metadata
    except (struct.error, ValueError, IndexError) as exc:
        raise fail("truncated or damaged header") from exc
    finally:
        buffer.close()


def read_gguf_tokenizer(gguf_path: Path) -> GGUFTokenizerSpec:
    """Read the tokenizer metadata of a GGUF file (no tensors are loaded)."""
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise ArtifactError(
            "the base GGUF file does not exist", hint="Pass an existing .gguf file."
        )
    metadata = read_gguf_metadata(gguf_path)
    get = metadata.get
    tokens = get("tokenizer.ggml.tokens")
    if tokens is None:
        raise ArtifactError("the GGUF holds no tokenizer vocabulary (tokenizer.ggml.tokens)")
    model = str(get("tokenizer.ggml.model", "gpt2"))
    types = get("tokenizer.ggml.token_type")
    token_types = tuple(int(t) for t in types) if types is not None else (_NORMAL,) * len(tokens)
    arch = get("general.architecture")
    context = get(f"{arch}.context_length") if arch else None
    is_spm = model == "llama"

    def opt_int(key: str, default: int | None = None) -> int | None:
        value = get(key)
        return default if value is None else int(value)

    return GGUFTokenizerSpec(
        model=model,
        pre=str(get("tokenizer.ggml.pre", "default")),
        tokens=tuple(str(t) for t in tokens),
        token_types=token_types,
        merges=tuple(str(m) for m in get("tokenizer.ggml.merges", ())),
        scores=tuple(float(s) for s in get("tokenizer.ggml.scores", ())),
        bos_token_id=opt_int("tokenizer.ggml.bos_token_id", 1 if is_spm else None),
        eos_token_id=opt_int("tokenizer.ggml.eos_token_id", 2 if is_spm else None),
        unk_token_id=opt_int("tokenizer.ggml.unknown_token_id", 0 if is_spm else None),
        pad_token_id=opt_int("tokenizer.ggml.padding_token_id"),
        eot_token_id=opt_int("tokenizer.ggml.eot_token_id"),
        add_bos=bool(get("tokenizer.ggml.add_bos_token", is_spm)),
        add_eos=bool(get("tokenizer.ggml.add_eos_token", False)),
        add_space_prefix=bool(get("tokenizer.ggml.add_space_prefix", is_spm)) and is_spm,
        chat_template=get("tokenizer.chat_template"),
        context_length=None if context is None else int(context),
    )


def _spm_merges(spec: GGUFTokenizerSpec) -> list[tuple[str, str]]:
    """Merges ranked the way llama.cpp's sentencepiece BPE applies them: by the merged piece's
    score (highest first), every split of a piece into two pieces of the vocabulary."""
    vocab = {tok: i for i, tok in enumerate(spec.tokens)}
    ranked: list[tuple[float, int, int, str, str]] = []
    for piece, score, kind in zip(spec.tokens, spec.scores, spec.token_types, strict=True):
        if kind == _BYTE or len(piece) < 2:
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((-score, vocab[left], vocab[right], left, right))
    ranked.sort()
    return [(left, right) for _, _, _, left, right in ranked]


def build_tokenizer(spec: GGUFTokenizerSpec) -> Tokenizer:
    """The ``tokenizers`` fast tokenizer equivalent to llama.cpp's for ``spec``."""
    try:
        from tokenizers import (
            AddedToken,
            Regex,
            Tokenizer,
            decoders,
            models,
            normalizers,
            pre_tokenizers,
            processors,
        )
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError("tokenizers", "export") from exc

    vocab = {tok: i for i, tok in enumerate(spec.tokens)}
    if len(vocab) != len(spec.tokens):
        raise ArtifactError(
            "the GGUF's vocabulary holds the same token text twice",
            hint="Such a vocabulary cannot be expressed as a tokenizer.json.",
        )
    unk = spec.token(spec.unk_token_id)
    if spec.model == "gpt2":
        regexes, ignore_merges = BPE_PRE_TOKENIZERS[spec.pre]
        merges = [tuple(m.split(" ", 1)) for m in spec.merges]
        if any(len(m) != 2 for m in merges):
            raise ArtifactError("a merge in the GGUF is not two space-separated pieces")
        tokenizer = Tokenizer(
            models.BPE(
                vocab=vocab,
                merges=merges,
                fuse_unk=False,
                byte_fallback=False,
                ignore_merges=ignore_merges,
            )
        )
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(rx), behavior="isolated") for rx in regexes]
            + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
        tokenizer.decoder = decoders.ByteLevel()
    else:
        tokenizer = Tokenizer(
            models.BPE(
                vocab=vocab,
                merges=_spm_merges(spec),
                unk_token=unk,
                fuse_unk=True,
                byte_fallback=True,
            )
        )
        steps: list[Any] = []
        if spec.add_space_prefix:
            steps.append(normalizers.Prepend("▁"))
        steps.append(normalizers.Replace(" ", "▁"))
        tokenizer.normalizer = normalizers.Sequence(steps)
        decode_steps: list[Any] = [decoders.Replace("▁", " "), decoders.ByteFallback()]
        decode_steps.append(decoders.Fuse())
        if spec.add_space_prefix:
            decode_steps.append(decoders.Strip(content=" ", left=1, right=0))
        tokenizer.decoder = decoders.Sequence(decode_steps)

    added = []
    for text, kind in zip(spec.tokens, spec.token_types, strict=True):
        if kind in (_CONTROL, _UNKNOWN):
            added.append(AddedToken(text, special=True, normalized=False))
        elif kind == _USER_DEFINED:
            added.append(AddedToken(text, special=False, normalized=False))
    tokenizer.add_tokens(added)

    single, special_ids = "$A", []
    bos, eos = spec.token(spec.bos_token_id), spec.token(spec.eos_token_id)
    if spec.add_bos and bos is not None:
        single = f"{bos} {single}"
        special_ids.append((bos, spec.bos_token_id))
    if spec.add_eos and eos is not None:
        single = f"{single} {eos}"
        special_ids.append((eos, spec.eos_token_id))
    pair = single + " " + single.replace("$A", "$B")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=special_ids
    )
    return tokenizer


def tokenizer_config(
    spec: GGUFTokenizerSpec, *, model_max_length: int | None = None
) -> dict[str, Any]:
    """``tokenizer_config.json`` for ``PreTrainedTokenizerFast`` (the BOS/EOS behaviour is in
    tokenizer.json's post-processor, which this class uses as is)."""
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": spec.add_bos,
        "add_eos_token": spec.add_eos,
        "clean_up_tokenization_spaces": False,
        # ORTModelForCausalLM.generate rejects token_type_ids
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": model_max_length or spec.context_length or 2048,
        "padding_side": "left",
    }
    for key, token_id in (
        ("bos_token", spec.bos_token_id),
        ("eos_token", spec.eos_token_id),
        ("unk_token", spec.unk_token_id),
        ("pad_token", spec.pad_token_id),
    ):
        if token_id is not None:
            config[key] = spec.tokens[token_id]
    if spec.chat_template:
        config["chat_template"] = spec.chat_template
    return config


def save_tokenizer(
    spec: GGUFTokenizerSpec, out_dir: Path, *, model_max_length: int | None = None
) -> tuple[Path, ...]:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(spec)
    paths = (
        out_dir / "tokenizer.json",
        out_dir / "tokenizer_config.json",
        out_dir / "special_tokens_map.json",
    )
    tokenizer.save(str(paths[0]))
    config = tokenizer_config(spec, model_max_length=model_max_length)
    paths[1].write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    special = {
        k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token") if k in config
    }
    paths[2].write_text(json.dumps(special, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths


# ---------------------------------------------------------------------------------------------
# The check against llama.cpp


def llama_cpp_token_ids(gguf_path: Path, texts: Sequence[str]) -> list[list[int]]:
    """llama.cpp's ids for ``texts`` (vocabulary only; BOS/EOS as the model adds them; special
    tokens parsed, as when a chat template is applied)."""
    from edge_eval.machine import load_llama_cpp

    llama_cpp = load_llama_cpp()
    try:
        llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ArtifactError("llama.cpp could not load the GGUF's vocabulary") from exc
    try:
        return [
            list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)) for text in texts
        ]
    finally:
        llm.close()


def check_tokenizer(
    gguf_path: Path,
    tokenizer: Tokenizer | Path,
    texts: Sequence[str] = TOKENIZER_PROBE_TEXTS,
) -> TokenizerFidelity:
    """Compare ``tokenizer`` (or the tokenizer.json in a folder) with llama.cpp on ``texts``."""
    from edge_eval.export.fidelity import compare_token_ids

    if isinstance(tokenizer, Path):
        from tokenizers import Tokenizer as _Tokenizer

        file = tokenizer / "tokenizer.json" if tokenizer.is_dir() else tokenizer
        tokenizer = _Tokenizer.from_file(str(file))
    reference = llama_cpp_token_ids(gguf_path, texts)
    candidate = [enc.ids for enc in tokenizer.encode_batch(list(texts), add_special_tokens=True)]
    return compare_token_ids(reference, candidate)
