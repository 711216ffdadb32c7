"""Differential privacy: OpenDP calibration, the DP report, the missing-extra error."""

from __future__ import annotations

import builtins
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from privacy_cases import CLUSTERS, SIZES, rows_for, write_jsonl

from edge_eval.errors import ConfigError, MissingDependencyError
from edge_eval.privacy.dp import DEFAULT_SPLIT, ClusterSums, DPConfig, release_dp
from edge_eval.report.schema import report_problems
from edge_eval.scoring import ScoreConfig, score


def sums(n: float, p: float, turns: int = 10) -> ClusterSums:
    cells = np.full(turns, n)
    return ClusterSums(
        n=n,
        sum_d=0.5 * n,
        sum_p=p * n,
        sum_e=0.2 * n,
        n_under=0.1 * n,
        n_over=0.3 * n,
        cell_n=cells,
        cell_p=cells * p,
    )


def test_laplace_scales_follow_the_split_and_spend_exactly_epsilon() -> None:
    release = release_dp([sums(100, 0.5)] * 4, DPConfig(epsilon=2.0))
    acc = release.accounting
    assert acc["mechanism"] == "laplace" and acc["epsilon_spent"] == pytest.approx(2.0)
    for key, share in DEFAULT_SPLIT.items():
        vector = acc["released"][key]
        sensitivity = 10.0 if key.startswith("cell") else 1.0
        assert vector["sensitivity"] == sensitivity
        assert vector["scale"] == pytest.approx(sensitivity / (share * 2.0), rel=1e-6)
        assert vector["loss"] <= share * 2.0 + 1e-12


def test_gaussian_with_delta_stays_within_epsilon_and_delta() -> None:
    acc = release_dp([sums(100, 0.5)], DPConfig(epsilon=1.0, delta=1e-6)).accounting
    assert acc["mechanism"] == "gaussian-zcdp" and acc["delta"] == 1e-6
    assert acc["epsilon_spent"] <= 1.0 + 1e-9
    assert acc["epsilon_spent"] > 0.95  # the budget is used, not wasted
    assert acc["released"]["cell_n"]["sensitivity"] == pytest.approx(math.sqrt(10))


def test_the_noise_has_the_calibrated_spread() -> None:
    config = DPConfig(epsilon=1.0)
    draws = np.array(
        [float(release_dp([sums(100, 0.5)], config).clusters[0].values["n"]) for _ in range(1000)]
    )
    scale = 1.0 / DEFAULT_SPLIT["n"]  # sensitivity 1, ε share 0.2 -> Laplace(5)
    assert abs(draws.mean() - 100) < 1.2  # 5 standard errors
    assert draws.std() == pytest.approx(scale * math.sqrt(2), rel=0.15)


def test_config_checks_itself() -> None:
    with pytest.raises(ConfigError, match="--epsilon must be a positive number"):
        DPConfig(epsilon=0.0)
    with pytest.raises(ConfigError, match="--delta"):
        DPConfig(epsilon=1.0, delta=0.5)
    with pytest.raises(ConfigError, match="add up to 1"):
        DPConfig(epsilon=1.0, split={**DEFAULT_SPLIT, "n": 0.9})
    with pytest.raises(ConfigError, match="--delta needs --epsilon"):
        ScoreConfig(delta=1e-6)


@pytest.mark.usefixtures("fake_model")
def test_dp_report_is_valid_says_so_and_withholds_what_it_cannot_release(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", rows_for({**SIZES, CLUSTERS[0]: 300}, turns=4))
    result = score(data, ScoreConfig(epsilon=1.0, ledger=tmp_path / "l.sqlite"))
    d = result.report.to_dict()
    assert report_problems(d) == []
    assert d["parameters"]["differential_privacy"] == {
        "epsilon": 1.0,
        "delta": 0.0,
        "mechanism": "laplace",
    }
    assert d["parameters"]["interval"] == "dp_normal"
    big = next(c for c in d["clusters"] if c["cluster"] == CLUSTERS[0])
    assert big["status"] == "published"
    assert abs(big["n"] - 300) < 60  # noisy, but a count near the truth
    assert big["turns"]["retention"] is None  # needs per-conversation thirds: withheld
    assert big["perceived"]["low"] <= big["perceived"]["mean"] <= big["perceived"]["high"]
    # an empty cluster is not announced as empty under DP: its noisy count decided
    empty = write_jsonl(tmp_path / "two.jsonl", rows_for({CLUSTERS[0]: 40}, start=5000))
    d2 = score(empty, ScoreConfig(epsilon=1.0, ledger=tmp_path / "l.sqlite")).report.to_dict()
    assert {c["status"] for c in d2["clusters"][1:]} <= {"withheld", "published"}
    from edge_eval.report import render_markdown, render_terminal

    assert "differentially private (ε = 1, laplace noise" in render_terminal(d)
    assert "differentially private (ε = 1" in render_markdown(d)


@pytest.mark.usefixtures("fake_model")
def test_dp_figures_track_the_exact_ones_on_a_large_cluster(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", rows_for({CLUSTERS[0]: 2000}))
    exact = score(data, ScoreConfig(use_ledger=False)).report.to_dict()["clusters"][0]
    noisy = score(data, ScoreConfig(epsilon=1.0, ledger=tmp_path / "l")).report.to_dict()
    n = noisy["clusters"][0]
    for key in ("desired", "perceived", "gap", "error"):
        assert abs(n[key]["mean"] - exact[key]["mean"]) < 0.05
        assert n[key]["low"] <= exact[key]["mean"] <= n[key]["high"]


def test_missing_opendp_is_a_clear_error_before_scoring(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run_cli: Any
) -> None:
    real_import = builtins.__import__

    def no_opendp(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opendp"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_opendp)
    data = write_jsonl(tmp_path / "in.jsonl", rows_for(SIZES))
    with pytest.raises(MissingDependencyError):
        release_dp([sums(10, 0.5)], DPConfig(epsilon=1.0))
    code, out, err = run_cli("score", str(data), "--json", "--epsilon", "1")
    assert code == 3 and out == ""
    assert err == (
        "Error: this feature needs the Python package 'opendp', which is not installed\n"
        "Hint: pip install 'edge-eval[privacy]'\n"
    )


@pytest.mark.usefixtures("fake_model")
def test_cli_epsilon_writes_the_dp_manifest(tmp_path: Path, run_cli: Any) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", rows_for(SIZES))
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        "score",
        str(data),
        "--out",
        str(out),
        "--epsilon",
        "0.5",
        "--delta",
        "1e-7",
        "--no-progress",
    )
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    dp = manifest["privacy"]["differential_privacy"]
    assert (dp["mechanism"], dp["epsilon"], dp["delta"]) == ("gaussian-zcdp", 0.5, 1e-7)
    assert "differentially private (ε = 0.5, δ = 1e-07" in stdout
