"""The privacy ledger: budget per conversation, overlap control, and the differencing attack."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from privacy_cases import CLUSTERS, SIZES, rows_for, write_jsonl

from edge_eval.errors import PrivacyViolation
from edge_eval.privacy.ledger import BudgetExceededError, Charge, PrivacyLedger
from edge_eval.scoring import ScoreConfig, score

pytestmark = pytest.mark.usefixtures("fake_model")


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    rows = rows_for(SIZES)
    target = 7  # a conversation of the first cluster
    return {
        "full": write_jsonl(tmp_path / "full.jsonl", rows),
        "minus": write_jsonl(tmp_path / "minus.jsonl", rows[:target] + rows[target + 1 :]),
        "minus2": write_jsonl(tmp_path / "minus2.jsonl", rows[1:target] + rows[target + 1 :]),
    }


def cluster_p(report: dict[str, Any], name: str) -> tuple[int, float]:
    group = next(c for c in report["clusters"] if c["cluster"] == name)
    return group["n"], group["perceived"]["mean"]


def test_without_the_ledger_two_exact_reports_reveal_one_conversation(
    files: dict[str, Path],
) -> None:
    """The attack the ledger exists for: suppression alone does not stop it."""
    off = ScoreConfig(use_ledger=False)
    full = score(files["full"], off)
    minus = score(files["minus"], off)
    n1, m1 = cluster_p(full.report.to_dict(), CLUSTERS[0])
    n2, m2 = cluster_p(minus.report.to_dict(), CLUSTERS[0])
    assert (n1, n2) == (30, 29)  # both published: k = 11 is met
    recovered = n1 * m1 - n2 * m2
    truth = (full.table.conv_perceived[7] - 1) / 4
    assert recovered == pytest.approx(truth, abs=1e-3)


def test_the_ledger_refuses_the_exact_differencing_run(
    files: dict[str, Path], tmp_path: Path, run_cli: Any
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    score(files["full"], ScoreConfig(ledger=ledger))
    score(files["full"], ScoreConfig(ledger=ledger))  # the same data again reveals nothing new
    with pytest.raises(BudgetExceededError, match="fewer than k = 11"):
        score(files["minus"], ScoreConfig(ledger=ledger))
    out = tmp_path / "out"
    code, _, err = run_cli(
        "score", str(files["minus"]), "--out", str(out), "--ledger", str(ledger), "--no-progress"
    )
    assert code == 10
    assert "Error: this report would publish a cell whose conversations differ" in err
    assert "Hint: Nothing was written." in err
    assert not out.exists()


def test_dp_runs_are_charged_per_conversation_until_the_budget_is_spent(
    files: dict[str, Path], tmp_path: Path, run_cli: Any
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    first = score(files["full"], ScoreConfig(ledger=ledger, epsilon=1.0))
    # the differencing run is allowed under DP, and charged to every shared conversation
    second = score(files["minus"], ScoreConfig(ledger=ledger, epsilon=1.0))
    assert first.manifest.privacy["ledger"]["epsilon_spent_max"] == 1.0
    assert second.manifest.privacy["ledger"]["epsilon_spent_max"] == 2.0
    # a third release of (almost) the same conversations would take them to 3.5 > 3
    out = tmp_path / "out"
    code, _, err = run_cli(
        "score",
        str(files["minus2"]),
        "--out",
        str(out),
        "--ledger",
        str(ledger),
        "--epsilon",
        "1.5",
        "--no-progress",
    )
    assert code == 10 and not out.exists()
    assert err.splitlines()[0] == (
        "Error: this run would spend ε = 1.5 on conversations that have already spent up to "
        "ε = 2 of the budget 3"
    )
    # a smaller release still fits; a bigger budget is the operator's explicit choice
    score(files["minus2"], ScoreConfig(ledger=ledger, epsilon=1.0))
    with pytest.raises(BudgetExceededError):
        score(files["minus2"], ScoreConfig(ledger=ledger, epsilon=0.1))
    score(files["minus2"], ScoreConfig(ledger=ledger, epsilon=0.1, budget=3.5))


def test_dp_differencing_estimate_is_swamped_by_noise() -> None:
    """Two DP releases of sums that differ by one conversation: their difference estimates that
    conversation's p (in [0, 1]) with noise of standard deviation ~10 at ε = 1 per release."""
    from edge_eval.privacy.dp import ClusterSums, DPConfig, release_dp

    def sums(n: float, total: float) -> list[ClusterSums]:
        zeros = np.zeros(10)
        return [
            ClusterSums(
                n=n, sum_d=0, sum_p=total, sum_e=0, n_under=0, n_over=0, cell_n=zeros, cell_p=zeros
            )
        ]

    truth = 0.9
    estimates = []
    for _ in range(1000):
        a = release_dp(sums(30, 15.0 + truth), DPConfig(epsilon=1.0)).clusters[0]
        b = release_dp(sums(29, 15.0), DPConfig(epsilon=1.0)).clusters[0]
        estimates.append(float(a.values["sum_p"]) - float(b.values["sum_p"]))
    spread = float(np.std(estimates))
    assert 7.0 < spread < 14.0  # two Laplace(5) draws: sd = 5 * sqrt(2) * sqrt(2) = 10
    # the estimate says nothing useful about a value in [0, 1]
    assert np.mean(np.abs(np.array(estimates) - truth) < 0.5) < 0.15


def test_epsilon_above_the_budget_is_refused_before_any_work() -> None:
    with pytest.raises(BudgetExceededError, match="more than the budget"):
        ScoreConfig(epsilon=4.0)


