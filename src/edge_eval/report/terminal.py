"""A compact fixed-width summary of a report for the terminal."""

from __future__ import annotations

from typing import Any

from edge_eval.report import _format as f
from edge_eval.report.schema import validate_report_dict

__all__ = ["render_terminal"]

_COLUMNS = ("n", "desired", "perceived", "gap", "error", "under", "over", "slope", "retain")
_WIDTHS = (6, 8, 10, 8, 7, 6, 6, 8, 7)


def render_terminal(d: dict[str, Any]) -> str:
    """One line per cluster and one for overall, then the baseline comparison if any.

    Means are on the normalised 0-1 scale (d, p, g = d - p, e = |g|).
    """
    validate_report_dict(d)
    k = d["parameters"]["min_count"]
    rows = f.groups(d)
    name_width = max([len("cluster")] + [len(label) for label, _ in rows])
    lines = [
        f"{'cluster':<{name_width}}"
        + "".join(f"{col:>{w}}" for col, w in zip(_COLUMNS, _WIDTHS, strict=True))
    ]
    for label, g in rows:
        if g["status"] != f.PUBLISHED:
            lines.append(f"{label:<{name_width}}  {f.status_text(g, k)}")
            continue
        t = g["turns"]
        values = (
            str(g["n"]),
            f.num(g["desired"]["mean"]),
            f.num(g["perceived"]["mean"]),
            f.num(g["gap"]["mean"], signed=True),
            f.num(g["error"]["mean"]),
            f.pct(g["share_under"]),
            f.pct(g["share_over"]),
            f.num(t["slope"], 4, signed=True),
            f.num(t["retention"], 2),
        )
        lines.append(
            f"{label:<{name_width}}"
            + "".join(f"{v:>{w}}" for v, w in zip(values, _WIDTHS, strict=True))
        )
    lines.append(f"privacy: {f.privacy_statement(d)}")
    b = d["baseline"]
    if b is not None:
        lines.append("")
        lines.append(f"against baseline {b['model_kind']}:")
        for label, c in f.comparison_rows(d):
            if c["status"] != f.PUBLISHED:
                lines.append(f"{label:<{name_width}}  unavailable")
                continue
            gr = c["gap_reduction_pct"]
            lines.append(
                f"{label:<{name_width}}  gap reduction "
                f"{'n/a' if gr is None else f'{gr:+.1f}%':>7}  score factor "
                f"{f.num(c['score_factor'], 2)}"
            )
    return "\n".join(lines) + "\n"
