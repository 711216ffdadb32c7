"""compare on the tiny model: paired runs, report structure, privacy of the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_eval.adapters.compare import (
    CompareConfig,
    System,
    compare_systems,
    validate_compare_dict,
    write_compare_outputs,
)
from edge_eval.adapters.generate import GenerationConfig
from edge_eval.adapters.scenarios import Split, load_scenarios
from edge_eval.errors import PrivacyViolation

CLUSTERS = ("distressing_social_personal", "work_assignment_writing")


@pytest.fixture(scope="module")
def tiny_compare(tiny_gguf_f32: Path, tiny_adapters_dir: Path) -> object:
    config = CompareConfig(
        conversations=3,
        turns=3,
        clusters=CLUSTERS,
        adapters=tiny_adapters_dir,
        base=tiny_gguf_f32,
        generation=GenerationConfig(max_tokens=5, n_ctx=512),
        min_count=2,
        n_boot=200,
    )
    return compare_systems(config)


def test_every_system_meets_the_same_user_turns(tiny_compare: object) -> None:
    result = tiny_compare
    tables = {s: r.table for s, r in result.results.items()}  # type: ignore[attr-defined]
    assert set(tables) == set(System)
    shapes = {(t.n_conversations, len(t.turn_conv)) for t in tables.values()}
    assert shapes == {(6, 18)}
    for table in tables.values():
        assert list(table.conv_cluster) == list(tables[System.BASELINE].conv_cluster)
        assert list(table.turn_index) == [1, 2, 3] * 6
    # replies differ between systems (steering prompt / adapter), users do not
    scores = {s: tuple(t.turn_score) for s, t in tables.items()}
    assert len(set(scores.values())) == 3


def test_compare_report_structure(tiny_compare: object) -> None:
    d = tiny_compare.summary  # type: ignore[attr-defined]
    validate_compare_dict(d)
    assert d["parameters"]["systems"] == ["baseline", "system-prompt", "adapter"]
    assert [c["cluster"] for c in d["clusters"]] == list(CLUSTERS)
    for group in [*d["clusters"], d["overall"]]:
        entries = {e["system"]: e for e in group["systems"]}
        assert set(entries) == {"baseline", "system-prompt", "adapter"}
        for name, e in entries.items():
            assert e["status"] == "published"
            assert {"perceived", "desired", "error", "gap", "turns"} <= set(e)
            assert e["error"]["low"] <= e["error"]["mean"] <= e["error"]["high"]
            assert len(e["turns"]["cells"]) == 3
            assert "slope" in e["turns"] and "retention" in e["turns"]
            if name == "baseline":
                assert "gap_reduction_pct" not in e
            else:
                gr, sf = e["gap_reduction_pct"], e["score_factor"]
                assert gr is not None and gr["low"] <= gr["high"]
                assert sf is not None and sf["low"] <= sf["high"]
    # the paired point estimate equals what the shared report code computes against the baseline,
    # which divides error means already rounded to 6 decimals: 100 * (1 - e_a / e_b) then moves
    # by up to 100 * 5e-7 * (1 / e_b + e_a / e_b^2), large when the baseline's error is small
    report = tiny_compare.results[System.ADAPTER].report.to_dict()  # type: ignore[attr-defined]
    by_name = {c["cluster"]: c for c in report["baseline"]["clusters"]}
    for ours in d["clusters"]:
        cluster = by_name[ours["cluster"]]
        systems = {e["system"]: e for e in ours["systems"]}
        adapter = systems["adapter"]
        e_b, e_a = systems["baseline"]["error"]["mean"], adapter["error"]["mean"]
        rounding = 100 * 5e-7 * (1 / e_b + e_a / e_b**2)
        assert adapter["gap_reduction_pct"]["mean"] == pytest.approx(
            cluster["gap_reduction_pct"], abs=2 * rounding + 1e-6
        )
        # the score factor likewise divides perceived means rounded to 6 decimals
        p_b, p_a = systems["baseline"]["perceived"]["mean"], adapter["perceived"]["mean"]
        rounding_sf = 5e-7 * (1 / p_b + p_a / p_b**2)
        assert adapter["score_factor"]["mean"] == pytest.approx(
            cluster["score_factor"], abs=2 * rounding_sf + 1e-6
        )


def test_outputs_hold_aggregates_only(tiny_compare: object, tmp_path: Path) -> None:
    hashes = write_compare_outputs(tiny_compare, tmp_path / "out")  # type: ignore[arg-type]
    out = tmp_path / "out"
    for name in ("compare.json", "compare.md", "compare.svg", "compare.html", "manifest.json"):
        assert (out / name).is_file()
    for system in ("baseline", "system-prompt", "adapter"):
        for name in ("report.json", "report.md", "report.html", "manifest.json"):
            assert (out / system / name).is_file()
    assert "adapter/report.json" in hashes
    adapter_report = json.loads((out / "adapter" / "report.json").read_text())
    assert adapter_report["baseline"] is not None  # the same --baseline path `score` has
    svg = (out / "compare.svg").read_text()
    assert svg.count("<polyline") == 3 * (len(CLUSTERS) + 1)  # one line per system per panel
    # the comparison states how far its scorer can be trusted, as the systems' reports do
    validity = json.loads((out / "compare.json").read_text())["parameters"]["scorer_validity"]
    assert validity == adapter_report["parameters"]["scorer_validity"]
    assert [v["set"] for v in validity] == ["ieval", "empathetic_exchanges", "ieval_unseen_chatbot"]
    md = (out / "compare.md").read_text()
    assert "## How far to trust these numbers" in md
    assert "on a chatbot the scorer never saw" in md and "its mean was off by" in md
    assert "How far to trust these numbers" in (out / "compare.html").read_text()
    # no user turn of any scenario, no steering prompt, no path leaves
    scenarios = load_scenarios()
    secrets = [str(tmp_path), "tiny-f32"]
    for cluster in CLUSTERS:
        spec = scenarios.cluster(cluster)
        secrets += [spec.steer_chosen, spec.steer_rejected]
        secrets += [s.opening for s in spec.scenarios(Split.EVAL)]
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for secret in secrets:
                assert secret not in text, path.name


def test_small_cells_are_withheld(tiny_gguf_f32: Path, tiny_adapters_dir: Path) -> None:
    config = CompareConfig(
        systems=(System.BASELINE, System.ADAPTER),
        conversations=2,
        turns=1,
        clusters=("learning_skills",),
        adapters=tiny_adapters_dir,
        base=tiny_gguf_f32,
        generation=GenerationConfig(max_tokens=3, n_ctx=256),
        min_count=11,
        n_boot=100,
    )
    d = compare_systems(config).summary
    for entry in d["clusters"][0]["systems"]:
        assert entry["status"] == "withheld"
        assert set(entry) <= {"system", "status", "gap_reduction_pct", "score_factor"}
        assert entry.get("gap_reduction_pct") is None
    assert d["clusters"][0]["routing_accuracy"] is None


def test_validator_refuses_free_text() -> None:
    d = {
        "schema_version": 1,
        "kind": "edge-eval.compare",
        "parameters": {},
        "clusters": [],
        "overall": {"systems": []},
    }
    with pytest.raises(PrivacyViolation):
        validate_compare_dict(d)
    with pytest.raises(PrivacyViolation):
        validate_compare_dict(d | {"note": "free text"})


def test_validator_refuses_free_text_in_the_scorers_figures(tiny_compare: object) -> None:
    d = json.loads(json.dumps(tiny_compare.summary))  # type: ignore[attr-defined]
    validate_compare_dict(d)
    entry = d["parameters"]["scorer_validity"][0]
    for key, value in (("set", "planted-zz41"), ("protocol", "planted-zz41"), ("n", "12")):
        bad = json.loads(json.dumps(d))
        bad["parameters"]["scorer_validity"][0] = dict(entry, **{key: value})
        with pytest.raises(PrivacyViolation):
            validate_compare_dict(bad)
    bad = json.loads(json.dumps(d))
    bad["parameters"]["scorer_validity"][0]["note"] = "planted-zz41"
    with pytest.raises(PrivacyViolation):
        validate_compare_dict(bad)
    bad["parameters"]["scorer_validity"] = "planted-zz41"
    with pytest.raises(PrivacyViolation):
        validate_compare_dict(bad)


def test_compare_cli(run_cli, tiny_gguf_f32: Path, tiny_adapters_dir: Path, tmp_path: Path) -> None:
    code, out, err = run_cli(
        "compare", "--systems", "baseline,adapter", "--adapters", str(tiny_adapters_dir),
        "--base", str(tiny_gguf_f32), "--conversations", "2", "--turns", "2",
        "--clusters", "learning_skills", "--max-tokens", "3", "--min-count", "2",
        "--n-boot", "100", "--out", str(tmp_path / "c"), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["parameters"]["systems"] == ["baseline", "adapter"]
    code, out, err = run_cli("compare", "--systems", "baseline,nope", "--out", str(tmp_path / "x"))
    assert code == 2 and "unknown system" in err


def test_cache_rescoring_reuses_the_generated_conversations(
    tiny_gguf_f32: Path, tiny_adapters_dir: Path, tmp_path: Path
) -> None:
    config = CompareConfig(
        systems=(System.BASELINE, System.SYSTEM_PROMPT),
        conversations=2,
        turns=1,
        clusters=("learning_skills",),
        base=tiny_gguf_f32,
        generation=GenerationConfig(max_tokens=3, n_ctx=256),
        min_count=2,
        n_boot=100,
        cache=tmp_path / "cache",
    )
    first = compare_systems(config)
    second = compare_systems(config)
    assert first.manifest["generated_from_cache"] == []
    assert second.manifest["generated_from_cache"] == ["baseline", "system-prompt"]
    assert second.summary == first.summary
    other_seed = compare_systems(
        CompareConfig(**{**{f: getattr(config, f) for f in config.__slots__}, "seed": 1})
    )
    assert other_seed.manifest["generated_from_cache"] == []
