"""Sharded scoring: shards are cut where a local run flushes, and Ray/Dask reproduce `score`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_eval.engines import EngineConfig, plan_shards, score_sharded, score_shards_locally
from edge_eval.errors import ConfigError, InputError
from edge_eval.scoring import ScoreConfig, chunk_boundaries, score
from edge_eval.tasks.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "conversations.jsonl"
# a small slice, scored in chunks of ~24 turns: several shards, a short test
CONFIG = ScoreConfig(chunk_turns=24, min_count=3, use_ledger=False)


@pytest.fixture(scope="module")
def slice_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slice") / "part.jsonl"
    path.write_text("".join(EXAMPLE.read_text().splitlines(keepends=True)[:24]))
    return path


@pytest.fixture(scope="module")
def local(slice_file: Path) -> dict:
    return score(slice_file, CONFIG).report.to_dict()


def test_chunks_tile_the_file_and_shards_group_them(slice_file: Path) -> None:
    chunks = chunk_boundaries(slice_file, load_profile(None), CONFIG)
    assert chunks[0].start == 0 and chunks[-1].stop == slice_file.stat().st_size
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.stop == b.start
    lines = slice_file.read_bytes().splitlines(keepends=True)
    for c in chunks:  # every chunk starts at the start of its first line
        assert c.start == sum(len(x) for x in lines[: c.first_line - 1])
    shards = plan_shards([slice_file], CONFIG, n_shards=3)
    assert 2 <= len(shards) <= 4
    assert [s[0].start for s in shards][0] == 0 and shards[-1][0].stop == chunks[-1].stop


def test_sharded_in_one_process_equals_score(slice_file: Path, local: dict) -> None:
    result = score_sharded(
        slice_file, CONFIG, EngineConfig(engine="dask", workers=3), runner=score_shards_locally
    )
    assert result.shards >= 3
    assert result.report.to_dict() == local


def test_a_bad_line_fails_before_any_worker_starts(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(EXAMPLE.read_text().splitlines()[0] + "\n{not json\n")

    def runner(*args: object) -> list:
        raise AssertionError("no worker may start")

    with pytest.raises(InputError, match="line 2"):
        score_sharded(path, CONFIG, EngineConfig(engine="ray"), runner=runner)


def test_engine_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="workers"):
        EngineConfig(engine="dask", workers=0)
    with pytest.raises(ValueError):
        EngineConfig(engine="spark")


@pytest.mark.engines
def test_dask_local_cluster_reproduces_score(slice_file: Path, local: dict) -> None:
    pytest.importorskip("distributed")
    result = score_sharded(slice_file, CONFIG, EngineConfig(engine="dask", workers=2))
    assert result.shards >= 2
    assert result.report.to_dict() == local


@pytest.mark.engines
def test_ray_local_cluster_reproduces_score(slice_file: Path, local: dict) -> None:
    ray = pytest.importorskip("ray")
    result = score_sharded(slice_file, CONFIG, EngineConfig(engine="ray", workers=2))
    assert not ray.is_initialized()  # the local cluster was shut down
    assert result.report.to_dict() == local


@pytest.mark.engines
def test_cli_engine_dask_prints_the_local_report(
    slice_file: Path, local: dict, run_cli: object, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    # the CLI's default chunk size gives one shard here: still the same report
    want = score(slice_file, ScoreConfig(min_count=3, use_ledger=False)).report.to_dict()
    code, out, err = run_cli(  # type: ignore[operator]
        "score",
        str(slice_file),
        "--engine",
        "dask",
        "--workers",
        "2",
        "--min-count",
        "3",
        "--json",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    assert json.loads(out) == want
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == want


PLANTED = "zq_planted_shard_77"


def test_what_a_worker_sends_back_holds_no_text_id_or_path(tmp_path: Path) -> None:
    import pickle

    rows = []
    for line in EXAMPLE.read_text().splitlines()[:6]:
        row = json.loads(line)
        row["id"] = f"{PLANTED}-{row.get('id', '')}"
        for m in row["messages"]:
            m["content"] = f"{m['content']} {PLANTED}"
        rows.append(json.dumps(row))
    path = tmp_path / f"{PLANTED}.jsonl"
    path.write_text("\n".join(rows) + "\n")
    sent: list = []

    def runner(config: ScoreConfig, engine: EngineConfig, shards: list) -> list:
        outcomes = score_shards_locally(config, engine, shards)
        sent.extend(outcomes)
        return outcomes

    score_sharded(path, CONFIG, EngineConfig(engine="ray"), runner=runner)
    blob = pickle.dumps(sent) + json.dumps([o.partial for o in sent]).encode()
    assert sent and PLANTED.encode() not in blob and str(tmp_path).encode() not in blob


def test_the_engines_are_imported_only_when_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys, edge_eval, edge_eval.engines, edge_eval.engines.federated; "
        "edge_eval.score_sharded; edge_eval.ScorePartial; "
        "print(sorted(m for m in ('ray', 'distributed', 'dask', 'flwr') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
