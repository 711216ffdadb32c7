"""Markdown, HTML and terminal renderings: made from the JSON dict alone, nothing else."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from report_cases import hand_scores, make_report

from edge_eval.errors import PrivacyViolation
from edge_eval.report import render_html, render_markdown, render_terminal
from edge_eval.report.html import CSP

EXPECTED_TERMINAL = """\
cluster                         n desired perceived     gap  error under  over   slope retain
distressing_social_personal    11   1.000     1.000  +0.000  0.000    0%    0% +0.0000   1.00
learning_skills                22   0.000     0.500  -0.500  0.500    0%  100% +0.0000    n/a
work_assignment_writing      withheld (fewer than 11 conversations)
overall                        33   0.333     0.667  -0.333  0.333    0%   67% +0.1250   1.00
privacy: NOT differentially private: exact figures, protected by small-cell suppression only
"""


def test_terminal_table_exact(hand_report: dict[str, Any]) -> None:
    assert render_terminal(hand_report) == EXPECTED_TERMINAL


def test_terminal_with_baseline(hand_report: dict[str, Any]) -> None:
    d = make_report(hand_scores(), baseline=hand_report)
    tail = render_terminal(d).split("\n\n", 1)[1]
    assert tail == (
        "against baseline minilm-onnx-int8:\n"
        "distressing_social_personal  gap reduction     n/a  score factor 1.00\n"
        "learning_skills              gap reduction   +0.0%  score factor 1.00\n"
        "work_assignment_writing      unavailable\n"
        "overall                      gap reduction   +0.0%  score factor 1.00\n"
    )


def test_markdown_content(hand_report: dict[str, Any]) -> None:
    md = render_markdown(hand_report)
    assert md.startswith("# Empathy alignment report\n")
    assert (
        "| `learning_skills` | 22 | 0.000 [0.000, 0.000] | 0.500 [0.500, 0.500] | "
        "-0.500 [-0.500, -0.500] | 0.500 [0.500, 0.500] | 1.00 | 3.00 | 0% | 100% |"
    ) in md
    assert "| `work_assignment_writing` | withheld (fewer than 11 conversations) |" in md
    assert re.search(r"\| \*\*overall\*\* \| 33 \| 0\.333 \[", md)
    assert "| 3 | 1.000 (11) |  | 1.000 (11) |" in md  # learning has no third turn
    assert "| overall | +0.1250 | 1.000 |" in md
    assert "min count k = 11 · tolerance 0.125" in md
    assert "NOT differentially private" in md
    assert "Against the baseline" not in md


def test_markdown_baseline_section(hand_report: dict[str, Any]) -> None:
    base = make_report(hand_scores(), model_kind="system-prompt")
    md = render_markdown(make_report(hand_scores(), baseline=base))
    assert "## Against the baseline (system-prompt)" in md
    assert "| learning_skills | +0.0% | 1.00 | 0.500 | 0.500 | 0.500 | 0.500 |" in md
    assert "| work_assignment_writing | unavailable |" in md


def test_html_is_static_and_self_contained(hand_report: dict[str, Any]) -> None:
    page = render_html(hand_report)
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "default-src 'none'; style-src 'unsafe-inline'; img-src data:" in CSP
    lowered = page.lower()
    for needle in (
        "http:",
        "https:",
        "//",
        "<script",
        "<link",
        "<img",
        "<iframe",
        "<object",
        "<embed",
        "src=",
        "href=",
        "url(",
        "@import",
        "@font-face",
        "on" + "load=",
    ):
        assert needle not in lowered.replace('http-equiv="content-security-policy"', ""), needle


def test_html_plots(hand_report: dict[str, Any]) -> None:
    page = render_html(hand_report)
    # bars: desired and perceived for 2 published clusters + overall; none for the withheld one
    assert page.count('<rect class="bar bar-desired"') == 3
    assert page.count('<rect class="bar bar-perceived"') == 3
    assert page.count('<line class="ci"') == 6
    # lines: one per published cluster plus overall
    lines = re.findall(r'<polyline class="line" data-group="([a-z_]+)" points="([^"]+)"', page)
    assert [g for g, _ in lines] == ["distressing_social_personal", "learning_skills", "overall"]
    assert [len(points.split()) for _, points in lines] == [3, 2, 3]
    assert "withheld (fewer than 11 conversations)" in page
    assert "<title>learning_skills perceived: 0.500 [0.500, 0.500]</title>" in page


def test_html_bar_heights_follow_the_means(hand_report: dict[str, Any]) -> None:
    page = render_html(hand_report)
    heights = [
        float(h) for h in re.findall(r'class="bar bar-perceived"[^>]*height="([\d.]+)"', page)
    ]
    # perceived p = 1, .5, 2/3: heights proportional to the means
    assert heights[1] == pytest.approx(heights[0] / 2, abs=0.1)
    assert heights[2] == pytest.approx(heights[0] * 2 / 3, abs=0.1)


@pytest.mark.parametrize("render", [render_markdown, render_html, render_terminal])
def test_renderers_refuse_an_invalid_dict(hand_report: dict[str, Any], render: Any) -> None:
    d = copy.deepcopy(hand_report)
    d["clusters"][0]["cluster"] = "<script>alert(1)</script>"
    with pytest.raises(PrivacyViolation):
        render(d)


def test_renderings_are_functions_of_the_dict(hand_report: dict[str, Any]) -> None:
    again = make_report(hand_scores())
    for render in (render_markdown, render_html, render_terminal):
        assert render(again) == render(hand_report)


def test_empty_and_all_withheld_reports_render() -> None:
    empty = make_report([])
    assert "empty (no conversations)" in render_markdown(empty)
    assert "No turn-index cell is published." in render_html(empty)
    assert render_terminal(empty).splitlines()[-2].startswith("overall")
    small = make_report(hand_scores()[-4:])
    assert render_html(small).count('<rect class="bar') == 0
    assert "overall                      withheld" in render_terminal(small)
