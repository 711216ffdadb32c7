"""Number formatting and fixed wording shared by the Markdown, HTML and terminal renderers."""

from __future__ import annotations

from typing import Any

PUBLISHED = "published"

GAP_COLUMNS = (
    ("desired", "desired d"),
    ("perceived", "perceived p"),
    ("gap", "gap g"),
    ("error", "error e"),
)

DEFINITIONS = (
    "d = (desired - 1) / 2 and p = (perceived - 1) / 4 put both scales on 0-1; "
    "a conversation's perceived empathy is the mean of its assistant turns' scores.",
    "Signed gap g = d - p: positive means colder than users of the task want, negative warmer. "
    "Alignment error e = |g|.",
    "Under / over: share of conversations with g above the tolerance / below minus the tolerance.",
    "Intervals: Student-t, mean ± t(n-1) · s / sqrt(n) over conversations, clipped to the "
    "scale (computable from merged sums). Overall figures pool the published clusters, "
    "weighted by conversations.",
    "Slope: least-squares slope of per-turn p on the assistant-turn index. Retention: mean p of "
    "the last third of turns over the first third (conversations with 3 or more turns).",
    "Cells with fewer than k conversations are withheld, with every figure derived from them; "
    "overall figures and curves use published cells only.",
)


def num(x: float | None, digits: int = 3, *, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def pct(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None else f"{100.0 * x:.{digits}f}%"


def estimate(est: dict[str, float], *, signed: bool = False) -> str:
    return (
        f"{num(est['mean'], signed=signed)} "
        f"[{num(est['low'], signed=signed)}, {num(est['high'], signed=signed)}]"
    )


def status_text(group: dict[str, Any], min_count: int) -> str:
    """The words shown for a group that is not published."""
    if group["status"] == "withheld":
        return f"withheld (fewer than {min_count} conversations)"
    if group["status"] == "empty":
        return "empty (no conversations)"
    return group["status"]


def groups(d: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, group) for each cluster, then the overall group."""
    return [(c["cluster"], c) for c in d["clusters"]] + [("overall", d["overall"])]


def turn_indices(d: dict[str, Any]) -> list[int]:
    """Every published turn index, over all groups, sorted."""
    found = {
        cell["index"]
        for _, g in groups(d)
        if g["status"] == PUBLISHED
        for cell in g["turns"]["cells"]
    }
    return sorted(found)


def cell_at(group: dict[str, Any], index: int) -> dict[str, Any] | None:
    if group["status"] != PUBLISHED:
        return None
    for cell in group["turns"]["cells"]:
        if cell["index"] == index:
            return cell
    return None


def parameters_line(d: dict[str, Any]) -> str:
    p = d["parameters"]
    method = "normal (DP noise included)" if p["interval"] == "dp_normal" else "Student-t"
    return (
        f"reward model {p['model_kind']} · min count k = {p['min_count']} · "
        f"tolerance {p['tolerance']:g} · {round(100 * p['confidence']):d}% {method} intervals · "
        + privacy_statement(d)
    )


def privacy_statement(d: dict[str, Any]) -> str:
    """One plain sentence: is this report differentially private, and at what cost."""
    dp = d["parameters"].get("differential_privacy")
    if dp is None:
        return "NOT differentially private: exact figures, protected by small-cell suppression only"
    delta = f", δ = {dp['delta']:g}" if dp["delta"] else ""
    return (
        f"differentially private (ε = {dp['epsilon']:g}{delta}, {dp['mechanism']} noise per "
        "conversation; figures are noisy, retention withheld)"
    )


def comparison_rows(d: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    b = d["baseline"]
    if b is None:
        return []
    return [(c["cluster"], c) for c in b["clusters"]] + [("overall", b["overall"])]


_PROTOCOL_TEXT = {
    "unseen": "never seen by the scorer",
    "grouped-5-fold-cv": "grouped 5-fold cross-validation, each fold's model trained without it",
    "leave-one-chatbot-out": "each model trained without the chatbot it scores and its raters",
}


def validity_lines(d: dict[str, Any]) -> list[str]:
    """How far to trust the figures: the scorer's measured agreement with people, in sentences.

    Built from allowlisted labels and numbers only (``parameters.scorer_validity``).
    """
    from edge_eval.report.schema import VALIDITY_SETS

    entries = d["parameters"].get("scorer_validity") or []
    if not entries:
        return [
            "This scorer's agreement with people is not recorded in its bundle: nothing here "
            "shows that its scores track how people rate empathy. Check it with "
            "`edge-eval validate` on conversations people rated."
        ]
    lines = []
    for e in entries:
        ci = f" [{num(e['low'], 2)}, {num(e['high'], 2)}]" if e["low"] is not None else ""
        bias = "" if e["bias"] is None else f", bias {e['bias']:+.2f} on the 1-5 scale"
        if e["bias"] is not None and e["protocol"] == "leave-one-chatbot-out":
            bias = (
                f"; on one of those chatbots its mean was off by {e['bias']:+.2f} on the 1-5 "
                "scale, so compare gaps between systems with that in mind"
            )
        lines.append(
            f"{VALIDITY_SETS[e['set']]}; {e['level']} level, {_PROTOCOL_TEXT[e['protocol']]}: "
            f"Spearman rho {num(e['spearman'])}{ci} with people's ratings, n = {e['n']}{bias}."
        )
    lines.append(
        "rho 1 would be perfect agreement, 0 none; a scorer that does not clearly beat response "
        "length on the same ratings (see `edge-eval validate`) should not decide anything alone."
    )
    return lines
