"""synth on the tiny fixture model: well-formed pairs, seeded determinism, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_eval.adapters.generate import GenerationConfig
from edge_eval.adapters.synth import SynthConfig, read_pairs, synthesize_pairs
from edge_eval.errors import ConfigError

GEN = GenerationConfig(max_tokens=6, n_ctx=512)
CLUSTER = "distressing_social_personal"


def _config(model: Path, n: int, **kw: object) -> SynthConfig:
    return SynthConfig(cluster=CLUSTER, n=n, turns=2, model=model, generation=GEN, **kw)


def _files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in ("pairs.jsonl", "conversations.jsonl")}


def test_pairs_are_well_formed(tiny_gguf_f16: Path, tmp_path: Path) -> None:
    result = synthesize_pairs(_config(tiny_gguf_f16, 3), out_dir=tmp_path)
    assert result.conversations == 3
    assert result.pairs + result.empty_turns * 1 >= 3
    records = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(records) == result.pairs == 6
    for record in records:
        assert set(record) == {"context", "chosen", "rejected", "task", "conversation", "turn"}
        assert record["task"] == CLUSTER
        assert record["chosen"].strip() and record["rejected"].strip()
        roles = [m["role"] for m in record["context"]]
        assert roles[0] == "system" and roles[-1] == "user"
        # the stored context is unsteered: the neutral prompt, never the steering prompts
        assert record["context"][0]["content"] == "You are a helpful assistant."
    # turn 2's context holds turn 1's chosen reply
    second = [r for r in records if r["conversation"] == 0 and r["turn"] == 1][0]
    first = [r for r in records if r["conversation"] == 0 and r["turn"] == 0][0]
    assert second["context"][2] == {"role": "assistant", "content": first["chosen"]}
    assert len(list(read_pairs(tmp_path / "pairs.jsonl"))) == 6
    conversations = (tmp_path / "conversations.jsonl").read_text().splitlines()
    assert len(conversations) == 3
    from edge_eval.conversations import load_conversations

    loaded = load_conversations(tmp_path / "conversations.jsonl")
    assert all(c.task == CLUSTER and len(c.assistant_turns) == 2 for c in loaded)


def test_same_seed_same_files_other_seed_other_files(tiny_gguf_f16: Path, tmp_path: Path) -> None:
    synthesize_pairs(_config(tiny_gguf_f16, 2), out_dir=tmp_path / "a")
    synthesize_pairs(_config(tiny_gguf_f16, 2), out_dir=tmp_path / "b")
    synthesize_pairs(_config(tiny_gguf_f16, 2, seed=1), out_dir=tmp_path / "c")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a")["pairs.jsonl"] != _files(tmp_path / "c")["pairs.jsonl"]


def test_resume_writes_what_an_uninterrupted_run_writes(
    tiny_gguf_f16: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    synthesize_pairs(_config(tiny_gguf_f16, 3), out_dir=whole)
    part = tmp_path / "part"
    synthesize_pairs(_config(tiny_gguf_f16, 1), out_dir=part)
    # an interrupted second conversation: a pair written, its conversation line torn
    with (part / "pairs.jsonl").open("a") as handle:
        handle.write(json.dumps({"context": [], "conversation": 1, "turn": 0}) + "\n")
    with (part / "conversations.jsonl").open("a") as handle:
        handle.write('{"id": "torn')
    result = synthesize_pairs(_config(tiny_gguf_f16, 3), out_dir=part)
    assert result.resumed_from == 1
    assert _files(part) == _files(whole)


def test_resume_refuses_other_settings(tiny_gguf_f16: Path, tmp_path: Path) -> None:
    synthesize_pairs(_config(tiny_gguf_f16, 1), out_dir=tmp_path)
    with pytest.raises(ConfigError, match="other settings"):
        synthesize_pairs(_config(tiny_gguf_f16, 1, seed=5), out_dir=tmp_path)


def test_filter_drops_pairs_whose_rejected_side_is_closer(tmp_path: Path) -> None:
    """With the default bundle: a cold, on-task reply vs a gushing one for a writing task."""
    from edge_eval.adapters.synth import filter_pairs

    from .conftest import write_pairs

    pairs = write_pairs(tmp_path / "pairs.jsonl")
    # swap chosen and rejected of the last two pairs: those must be the ones dropped
    lines = pairs.read_text().splitlines()
    swapped = []
    for i, line in enumerate(lines):
        record = json.loads(line)
        if i >= 2:
            record["chosen"], record["rejected"] = record["rejected"], record["chosen"]
        swapped.append(json.dumps(record))
    pairs.write_text("\n".join(swapped) + "\n")
    kept, dropped = filter_pairs(pairs, tmp_path / "kept.jsonl", bundle="default", desired=1.4)
    assert kept + dropped == 4
    assert dropped >= 1
    kept_lines = (tmp_path / "kept.jsonl").read_text().splitlines()
    assert len(kept_lines) == kept
    assert all(line in swapped for line in kept_lines)


def test_synth_cli_json_and_unknown_cluster(run_cli, tiny_gguf_f16: Path, tmp_path: Path) -> None:
    code, out, err = run_cli(
        "synth", "--cluster", CLUSTER, "--n", "1", "--turns", "1", "--max-tokens", "4",
        "--model", f"gguf:{tiny_gguf_f16}", "--out", str(tmp_path / "s"), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["conversations"] == 1
    code, out, err = run_cli(
        "synth", "--cluster", "nope", "--n", "1", "--model", f"gguf:{tiny_gguf_f16}",
        "--out", str(tmp_path / "t"),
    )  # fmt: skip
    assert code == 2
    assert err.startswith("Error: no scenarios for cluster 'nope'")


def test_adapters_import_no_heavy_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, edge_eval.adapters, edge_eval.cli.adapters; "
        "print(sorted(m for m in ('torch','transformers','peft','llama_cpp','onnxruntime') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
