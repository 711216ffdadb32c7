"""The scorer's measured agreement with people travels from bundle.json into every report.

Only allowlisted labels (set, level, protocol) and numbers pass; free text in the bundle (its
own ``label`` strings, unknown sets or protocols) never reaches report.json, .md or .html.
"""

from __future__ import annotations

import json

import pytest
from report_cases import hand_scores, make_report

from edge_eval.errors import PrivacyViolation
from edge_eval.report import render_html, render_json, render_markdown
from edge_eval.report.schema import validate_report_dict
from edge_eval.reward.bundle import scorer_validity

PLANT = "planted-zz93-bundle-text"

META = {
    "validation": {
        "human_agreement": {
            "ieval": {
                "label": PLANT,
                "level": "conversation",
                "protocol": "grouped-5-fold-cv",
                "n": 1920,
                "spearman": 0.5612345678,
                "spearman_ci": [0.52, 0.6],
                "bias": -0.04,
                "mae": 0.6,
            },
            "empathetic_exchanges": {
                "level": "turn",
                "protocol": "unseen",
                "n": 4948,
                "spearman": 0.41,
                "spearman_ci": [0.38, 0.44],
                "bias": None,
            },
            "ieval_unseen_chatbot": {
                "label": PLANT,
                "level": "conversation",
                "protocol": "leave-one-chatbot-out",
                "n": 1920,
                "spearman": 0.25,
                "spearman_ci": [0.2, 0.3],
                "bias": -0.93,
                "bias_per_chatbot": [-0.93, 0.0, 0.1, 0.8],
            },
            "private_set": {"level": "turn", "protocol": "unseen", "n": 50, "spearman": 0.9},
        }
    }
}


def test_only_allowlisted_labels_and_numbers_are_kept() -> None:
    figures = scorer_validity(META)
    assert figures == (
        {
            "set": "ieval",
            "level": "conversation",
            "protocol": "grouped-5-fold-cv",
            "n": 1920,
            "spearman": 0.561235,
            "low": 0.52,
            "high": 0.6,
            "bias": -0.04,
        },
        {
            "set": "empathetic_exchanges",
            "level": "turn",
            "protocol": "unseen",
            "n": 4948,
            "spearman": 0.41,
            "low": 0.38,
            "high": 0.44,
            "bias": None,
        },
        {
            "set": "ieval_unseen_chatbot",
            "level": "conversation",
            "protocol": "leave-one-chatbot-out",
            "n": 1920,
            "spearman": 0.25,
            "low": 0.2,
            "high": 0.3,
            "bias": -0.93,
        },
    )
    bad = {
        "validation": {
            "human_agreement": {
                "ieval": dict(META["validation"]["human_agreement"]["ieval"], protocol=PLANT)
            }
        }
    }  # noqa: E501
    assert scorer_validity(bad) == ()
    assert scorer_validity({"validation": {"human_agreement": {"ieval": {"n": True}}}}) == ()
    assert scorer_validity({}) == ()


def test_reports_state_the_scorers_agreement_with_people() -> None:
    d = make_report(hand_scores(), scorer_validity=scorer_validity(META))
    assert d["parameters"]["scorer_validity"][0]["spearman"] == 0.561235
    text = render_json(d) + render_markdown(d) + render_html(d)
    assert PLANT not in text and "private_set" not in text
    md = render_markdown(d)
    assert "## How far to trust these numbers" in md
    assert (
        "- iEval: each user rated the whole chat (1-5); conversation level, grouped 5-fold "
        "cross-validation, each fold's model trained without it: Spearman rho 0.561 "
        "[0.52, 0.60] with people's ratings, n = 1920, bias -0.04 on the 1-5 scale." in md
    )
    assert "Spearman rho 0.410 [0.38, 0.44] with people's ratings, n = 4948." in md
    assert (
        "- iEval, on a chatbot the scorer never saw (each of its chatbots held out in turn, with "
        "the people who rated it); conversation level, each model trained without the chatbot "
        "it scores and its raters: Spearman rho 0.250 [0.20, 0.30] with people's ratings, "
        "n = 1920; on one of those chatbots its mean was off by -0.93 on the 1-5 scale, so "
        "compare gaps between systems with that in mind." in md
    )
    assert "How far to trust these numbers" in render_html(d)
    assert json.loads(render_json(d)) == d


def test_a_report_without_figures_says_so() -> None:
    d = make_report(hand_scores())
    assert "scorer_validity" not in d["parameters"]
    assert "is not recorded in its bundle" in render_markdown(d)
    assert "is not recorded in its bundle" in render_html(d)


def test_the_schema_refuses_free_text_in_the_figures() -> None:
    d = make_report(hand_scores(), scorer_validity=scorer_validity(META))
    d["parameters"]["scorer_validity"][0]["set"] = PLANT
    with pytest.raises(PrivacyViolation):
        validate_report_dict(d)
    d["parameters"]["scorer_validity"][0]["set"] = "ieval"
    d["parameters"]["scorer_validity"][0]["note"] = PLANT
    with pytest.raises(PrivacyViolation):
        validate_report_dict(d)
