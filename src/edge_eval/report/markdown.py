"""report.md, rendered from the report dict alone."""

from __future__ import annotations

from typing import Any

from edge_eval.report import _format as f
from edge_eval.report.schema import validate_report_dict

__all__ = ["render_markdown"]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _gap_table(d: dict[str, Any]) -> list[str]:
    k = d["parameters"]["min_count"]
    head = ["cluster", "n", *(label for _, label in f.GAP_COLUMNS)]
    head += ["desired (1-3)", "perceived (1-5)", "under", "over"]
    lines = [_row(head), _row(["---"] + ["---:"] * (len(head) - 1))]
    for label, g in f.groups(d):
        name = f"**{label}**" if label == "overall" else f"`{label}`"
        if g["status"] != f.PUBLISHED:
            lines.append(_row([name, f.status_text(g, k)] + [""] * (len(head) - 2)))
            continue
        lines.append(
            _row(
                [
                    name,
                    str(g["n"]),
                    *(f.estimate(g[key], signed=key == "gap") for key, _ in f.GAP_COLUMNS),
                    f.num(g["desired_raw"], 2),
                    f.num(g["perceived_raw"], 2),
                    f.pct(g["share_under"]),
                    f.pct(g["share_over"]),
                ]
            )
        )
    return lines


def _turn_tables(d: dict[str, Any]) -> list[str]:
    shown = [(label, g) for label, g in f.groups(d) if g["status"] == f.PUBLISHED]
    indices = f.turn_indices(d)
    if not shown or not indices:
        return ["No turn-index cell is published."]
    lines = [
        "Mean perceived p at each assistant turn (n turns in brackets).",
        "",
        _row(["turn", *(label for label, _ in shown)]),
        _row(["---:"] * (len(shown) + 1)),
    ]
    for i in indices:
        cells = []
        for _, g in shown:
            cell = f.cell_at(g, i)
            cells.append("" if cell is None else f"{f.num(cell['perceived'])} ({cell['n']})")
        lines.append(_row([str(i), *cells]))
    lines += ["", _row(["group", "slope per turn", "retention"]), _row(["---", "---:", "---:"])]
    for label, g in shown:
        t = g["turns"]
        lines.append(_row([label, f.num(t["slope"], 4, signed=True), f.num(t["retention"])]))
    return lines


def _baseline(d: dict[str, Any]) -> list[str]:
    b = d["baseline"]
    if b is None:
        return []
    head = [
        "group",
        "gap reduction",
        "score factor",
        "E base",
        "E candidate",
        "p base",
        "p candidate",
    ]
    lines = [
        "",
        f"## Against the baseline ({b['model_kind']})",
        "",
        "Gap reduction = 100 (E_base - E_cand) / E_base; score factor = p_cand / p_base "
        "(only where both reports publish the group).",
        "",
        _row(head),
        _row(["---"] + ["---:"] * (len(head) - 1)),
    ]
    for label, c in f.comparison_rows(d):
        if c["status"] != f.PUBLISHED:
            lines.append(_row([label, "unavailable"] + [""] * (len(head) - 2)))
            continue
        gr = c["gap_reduction_pct"]
        lines.append(
            _row(
                [
                    label,
                    "n/a" if gr is None else f"{gr:+.1f}%",
                    f.num(c["score_factor"], 2),
                    f.num(c["error_base"]),
                    f.num(c["error_candidate"]),
                    f.num(c["perceived_base"]),
                    f.num(c["perceived_candidate"]),
                ]
            )
        )
    return lines


def render_markdown(d: dict[str, Any]) -> str:
    """The report as Markdown, from its validated JSON dict alone."""
    validate_report_dict(d)
    lines = [
        "# Empathy alignment report",
        "",
        f.parameters_line(d),
        "",
        "## How far to trust these numbers",
        "",
        *(f"- {text}" for text in f.validity_lines(d)),
        "",
        "## Gap per task cluster",
        "",
        *_gap_table(d),
        "",
        "## Perceived empathy over turns",
        "",
        *_turn_tables(d),
        *_baseline(d),
        "",
        "## Definitions",
        "",
        *(f"- {text}" for text in f.DEFINITIONS),
    ]
    return "\n".join(lines) + "\n"
