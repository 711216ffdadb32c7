"""Reading and writing report files: JSON text, validated on the way in and out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_eval._io import atomic_write_text
from edge_eval.errors import ArtifactError, PrivacyViolation
from edge_eval.report.schema import validate_report_dict

__all__ = ["MAX_REPORT_BYTES", "load_report", "render_json", "write_report_files"]

MAX_REPORT_BYTES = 16 * 1024 * 1024
_HINT = "Pass the report.json written by an `edge-eval score` run, unchanged."


def render_json(d: dict[str, Any]) -> str:
    """The report dict as JSON text (validated first; NaN and infinities are refused)."""
    validate_report_dict(d)
    return json.dumps(d, indent=2, allow_nan=False, ensure_ascii=True) + "\n"


def _reject_constant(name: str) -> float:
    raise ValueError("NaN and infinities are not valid in a report")


def load_report(path: Path | str) -> dict[str, Any]:
    """Read a report.json (e.g. a baseline) and validate it.

    Raises:
        ArtifactError: the file is missing, too large, not UTF-8 JSON, or not a valid report.
            Messages name what is wrong, never the file's content.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise ArtifactError("the report file cannot be read", hint=_HINT) from exc
    if len(data) > MAX_REPORT_BYTES:
        raise ArtifactError("the report file is larger than any edge-eval report", hint=_HINT)
    try:
        d = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        # `from None`: the decoder's message can quote bytes of the file
        raise ArtifactError("the report file is not UTF-8 JSON", hint=_HINT) from None
    try:
        validate_report_dict(d)
    except PrivacyViolation as exc:
        raise ArtifactError(
            f"the file is not a valid edge-eval report: {exc.message}", hint=_HINT
        ) from exc
    return d


def write_report_files(d: dict[str, Any], out_dir: Path | str) -> dict[str, Path]:
    """Write report.json, report.md and report.html into ``out_dir``, each atomically.

    All three are rendered (and the dict validated) before the first file is written.
    Returns the written paths by format (``json``, ``md``, ``html``).
    """
    from edge_eval.report.html import render_html
    from edge_eval.report.markdown import render_markdown

    texts = {"json": render_json(d), "md": render_markdown(d), "html": render_html(d)}
    out = Path(out_dir)
    paths = {fmt: out / f"report.{fmt}" for fmt in texts}
    for fmt, text in texts.items():
        atomic_write_text(paths[fmt], text)
    return paths
