"""compare.md, compare.svg and compare.html, rendered from the validated compare dict alone."""

from __future__ import annotations

from html import escape
from typing import Any

from edge_eval.report import _format as f
from edge_eval.report.html import CSP, LINE_COLOURS

__all__ = ["render_compare_html", "render_compare_markdown", "render_compare_svg"]

_SYSTEM_COLOURS = {"baseline": "#888888", "system-prompt": LINE_COLOURS[0], "adapter": "#e45756"}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _est(value: dict[str, float] | None, digits: int = 3, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return (
        f"{f.num(value['mean'], digits, signed=signed)} "
        f"[{f.num(value.get('low'), digits, signed=signed)}, "
        f"{f.num(value.get('high'), digits, signed=signed)}]"
    )


def _panels(d: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(c["cluster"], c["systems"]) for c in d["clusters"]] + [
        ("overall", d["overall"]["systems"])
    ]


def render_compare_markdown(d: dict[str, Any]) -> str:
    p = d["parameters"]
    k = p["min_count"]
    lines = [
        "# edge-eval compare",
        "",
        f"Systems {', '.join(p['systems'])} on the same simulated users: "
        f"{p['conversations_per_cluster']} conversations per cluster × {p['turns']} turns, "
        f"seed {p['seed']}, routing by {p['routing']}; every assistant turn scored by "
        f"{p['model_kind']}; k = {k}; intervals of d, p and e as in `score`; gap reduction "
        f"and score factor against {p['reference']} with paired bootstrap 95% intervals over "
        f"conversations ({p['n_boot']} resamples).",
        "",
        _row(
            [
                "cluster",
                "system",
                "n",
                "desired d",
                "perceived p",
                "error e",
                "gap reduction %",
                "score factor",
                "slope/turn",
                "retention",
            ]
        ),
        _row(["---", "---"] + ["---:"] * 8),
    ]
    for label, entries in _panels(d):
        for e in entries:
            name = f"**{label}**" if label == "overall" else f"`{label}`"
            if e["status"] != f.PUBLISHED:
                lines.append(_row([name, e["system"], f.status_text(e, k)] + [""] * 7))
                continue
            lines.append(
                _row(
                    [
                        name,
                        e["system"],
                        str(e["n"]),
                        f.num(e["desired"]["mean"]),
                        _est(e["perceived"]),
                        _est(e["error"]),
                        _est(e.get("gap_reduction_pct"), 1) if "gap_reduction_pct" in e else "–",
                        _est(e.get("score_factor")) if "score_factor" in e else "–",
                        f.num(e["turns"]["slope"], 4, signed=True),
                        f.num(e["turns"]["retention"]),
                    ]
                )
            )
    routing = [
        f"`{c['cluster']}` {f.pct(c['routing_accuracy'])}"
        for c in d["clusters"]
        if c["routing_accuracy"] is not None
    ]
    if routing:
        lines += ["", "Routing accuracy (first user turn → cluster): " + ", ".join(routing) + "."]
    lines += ["", "## How far to trust these numbers", ""]
    lines += [f"- {text}" for text in f.validity_lines({"parameters": p})]
    lines += ["", "Per-turn perceived p (turns in brackets):", ""]
    for label, entries in _panels(d):
        shown = [e for e in entries if e["status"] == f.PUBLISHED]
        if not shown:
            continue
        indices = sorted({c["index"] for e in shown for c in e["turns"]["cells"]})
        lines += [
            f"`{label}`",
            "",
            _row(["turn", *(e["system"] for e in shown)]),
            _row(["---:"] * (len(shown) + 1)),
        ]
        for i in indices:
            cells = []
            for e in shown:
                cell = next((c for c in e["turns"]["cells"] if c["index"] == i), None)
                cells.append("" if cell is None else f"{f.num(cell['perceived'])} ({cell['n']})")
            lines.append(_row([str(i), *cells]))
        lines.append("")
    lines += ["![per-turn perceived empathy per cluster](compare.svg)", ""]
    return "\n".join(lines)


_PW, _PH = 300, 220
_L, _R, _T, _B = 40, 10, 28, 34


def render_compare_svg(d: dict[str, Any]) -> str:
    """One panel per cluster (and overall): per-turn p, one line per system, desired d dashed."""
    panels = _panels(d)
    cols = 3
    rows = -(-len(panels) // cols)
    width, height = cols * _PW, rows * _PH + 30
    turns = int(d["parameters"]["turns"])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    for n, (label, entries) in enumerate(panels):
        ox, oy = (n % cols) * _PW, (n // cols) * _PH
        x0, x1, y0, y1 = ox + _L, ox + _PW - _R, oy + _T, oy + _PH - _B

        def x(i: float, x0: float = x0, x1: float = x1) -> float:
            return x0 + (x1 - x0) * ((i - 1) / max(1, turns - 1))

        def y(v: float, y0: float = y0, y1: float = y1) -> float:
            return y1 - (y1 - y0) * v

        out.append(
            f'<text x="{ox + _PW / 2:.1f}" y="{oy + 16}" text-anchor="middle" '
            f'font-weight="bold">{escape(label)}</text>'
        )
        out.append(
            f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" '
            'stroke="#ccc"/>'
        )
        for v in (0.0, 0.5, 1.0):
            out.append(f'<text x="{x0 - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
        for i in range(1, turns + 1):
            out.append(f'<text x="{x(i):.1f}" y="{y1 + 14}" text-anchor="middle">{i}</text>')
        shown = [e for e in entries if e["status"] == f.PUBLISHED]
        if not shown:
            out.append(
                f'<text x="{(x0 + x1) / 2:.1f}" y="{(y0 + y1) / 2:.1f}" text-anchor="middle" '
                'fill="#999">withheld</text>'
            )
            continue
        dval = shown[0]["desired"]["mean"]
        out.append(
            f'<line x1="{x0}" x2="{x1}" y1="{y(dval):.1f}" y2="{y(dval):.1f}" stroke="#4c78a8" '
            'stroke-dasharray="4 3"/>'
        )
        for e in shown:
            colour = _SYSTEM_COLOURS.get(e["system"], "#333")
            pts = [(x(c["index"]), y(c["perceived"])) for c in e["turns"]["cells"]]
            if len(pts) > 1:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
            for px, py in pts:
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"/>')
    ly = rows * _PH + 18
    lx = 10
    for name, colour in [*_SYSTEM_COLOURS.items(), ("desired d", "#4c78a8")]:
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}">{escape(name)}</text>')
        lx += 120
    out.append(
        f'<text x="{width - 10}" y="{ly}" text-anchor="end" fill="#666">'
        "x: assistant turn · y: mean perceived p (0-1)</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_compare_html(d: dict[str, Any]) -> str:
    """A static page (nothing loaded from anywhere): the Markdown table as text and the plot."""
    md = render_compare_markdown(d).replace("![per-turn perceived empathy per cluster]", "")
    md = md.replace("(compare.svg)", "")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        "<title>edge-eval compare</title></head><body>"
        f"<pre>{escape(md)}</pre>{render_compare_svg(d)}</body></html>\n"
    )
