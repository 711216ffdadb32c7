"""report.html: one static file with inline SVG plots, rendered from the report dict alone.

The page loads nothing: no script, font, stylesheet or image from anywhere, and a
Content-Security-Policy meta tag forbids it (``default-src 'none'``). Plots are SVG elements
generated here: desired vs perceived empathy per cluster as grouped bars, and perceived
empathy by turn index as one line per published cluster plus the overall line.
"""

from __future__ import annotations

from html import escape
from typing import Any

from edge_eval.report import _format as f
from edge_eval.report.schema import validate_report_dict

__all__ = ["CSP", "render_html"]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
DESIRED_COLOUR = "#4c78a8"
PERCEIVED_COLOUR = "#f58518"
LINE_COLOURS = (
    "#54a24b",
    "#b279a2",
    "#e45756",
    "#72b7b2",
    "#9d755d",
    "#eeca3b",
    "#ff9da6",
    "#439894",
)
OVERALL_COLOUR = "#222222"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
span.ci { display: block; font-size: 0.8em; color: #666; }
td.note { text-align: left; color: #666; font-style: italic; }
svg { display: block; margin: 1rem 0; background: #fff; }
svg text { font-size: 12px; fill: #333; }
.legend span { display: inline-block; margin-right: 1.2rem; }
.swatch { display: inline-block; width: 0.9rem; height: 0.9rem; margin-right: 0.3rem;
          vertical-align: middle; }
p.params { color: #555; }
"""

_W, _H = 760, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 16, 16, 64


def _y(value: float) -> float:
    return _TOP + (1.0 - value) * (_H - _TOP - _BOTTOM)


def _axis(lines: list[str]) -> None:
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = _y(tick)
        lines.append(
            f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{_W - _RIGHT}" y2="{y:.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
        )
        lines.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.2f}</text>')


def _wrap(label: str, width: int) -> list[str]:
    """Split a cluster name at underscores into lines of about ``width`` characters."""
    lines: list[str] = []
    for word in label.split("_"):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines[:3]


def bar_chart(d: dict[str, Any]) -> str:
    """Grouped bars of mean d and mean p (0-1) per cluster, with their intervals."""
    entries = f.groups(d)
    slot = (_W - _LEFT - _RIGHT) / max(len(entries), 1)
    bar = min(28.0, slot / 3)
    out = [
        f'<svg id="plot-gap" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" '
        'aria-label="Desired and perceived empathy per cluster">'
    ]
    _axis(out)
    for i, (label, g) in enumerate(entries):
        centre = _LEFT + slot * (i + 0.5)
        spans = "".join(
            f'<tspan x="{centre:.1f}" dy="{0 if k == 0 else 14}">{escape(part)}</tspan>'
            for k, part in enumerate(_wrap(label, max(8, int(slot / 7))))
        )
        out.append(f'<text y="{_H - _BOTTOM + 16}" text-anchor="middle">{spans}</text>')
        if g["status"] != f.PUBLISHED:
            out.append(
                f'<text x="{centre:.1f}" y="{_y(0.1):.1f}" text-anchor="middle" '
                f'font-style="italic">{escape(g["status"])}</text>'
            )
            continue
        for j, (key, colour) in enumerate(
            (("desired", DESIRED_COLOUR), ("perceived", PERCEIVED_COLOUR))
        ):
            est = g[key]
            x = centre - bar + j * bar
            top, base = _y(est["mean"]), _y(0.0)
            out.append(
                f'<rect class="bar bar-{key}" x="{x:.1f}" y="{top:.1f}" width="{bar - 2:.1f}" '
                f'height="{base - top:.1f}" fill="{colour}">'
                f"<title>{escape(label)} {key}: {f.estimate(est)}</title></rect>"
            )
            cx = x + (bar - 2) / 2
            out.append(
                f'<line class="ci" x1="{cx:.1f}" y1="{_y(est["low"]):.1f}" x2="{cx:.1f}" '
                f'y2="{_y(est["high"]):.1f}" stroke="#222" stroke-width="1.5"/>'
            )
    out.append("</svg>")
    return "\n".join(out)


def line_chart(d: dict[str, Any]) -> str:
    """Mean p by turn index: one line per published cluster and the overall line."""
    indices = f.turn_indices(d)
    last = max(indices, default=1)
    span = max(last - 1, 1)
    width = _W - _LEFT - _RIGHT

    def x(index: int) -> float:
        return _LEFT + (index - 1) / span * width if last > 1 else _LEFT + width / 2

    out = [
        f'<svg id="plot-turns" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="Perceived empathy by turn index">'
    ]
    _axis(out)
    step = max(1, round(last / 12))
    for i in range(1, last + 1, step):
        out.append(f'<text x="{x(i):.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle">{i}</text>')
    out.append(
        f'<text x="{_LEFT + width / 2:.1f}" y="{_H - _BOTTOM + 36}" text-anchor="middle">'
        "assistant turn</text>"
    )
    for n, (label, g) in enumerate(f.groups(d)):
        if g["status"] != f.PUBLISHED or not g["turns"]["cells"]:
            continue
        overall = label == "overall"
        colour = OVERALL_COLOUR if overall else LINE_COLOURS[n % len(LINE_COLOURS)]
        cells = g["turns"]["cells"]
        points = " ".join(f"{x(c['index']):.1f},{_y(c['perceived']):.1f}" for c in cells)
        dash = ' stroke-dasharray="6 4"' if overall else ""
        out.append(
            f'<polyline class="line" data-group="{escape(label)}" points="{points}" '
            f'fill="none" stroke="{colour}" stroke-width="{3 if overall else 2}"{dash}/>'
        )
        for c in cells:
            out.append(
                f'<circle class="point" cx="{x(c["index"]):.1f}" cy="{_y(c["perceived"]):.1f}" '
                f'r="3" fill="{colour}"><title>{escape(label)} turn {c["index"]}: '
                f"{f.num(c['perceived'])} (n={c['n']})</title></circle>"
            )
    out.append("</svg>")
    return "\n".join(out)


def _line_legend(d: dict[str, Any]) -> str:
    items = []
    for n, (label, g) in enumerate(f.groups(d)):
        if g["status"] != f.PUBLISHED or not g["turns"]["cells"]:
            continue
        colour = OVERALL_COLOUR if label == "overall" else LINE_COLOURS[n % len(LINE_COLOURS)]
        items.append(
            f'<span><span class="swatch" style="background:{colour}"></span>{escape(label)}</span>'
        )
    return f'<p class="legend">{"".join(items)}</p>'


def _estimate_cell(est: dict[str, float], *, signed: bool) -> str:
    low, high = f.num(est["low"], signed=signed), f.num(est["high"], signed=signed)
    return f'{f.num(est["mean"], signed=signed)}<span class="ci">[{low}, {high}]</span>'


def _gap_table(d: dict[str, Any]) -> str:
    k = d["parameters"]["min_count"]
    head = ["cluster", "n", *(label for _, label in f.GAP_COLUMNS)]
    head += ["desired (1-3)", "perceived (1-5)", "under", "over"]
    rows = ["<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for label, g in f.groups(d):
        name = f"<strong>{escape(label)}</strong>" if label == "overall" else escape(label)
        if g["status"] != f.PUBLISHED:
            rows.append(
                f'<tr class="{escape(g["status"])}"><td>{name}</td>'
                f'<td class="note" colspan="{len(head) - 1}">{escape(f.status_text(g, k))}</td>'
                "</tr>"
            )
            continue
        cells = [
            escape(str(g["n"])),
            *(_estimate_cell(g[key], signed=key == "gap") for key, _ in f.GAP_COLUMNS),
            escape(f.num(g["desired_raw"], 2)),
            escape(f.num(g["perceived_raw"], 2)),
            escape(f.pct(g["share_under"])),
            escape(f.pct(g["share_over"])),
        ]
        rows.append(
            f'<tr class="published"><td>{name}</td>'
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _turn_table(d: dict[str, Any]) -> str:
    shown = [(label, g) for label, g in f.groups(d) if g["status"] == f.PUBLISHED]
    if not shown:
        return "<p>No turn-index cell is published.</p>"
    rows = ["<tr><th>group</th><th>slope per turn</th><th>retention</th></tr>"]
    for label, g in shown:
        t = g["turns"]
        rows.append(
            f"<tr><td>{escape(label)}</td><td>{f.num(t['slope'], 4, signed=True)}</td>"
            f"<td>{f.num(t['retention'])}</td></tr>"
        )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _baseline(d: dict[str, Any]) -> str:
    b = d["baseline"]
    if b is None:
        return ""
    head = [
        "group",
        "gap reduction",
        "score factor",
        "E base",
        "E candidate",
        "p base",
        "p candidate",
    ]
    rows = ["<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for label, c in f.comparison_rows(d):
        if c["status"] != f.PUBLISHED:
            rows.append(
                f'<tr><td>{escape(label)}</td><td class="note" colspan="6">unavailable</td></tr>'
            )
            continue
        gr = c["gap_reduction_pct"]
        cells = [
            "n/a" if gr is None else f"{gr:+.1f}%",
            f.num(c["score_factor"], 2),
            f.num(c["error_base"]),
            f.num(c["error_candidate"]),
            f.num(c["perceived_base"]),
            f.num(c["perceived_candidate"]),
        ]
        rows.append(
            f"<tr><td>{escape(label)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    return (
        f"<h2>Against the baseline ({escape(b['model_kind'])})</h2>\n"
        "<p>Gap reduction = 100 (E_base - E_cand) / E_base; score factor = p_cand / p_base "
        "(only where both reports publish the group).</p>\n"
        "<table>\n" + "\n".join(rows) + "\n</table>"
    )


def render_html(d: dict[str, Any]) -> str:
    """The report as one static HTML page, from its validated JSON dict alone."""
    validate_report_dict(d)
    legend = (
        f'<p class="legend"><span><span class="swatch" style="background:{DESIRED_COLOUR}">'
        "</span>desired d</span>"
        f'<span><span class="swatch" style="background:{PERCEIVED_COLOUR}"></span>'
        "perceived p</span><span>bars: means on the 0-1 scale; whiskers: intervals</span></p>"
    )
    definitions = "".join(f"<li>{escape(text)}</li>" for text in f.DEFINITIONS)
    trust = "".join(f"<li>{escape(text)}</li>" for text in f.validity_lines(d))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Empathy alignment report</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Empathy alignment report</h1>
<p class="params">{escape(f.parameters_line(d))}</p>
<h2>How far to trust these numbers</h2>
<ul>{trust}</ul>
<h2>Desired vs perceived empathy per task cluster</h2>
{legend}
{bar_chart(d)}
{_gap_table(d)}
<h2>Perceived empathy over turns</h2>
{_line_legend(d)}
{line_chart(d)}
{_turn_table(d)}
{_baseline(d)}
<h2>Definitions</h2>
<ul>{definitions}</ul>
</body>
</html>
"""
