"""Size, load time, decode speed and fidelity of SmolLM2-135M GGUF files on this machine.

    PYTHONPATH=src python benchmarks/bench_gguf.py [--work DIR] [--tokens 64] [--threads 2]

Builds an f16 copy of the shipped Q4_1 file (``dequantize_gguf``), quantizes it to Q8_0 and
Q4_K_M with llama.cpp's quantizer (no gate here: the figures are what is printed), then for
each file measures: size, time to load with llama-cpp-python, greedy decode tokens/s after a
short prompt, and the fidelity figures against the f16 copy on the shipped probe set. Prints a
Markdown table. Timings are single runs; on a shared machine they vary.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _decode_speed(path: Path, tokens: int, threads: int) -> tuple[float, float]:
    from edge_eval.export.probes import import_llama_cpp

    llama_cpp = import_llama_cpp()
    start = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=256, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    load_s = time.perf_counter() - start
    text = "<|im_start|>user\nWrite a short kind note to a friend.<|im_end|>\n"
    text += "<|im_start|>assistant\n"
    prompt = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    llm.eval(prompt)
    start = time.perf_counter()
    for _ in range(tokens):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        llm.eval([nxt])
    decode = tokens / (time.perf_counter() - start)
    llm.close()
    return load_s, decode


def main() -> None:
    from edge_eval.machine import cpu_summary

    print(f"# CPU: {cpu_summary()}", flush=True)  # every figure below depends on it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="folder for the GGUF copies")
    parser.add_argument("--tokens", type=int, default=64, help="tokens to decode")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from edge_eval.export.fidelity import compare_lm_logits
    from edge_eval.export.merge import dequantize_gguf
    from edge_eval.export.models import find_smollm2_gguf
    from edge_eval.export.probes import gguf_logits, gguf_tokenize, load_probe_set
    from edge_eval.quantize.gguf import quantize_gguf_file

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-gguf-"))
    work.mkdir(parents=True, exist_ok=True)
    shipped = find_smollm2_gguf()
    f16 = work / "smollm2-f16.gguf"
    if not f16.exists():
        dequantize_gguf(shipped, f16, outtype="f16")
    files = {"f16 (copy of Q4_1)": f16, "Q4_1 (shipped)": shipped}
    quant_s: dict[str, float] = {}
    for qtype in ("Q8_0", "Q4_K_M"):
        out = work / f"smollm2-{qtype}.gguf"
        start = time.perf_counter()
        quantize_gguf_file(f16, out, qtype, n_threads=args.threads)
        quant_s[qtype] = time.perf_counter() - start
        files[qtype] = out

    ids = gguf_tokenize(shipped, list(load_probe_set().texts))
    reference = gguf_logits(f16, ids, n_threads=args.threads)
    rows = []
    for name, path in files.items():
        load_s, decode = _decode_speed(path, args.tokens, args.threads)
        fig = compare_lm_logits(reference, gguf_logits(path, ids, n_threads=args.threads), ids)
        rows.append(
            f"| {name} | {path.stat().st_size / 1e6:.0f} | {load_s:.2f} | {decode:.0f} | "
            f"{fig.mean_kl:.4f} | {fig.top1_agreement:.3f} | {fig.max_abs_logit_delta:.2f} | "
            f"{fig.max_seq_logprob_delta:.2f} |"
        )
    print(
        f"SmolLM2-135M-Instruct, llama-cpp-python, {args.threads} threads, greedy decode of "
        f"{args.tokens} tokens; fidelity vs the f16 copy on the {len(ids)} shipped probes "
        f"({sum(len(i) for i in ids)} tokens). Quantize time: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in quant_s.items())
    )
    print()
    print(
        "| file | MB | load s | decode tok/s | mean KL | top-1 | max abs dlogit "
        "| max seq dlogprob |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
