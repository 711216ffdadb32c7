"""ONNX export of a language model, optionally with a LoRA adapter merged in, with a fidelity gate.

    base (GGUF file or HF folder) ─► torch fp32 ─► + peft adapter, merge_and_unload
        ─► merged HF folder (temporary) with the tokenizer rebuilt from the GGUF
        ─► optimum-onnx (text-generation-with-past) ─► onnxruntime logits vs torch logits
        ─► llama.cpp ids vs tokenizer ids ─► manifest.json ─► OUT_DIR (only when every gate passes)

A GGUF base is dequantized by transformers (``from_pretrained(dir, gguf_file=...)``), which is
faithful; its tokenizer is *not* taken from transformers (wrong eos/bos and pre-tokenizer) but
rebuilt from the GGUF's own metadata by :mod:`edge_eval.export.tokenizer` and checked against
llama.cpp id for id.

The ONNX logits are computed in two steps per probe (first half without past key values, second
half with the first half's ``present`` as ``past_key_values``), so the gate covers both the
prompt and the decoding path.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_eval._io import atomic_directory
from edge_eval.errors import ArtifactError, ConfigError, ExportError, MissingDependencyError
from edge_eval.export.fidelity import (
    DEFAULT_GATES,
    GateThresholds,
    LMFidelity,
    TokenizerFidelity,
    compare_lm_logits,
    enforce_gate,
    figures_to_dict,
)
from edge_eval.export.manifest import MANIFEST_NAME, write_artifact_manifest

if TYPE_CHECKING:  # pragma: no cover
    from edge_eval.export.tokenizer import GGUFTokenizerSpec

__all__ = [
    "OnnxArtifact",
    "OnnxExportConfig",
    "export_onnx",
    "merge_lora_adapter",
    "load_probe_token_ids",
    "load_torch_base",
    "onnx_lm_logits",
]

logger = logging.getLogger(__name__)
Progress = Callable[[str], None]

_TASK = "text-generation-with-past"
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "chat_template.jinja",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OnnxExportConfig:
    """What :func:`export_onnx` exports and how it is checked."""

    base: Path
    """A GGUF file, or a Hugging Face model folder (config.json + weights + tokenizer)."""
    adapter: Path | None = None
    """A peft LoRA adapter folder to merge into the base, or None."""
    opset: int | None = None
    """ONNX opset (None: optimum's default for the architecture)."""
    check: bool = True
    """Run the fidelity gates (``--no-check`` turns it off; the manifest records it)."""
    gate: GateThresholds | None = None
    """LM thresholds (None: ``DEFAULT_GATES["onnx-fp32"]``)."""
    probes: Path | None = None
    """A JSON Lines file of probe conversations (None: the shipped probe set)."""
    max_probe_tokens: int = 128
    """Each probe conversation is cut to this many tokens."""

    def __post_init__(self) -> None:
        if self.max_probe_tokens < 2:
            raise ConfigError("max_probe_tokens must be at least 2")
        if self.opset is not None and not 14 <= self.opset <= 23:
            raise ConfigError("opset must be between 14 and 23", hint="Leave it out for 18.")


@dataclass(frozen=True, slots=True, kw_only=True)
class OnnxArtifact:
    """An ONNX language model folder written by :func:`export_onnx` or ``quantize_onnx``."""

    out_dir: Path
    """The folder: model.onnx (+ external data), config, tokenizer, manifest.json."""
    format: str
    """``onnx-fp32``, ``onnx-int8`` or ``onnx-int4``."""
    model_bytes: int
    """Size of the ONNX model (with its external data files)."""
    figures: LMFidelity | None
    """Logit fidelity against the reference (None with ``--no-check``)."""
    tokenizer_figures: TokenizerFidelity | None
    """Token ids against llama.cpp's (None when the base was not a GGUF or with --no-check)."""
    checked: bool

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST_NAME

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "model_bytes": self.model_bytes,
            "checked": self.checked,
            "figures": figures_to_dict(self.figures),
            "tokenizer_figures": figures_to_dict(self.tokenizer_figures),
        }


# ---------------------------------------------------------------------------------------------
# Probes


def load_probe_token_ids(
    tokenizer_dir: Path, probes: Path | None = None, *, max_tokens: int = 128
) -> tuple[list[np.ndarray], str]:
    """The probe set (:func:`edge_eval.export.probes.load_probe_set`: ChatML text) tokenized by
    the ``tokenizer.json`` in ``tokenizer_dir`` with special tokens, as llama.cpp does; returns
    the id arrays (each cut to ``max_tokens``) and the probe file's SHA-256."""
    from tokenizers import Tokenizer

    from edge_eval.export.probes import load_probe_set

    probe_set = load_probe_set(probes)
    file = Path(tokenizer_dir) / "tokenizer.json"
    if not file.is_file():
        raise ConfigError(
            "the model folder has no tokenizer.json, which the fidelity check needs",
            hint="Export with 'edge-eval export onnx', or pass --no-check.",
        )
    tokenizer = Tokenizer.from_file(str(file))
    encodings = tokenizer.encode_batch(list(probe_set.texts), add_special_tokens=True)
    sequences = [
        np.asarray(e.ids[:max_tokens], dtype=np.int64) for e in encodings if len(e.ids) >= 2
    ]
    if not sequences:
        raise ConfigError("no probe conversation gave at least two tokens")
    return sequences, probe_set.sha256


