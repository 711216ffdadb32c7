"""`validate --epsilon`: agreement figures under DP, Spearman and macro-F1 withheld, charged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from privacy_cases import write_jsonl

from edge_eval.privacy.dp import DPConfig
from edge_eval.privacy.dp_validation import dp_validate_scores
from edge_eval.validation import validate_scores


def labelled_rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        messages: list[dict[str, Any]] = []
        for j in range(3):
            messages.append({"role": "user", "content": f"q {i} {j}"})
            messages.append(
                {"role": "assistant", "content": f"a {i} {j}", "empathy": 1 + (i + j) % 5}
            )
        rows.append(
            {"task": "learning_skills", "perceived_empathy": 1 + i % 5, "messages": messages}
        )
    return rows


def test_dp_figures_track_exact_ones_and_withhold_rank_metrics() -> None:
    rng = np.random.default_rng(0)
    n_conv, per = 20000, 3
    turn_conv = np.repeat(np.arange(n_conv), per)
    human = rng.integers(1, 6, size=n_conv * per).astype(float)
    model = np.clip(human + rng.normal(0, 0.8, size=human.size), 1, 5)
    conv_human = np.full(n_conv, np.nan)
    exact = validate_scores(
        turn_human=human, turn_model=model, turn_conv=turn_conv, conv_human=conv_human, n_boot=100
    )
    noisy, record = dp_validate_scores(
        turn_human=human,
        turn_model=model,
        turn_conv=turn_conv,
        conv_human=conv_human,
        config=DPConfig(epsilon=1.0),
        min_count=11,
    )
    assert record["epsilon_spent"] == pytest.approx(1.0)
    assert record["withheld"] == ["spearman", "macro_f1"]
    for level in ("turn", "conversation"):
        e, d = getattr(exact, level), getattr(noisy, level)
        assert abs(d.n - e.n) < 800  # turn-level count: Laplace scale 80 (sensitivity 10)
        assert abs(d.mae - e.mae) < 0.05 and abs(d.accuracy - e.accuracy) < 0.05
        assert d.to_dict()["spearman"] is None and d.to_dict()["macro_f1"] is None
    # at ε = 4 the noise is small beside the sampling bound: the interval holds the exact MAE
    wide, _ = dp_validate_scores(
        turn_human=human,
        turn_model=model,
        turn_conv=turn_conv,
        conv_human=conv_human,
        config=DPConfig(epsilon=4.0),
        min_count=11,
    )
    for level in ("turn", "conversation"):
        e, d = getattr(exact, level), getattr(wide, level)
        assert d.mae_ci[0] <= e.mae <= d.mae_ci[1]
        assert d.to_dict()["spearman"] is None and d.to_dict()["macro_f1"] is None


def test_a_small_noisy_level_is_withheld() -> None:
    noisy, _ = dp_validate_scores(
        turn_human=[3.0] * 4,
        turn_model=[3.0] * 4,
        turn_conv=[0, 1, 2, 3],
        conv_human=[np.nan] * 4,
        config=DPConfig(epsilon=100.0),
        min_count=11,
    )
    assert noisy.turn is None and noisy.conversation is None


@pytest.mark.usefixtures("fake_model")
def test_cli_validate_epsilon_says_so_and_spends_the_budget(tmp_path: Path, run_cli: Any) -> None:
    data = write_jsonl(tmp_path / "labelled.jsonl", labelled_rows(60))
    ledger = tmp_path / "ledger.sqlite"
    args = ["validate", str(data), "--ledger", str(ledger), "--json"]
    code, out, err = run_cli(*args, "--epsilon", "2")
    assert code == 0, err
    d = json.loads(out)
    assert d["differential_privacy"] == {
        "epsilon": 2.0,
        "delta": 0.0,
        "mechanism": "laplace",
        "withheld": ["spearman", "macro_f1"],
    }
    assert d["conversation"]["spearman"] is None
    code, out, err = run_cli(*args[:-1], "--epsilon", "1")
    assert code == 0 and out.splitlines()[-1].startswith("privacy: differentially private (ε = 1")
    code, _, err = run_cli(*args, "--epsilon", "0.5")  # 3.5 > 3
    assert code == 10 and "already spent up to ε = 3" in err
    code, out, _ = run_cli(*args[:-1])
    assert code == 0 and out.splitlines()[-1].startswith("privacy: NOT differentially private")
