"""Prompt and decode speed of the shipped SmolLM2 GGUF under different llama-cpp-python builds.

    python benchmarks/bench_llama_build.py chosen=~/.cache/edge-eval/wheels/<key>/*.whl \
        native=/tmp/native/llama_cpp_python-0.3.36-*.whl [--rounds 3] [--threads 2]

Each wheel is unpacked into its own folder and timed in a fresh process (prompt: one 400-token
evaluation; decode: 64 greedy tokens), interleaved over rounds, best round kept. Prints the CPU
and each build's llama.cpp feature list next to the figures (a script, not a test).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CHILD = r"""
import json, sys, time
import llama_cpp
from edge_eval.export.models import find_smollm2_gguf
llm = llama_cpp.Llama(model_path=str(find_smollm2_gguf()), n_ctx=1024, n_threads=int(sys.argv[1]),
                      verbose=False)
prompt = llm.tokenize(("Tell me about the history of the printing press in Europe. " * 40).encode())
prompt = prompt[:400]
t0 = time.perf_counter(); llm.eval(prompt); t_prompt = time.perf_counter() - t0
llm.reset()
llm.eval(prompt[:16])
t0 = time.perf_counter()
for _ in range(64):
    token = llm.sample(temp=0.0)
    llm.eval([token])
t_decode = time.perf_counter() - t0
info = llama_cpp.llama_print_system_info().decode().replace("CPU :", "")
features = [f.split("=")[0].strip() for f in info.split("|") if "= 1" in f]
print(json.dumps({"prompt_tps": len(prompt) / t_prompt, "decode_tps": 64 / t_decode,
                  "features": features}))
"""


def main() -> None:
    from edge_eval.machine import cpu_summary

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="+", help="NAME=WHEEL")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    print(f"# CPU: {cpu_summary()}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="bench-llama-"))
    sites = {}
    for spec in args.builds:
        name, wheel = spec.split("=", 1)
        site = root / name
        with zipfile.ZipFile(Path(wheel).expanduser()) as archive:
            archive.extractall(site)
        for lib in (site / "llama_cpp" / "lib").glob("*.so*"):
            lib.chmod(0o755)
        sites[name] = site
    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, site in sites.items():
            env = dict(
                os.environ, PYTHONPATH=f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
            )
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.threads)],
                env=env, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            row = json.loads(out.strip().splitlines()[-1])
            prev = best.get(name)
            if prev is None or row["decode_tps"] > prev["decode_tps"]:
                best[name] = {
                    **row,
                    "prompt_tps": max(row["prompt_tps"], (prev or row)["prompt_tps"]),
                }
    print(f"SmolLM2-135M-Instruct Q4_1, {args.threads} threads, best of {args.rounds} rounds\n")
    print("| build | prompt tok/s (400 tokens) | decode tok/s (64 tokens) | llama.cpp features |")
    print("|---|---:|---:|---|")
    for name, row in best.items():
        print(f"| {name} | {row['prompt_tps']:.0f} | {row['decode_tps']:.1f} | "
              f"{' '.join(row['features'])} |")  # fmt: skip


if __name__ == "__main__":
    main()