def test_two_dp_runs_at_once_cannot_both_spend_the_last_budget(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with PrivacyLedger.open(path) as ledger:
        members = [ledger.member(bytes([i])) for i in range(50)]
        ledger.record(
            members,
            Charge(
                epsilon=2.0, delta=0, budget=3.0, min_count=11, parameters={"mechanism": "laplace"}
            ),
        )
    outcomes: list[str] = []

    def spend() -> None:
        with PrivacyLedger.open(path) as own:
            try:
                own.record(
                    members,
                    Charge(
                        epsilon=1.0,
                        delta=0,
                        budget=3.0,
                        min_count=11,
                        parameters={"mechanism": "laplace"},
                    ),
                )
                outcomes.append("ok")
            except BudgetExceededError:
                outcomes.append("refused")

    threads = [threading.Thread(target=spend) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    with PrivacyLedger.open(path) as ledger:
        assert ledger.spent(members) == (3.0, 0.0)


def test_the_ledger_holds_no_conversation_content(files: dict[str, Path], tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    score(files["full"], ScoreConfig(ledger=ledger))
    data = ledger.read_bytes()
    for word in (b"question", b"answer", b"about"):
        assert word not in data
    assert oct(ledger.stat().st_mode & 0o777) == "0o600"


def test_manifest_records_ledger_entry_and_never_the_noise(
    files: dict[str, Path], tmp_path: Path
) -> None:
    result = score(files["full"], ScoreConfig(ledger=tmp_path / "l.sqlite", epsilon=1.0))
    privacy = result.manifest.privacy
    assert set(privacy["ledger"]) == {"run_id", "fingerprint", "budget", "epsilon_spent_max"}
    dp = privacy["differential_privacy"]
    assert dp["mechanism"] == "laplace" and dp["epsilon_spent"] == pytest.approx(1.0)
    # mechanism and parameters only: no noisy value, no noise draw, no exact sum
    assert set(dp) == {
        "library",
        "mechanism",
        "privacy_unit",
        "epsilon",
        "delta",
        "epsilon_spent",
        "loss_measure",
        "rho_total",
        "max_turns",
        "clamp",
        "composition",
        "released",
        "intervals",
        "shares",
        "retention",
    }
    for vector in dp["released"].values():
        assert set(vector) == {"share", "sensitivity", "scale", "loss"}
    with pytest.raises(PrivacyViolation):
        PrivacyLedger.open(tmp_path / "l.sqlite").record(
            ["a"] * 0 + ["m"], Charge(epsilon=3.5, delta=0, budget=3.0, min_count=11, parameters={})
        )


def test_a_turn_cell_that_differs_by_one_is_refused_even_when_its_cluster_differs_by_more(
    tmp_path: Path,
) -> None:
    """Swap one 3-turn conversation for twelve 1-turn ones: the cluster and turn 1 change by 13,
    turns 2 and 3 by one conversation, whose turn-3 score differencing would reveal."""
    from privacy_cases import conversation

    rows = [conversation(CLUSTERS[0], i, turns=3) for i in range(30)]
    extra = [conversation(CLUSTERS[0], 100 + i, turns=1) for i in range(12)]
    full = write_jsonl(tmp_path / "full.jsonl", rows)
    swapped = write_jsonl(tmp_path / "swapped.jsonl", rows[1:] + extra)
    off = ScoreConfig(use_ledger=False)
    a = score(full, off)
    b = score(swapped, off)

    def cell3(report: dict[str, Any]) -> tuple[int, float]:
        cells = report["clusters"][0]["turns"]["cells"]
        c = next(c for c in cells if c["index"] == 3)
        return c["n"], c["perceived"]

    (n1, m1), (n2, m2) = cell3(a.report.to_dict()), cell3(b.report.to_dict())
    truth = (a.table.turn_score[2] - 1) / 4  # conversation 0's third turn
    assert (n1, n2) == (30, 29)
    assert n1 * m1 - n2 * m2 == pytest.approx(truth, abs=1e-3)  # the attack, unchecked
    ledger = tmp_path / "ledger.sqlite"
    score(full, ScoreConfig(ledger=ledger))
    with pytest.raises(BudgetExceededError, match="differ from the same cell"):
        score(swapped, ScoreConfig(ledger=ledger))


def test_an_unwritable_ledger_place_is_a_clear_error(tmp_path: Path) -> None:
    from edge_eval.errors import ArtifactError, ConfigError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot be created or opened"):
        PrivacyLedger.open(blocker / "ledger.sqlite")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ArtifactError, match="not a readable ledger file"):
        PrivacyLedger.open(garbage)


@pytest.mark.usefixtures("fake_model")
def test_audit_ledger_lists_the_runs(files: dict[str, Path], tmp_path: Path, run_cli: Any) -> None:
    ledger = tmp_path / "ledger.sqlite"
    first = score(files["full"], ScoreConfig(ledger=ledger))
    score(files["full"], ScoreConfig(ledger=ledger, epsilon=1.0))
    code, out, _ = run_cli("audit", "ledger", "--ledger", str(ledger), "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["dp"], r["epsilon"], r["max_spent_epsilon"]) for r in rows] == [
        (False, 0.0, 1.0),
        (True, 1.0, 1.0),
    ]
    assert rows[0]["run_id"] == first.manifest.privacy["ledger"]["run_id"]
    code, out, _ = run_cli("audit", "ledger", "--ledger", str(ledger))
    assert code == 0 and len(out.splitlines()) == 3 and "dp" in out.splitlines()[2]