# ---------------------------------------------------------------------------------------------
# onnxruntime


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def _ort_session(model_path: Path) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError("onnxruntime", "export") from exc
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except (RuntimeError, ValueError) as exc:  # onnxruntime's Fail/InvalidGraph derive from these
        raise ArtifactError("onnxruntime could not load the ONNX model") from exc


def onnx_lm_logits(model_path: Path, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Next-token logits ``[T, vocab]`` of an ONNX decoder (optimum layout, with past key
    values) for each id sequence: the first half runs without past, the rest with it."""
    session = _ort_session(model_path)
    inputs = {i.name: i for i in session.get_inputs()}
    if "input_ids" not in inputs:
        raise ArtifactError("the ONNX model has no input_ids input; is it a language model?")
    past = sorted(n for n in inputs if n.startswith("past_key_values."))
    output_names = [o.name for o in session.get_outputs()]
    if "logits" not in output_names:
        raise ArtifactError("the ONNX model has no logits output")
    results: list[np.ndarray] = []
    for ids in sequences:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        cut = max(1, ids.shape[0] // 2) if past else ids.shape[0]
        cache: dict[str, np.ndarray] = {}
        for name in past:
            meta = inputs[name]
            shape = [
                1 if i == 0 else (d if isinstance(d, int) else 0) for i, d in enumerate(meta.shape)
            ]
            shape[2] = 0
            cache[name] = np.zeros(shape, dtype=_ORT_TYPES.get(meta.type, np.float32))
        pieces = []
        for start, stop in ((0, cut), (cut, ids.shape[0])):
            if stop <= start:
                continue
            feed: dict[str, np.ndarray] = {"input_ids": ids[None, start:stop]}
            if "attention_mask" in inputs:
                feed["attention_mask"] = np.ones((1, stop), dtype=np.int64)
            if "position_ids" in inputs:
                feed["position_ids"] = np.arange(start, stop, dtype=np.int64)[None, :]
            feed.update(cache)
            outputs = dict(zip(output_names, session.run(output_names, feed), strict=True))
            pieces.append(np.asarray(outputs["logits"][0], dtype=np.float32))
            cache = {name: outputs[name.replace("past_key_values.", "present.")] for name in past}
        results.append(np.concatenate(pieces, axis=0))
    return results


def onnx_model_files(folder: Path) -> list[Path]:
    """model.onnx and its external data files in ``folder``."""
    return sorted(
        p for p in Path(folder).iterdir() if p.is_file() and p.name.startswith("model.onnx")
    )


# ---------------------------------------------------------------------------------------------
# torch side


def _torch_modules() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("torch", "export") from exc
    return torch, transformers


def _load_base(
    config: OnnxExportConfig, progress: Progress
) -> tuple[Any, GGUFTokenizerSpec | None]:
    torch, transformers = _torch_modules()
    base = Path(config.base)
    spec = None
    if base.is_file():
        from edge_eval.export.tokenizer import read_gguf_tokenizer

        spec = read_gguf_tokenizer(base)
        progress("dequantizing the GGUF base into torch fp32")
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(base.parent), gguf_file=base.name, dtype=torch.float32, local_files_only=True
            )
        except (ValueError, KeyError, OSError, RuntimeError, NotImplementedError) as exc:
            raise ExportError(
                "transformers could not load the GGUF base",
                hint="The architecture may not be supported by transformers' GGUF loader; "
                "export from a Hugging Face folder instead.",
            ) from exc
        for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
            value = getattr(spec, attr)
            setattr(model.config, attr, value)
            if model.generation_config is not None:
                setattr(model.generation_config, attr, value)
        if spec.eot_token_id is not None and spec.eos_token_id is not None:
            model.generation_config.eos_token_id = sorted({spec.eos_token_id, spec.eot_token_id})
    elif base.is_dir():
        if not (base / "config.json").is_file():
            raise ConfigError(
                "the base folder has no config.json",
                hint="Pass a GGUF file or a Hugging Face model folder.",
            )
        progress("loading the Hugging Face base")
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(base), dtype=torch.float32, local_files_only=True
            )
        except (ValueError, KeyError, OSError, RuntimeError) as exc:
            raise ExportError("transformers could not load the base model folder") from exc
        if not (base / "tokenizer.json").is_file():
            raise ConfigError(
                "the base folder has no tokenizer.json",
                hint="Save the tokenizer with the model (a fast tokenizer).",
            )
    else:
        raise ConfigError("the base does not exist", hint="Pass a GGUF file or a model folder.")
    model.eval()
    return model, spec


def load_torch_base(base: Path, progress: Progress | None = None) -> tuple[Any, Any]:
    """The fp32 torch model of a base (a GGUF is dequantized) in eval mode, and the GGUF's
    tokenizer spec (None for a Hugging Face folder). Shared with adapter training."""
    return _load_base(OnnxExportConfig(base=Path(base)), progress or (lambda message: None))


def _check_adapter(model: Any, adapter: Path) -> None:
    """Refuse an adapter whose files are damaged or whose targets/shapes don't fit the base,
    naming the module (module names are model structure, never user data)."""
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError("safetensors", "export") from exc
    config_file = adapter / "adapter_config.json"
    weights = adapter / "adapter_model.safetensors"
    if not config_file.is_file() or not weights.is_file():
        raise ArtifactError(
            "the adapter folder lacks adapter_config.json or adapter_model.safetensors",
            hint="Pass a folder written by peft's save_pretrained (safetensors).",
        )
    try:
        adapter_config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError("the adapter's adapter_config.json is not valid JSON") from exc
    if not isinstance(adapter_config, dict) or adapter_config.get("peft_type") != "LORA":
        raise ArtifactError("the adapter is not a peft LoRA adapter (peft_type must be LORA)")
    try:
        with safe_open(str(weights), framework="numpy") as handle:
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(
            "the adapter's adapter_model.safetensors is damaged",
            hint="Re-save the adapter with peft.",
        ) from exc
    modules = dict(model.named_modules())
    problems: list[str] = []
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        for part in ("lora_A", "lora_B"):
            marker = f".{part}."
            if marker in key:
                module = key.split(marker)[0].removeprefix("base_model.model.")
                pairs.setdefault(module, {})[part] = shape
    if not pairs:
        raise ArtifactError("the adapter holds no LoRA weights")
    for module_name, parts in sorted(pairs.items()):
        module = modules.get(module_name)
        if module is None:
            problems.append(f"{module_name}: no such module in the base")
            continue
        a, b = parts.get("lora_A"), parts.get("lora_B")
        if a is None or b is None:
            problems.append(f"{module_name}: lora_A or lora_B missing")
            continue
        in_f, out_f = getattr(module, "in_features", None), getattr(module, "out_features", None)
        if in_f is None or out_f is None:
            continue  # not a Linear layer (e.g. embeddings): peft checks those itself
        if len(a) != 2 or len(b) != 2 or a[1] != in_f or b[0] != out_f or a[0] != b[1]:
            problems.append(
                f"{module_name}: LoRA A{list(a)} B{list(b)} does not fit a {in_f}->{out_f} layer"
            )
    if problems:
        raise ExportError(
            "the adapter does not match the base: " + "; ".join(problems),
            hint="Use the adapter with the base model it was trained on.",
        )


def merge_lora_adapter(model: Any, adapter: Path, progress: Progress) -> Any:
    """The torch ``model`` with a peft LoRA adapter merged in (checked against it first).

    Shared by the LM and the reward-model exports; an adapter that does not fit is refused
    with an :class:`ExportError` naming the module.
    """
    try:
        import peft
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError("peft", "export") from exc
    _check_adapter(model, adapter)
    progress("merging the LoRA adapter (peft merge_and_unload)")
    try:
        merged = peft.PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
        return merged.merge_and_unload().eval()
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        raise ExportError(
            "peft could not apply the adapter to the base",
            hint="Check that the adapter was trained on this base model.",
        ) from exc


def _torch_logits(model: Any, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
    torch, _ = _torch_modules()
    out = []
    with torch.no_grad():
        for ids in sequences:
            tensor = torch.from_numpy(np.asarray(ids, dtype=np.int64)[None, :])
            logits = model(input_ids=tensor, attention_mask=torch.ones_like(tensor)).logits
            out.append(logits[0].float().numpy().copy())
    return out


# ---------------------------------------------------------------------------------------------
# The stage


def export_onnx(
    config: OnnxExportConfig, *, out_dir: Path, progress: Progress | None = None
) -> OnnxArtifact:
    """Export ``config.base`` (+ ``config.adapter`` merged) to an ONNX decoder with past key
    values in ``out_dir``; with ``config.check``, refuse (keeping nothing) unless the ONNX logits
    match torch's and the tokenizer's ids match llama.cpp's on the probe set."""
    report: Progress = progress or (lambda message: logger.info("%s", message))
    adapter = Path(config.adapter) if config.adapter is not None else None
    if adapter is not None and not adapter.is_dir():
        raise ConfigError("the adapter folder does not exist", hint="Pass a peft adapter folder.")
    gate = config.gate or DEFAULT_GATES["onnx-fp32"]
    model, spec = _load_base(config, report)
    if adapter is not None:
        model = merge_lora_adapter(model, adapter, report)

    try:
        from optimum.exporters.onnx import main_export
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("optimum-onnx", "export") from exc

    with tempfile.TemporaryDirectory(prefix="edge-eval-merged-") as tmp:
        merged_dir = Path(tmp) / "merged"
        report("saving the merged model")
        model.save_pretrained(merged_dir, safe_serialization=True)
        tokenizer_source = merged_dir
        if spec is not None:
            from edge_eval.export.tokenizer import save_tokenizer

            save_tokenizer(spec, merged_dir)
        else:
            for name in _TOKENIZER_FILES:
                if (Path(config.base) / name).is_file():
                    shutil.copy2(Path(config.base) / name, merged_dir / name)
        probe_ids: list[np.ndarray] = []
        probe_digest: str | None = None
        reference: list[np.ndarray] = []
        if config.check:
            probe_ids, probe_digest = load_probe_token_ids(
                tokenizer_source, config.probes, max_tokens=config.max_probe_tokens
            )
            report(f"computing torch reference logits on {len(probe_ids)} probes")
            reference = _torch_logits(model, probe_ids)
        del model

        with atomic_directory(Path(out_dir)) as staging:
            report("exporting with optimum-onnx (text-generation-with-past)")
            try:
                main_export(
                    str(merged_dir),
                    output=str(staging),
                    task=_TASK,
                    opset=config.opset,
                    device="cpu",
                    do_validation=False,
                    local_files_only=True,
                )
            except (ValueError, KeyError, RuntimeError, OSError) as exc:
                raise ExportError(
                    "optimum-onnx could not export the model",
                    hint="Rerun with --debug to see the exporter's error.",
                ) from exc
            # The exporter re-saves the tokenizer through transformers; ship ours unchanged.
            for name in _TOKENIZER_FILES:
                (staging / name).unlink(missing_ok=True)
                if (merged_dir / name).is_file():
                    shutil.copy2(merged_dir / name, staging / name)
            model_files = onnx_model_files(staging)
            if not (staging / "model.onnx").is_file():
                raise ExportError("optimum-onnx wrote no model.onnx")

            figures = tok_figures = None
            if config.check:
                report("checking onnxruntime logits against torch")
                candidate = onnx_lm_logits(staging / "model.onnx", probe_ids)
                figures = compare_lm_logits(reference, candidate, probe_ids)
                if spec is not None:
                    tok_figures = _tokenizer_fidelity(Path(config.base), staging, report)
                enforce_gate(figures, gate, what="the ONNX export")
                if tok_figures is not None:
                    enforce_gate(
                        tok_figures, DEFAULT_GATES["tokenizer"], what="the exported tokenizer"
                    )
            references: dict[str, Path] = {"base": Path(config.base)}
            if adapter is not None:
                references["adapter"] = adapter
            write_artifact_manifest(
                staging / MANIFEST_NAME,
                artifact_files=sorted(p for p in staging.iterdir() if p.is_file()),
                reference_files=references,
                probe_set_sha256=probe_digest,
                figures=figures,
                thresholds=gate if config.check else None,
                checked=config.check,
                command="export onnx",
                extra={
                    "format": "onnx-fp32",
                    "task": _TASK,
                    "opset": _opset_of(staging / "model.onnx"),
                    "adapter_merged": adapter is not None,
                    "base_kind": "gguf" if spec is not None else "hf",
                    "tokenizer": "rebuilt from GGUF metadata" if spec else "copied from base",
                    "tokenizer_fidelity": figures_to_dict(tok_figures) if tok_figures else None,
                    "reference_runtime": "torch fp32",
                    "execution_providers": ["CPUExecutionProvider"],
                },
            )
            model_bytes = sum(p.stat().st_size for p in model_files)
    return OnnxArtifact(
        out_dir=Path(out_dir),
        format="onnx-fp32",
        model_bytes=model_bytes,
        figures=figures,
        tokenizer_figures=tok_figures,
        checked=config.check,
    )


def _tokenizer_fidelity(gguf_path: Path, folder: Path, report: Progress) -> TokenizerFidelity:
    from edge_eval.export.tokenizer import check_tokenizer

    report("checking tokenizer ids against llama.cpp")
    return check_tokenizer(gguf_path, folder / "tokenizer.json")


def _opset_of(model_path: Path) -> int | None:
    try:
        import onnx
    except ImportError:  # pragma: no cover
        return None
    proto = onnx.load(str(model_path), load_external_data=False)
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None
