"""The aggregate report: schema allowlist, JSON, Markdown, HTML and terminal renderings.

Only what :func:`build_report` produces can leave the machine, and every rendering is made
from the validated JSON dict alone.
"""

from __future__ import annotations

from edge_eval.report.build import (
    BaselineComparison,
    Comparison,
    GroupReport,
    ReportParameters,
    ScoreReport,
    build_report,
    finalize_report,
)
from edge_eval.report.html import render_html
from edge_eval.report.io import load_report, render_json, write_report_files
from edge_eval.report.markdown import render_markdown
from edge_eval.report.schema import (
    REPORT_KIND,
    SCHEMA_VERSION,
    ComparisonStatus,
    GroupStatus,
    report_problems,
    validate_report_dict,
)
from edge_eval.report.terminal import render_terminal

__all__ = [
    "REPORT_KIND",
    "SCHEMA_VERSION",
    "BaselineComparison",
    "Comparison",
    "ComparisonStatus",
    "GroupReport",
    "GroupStatus",
    "ReportParameters",
    "ScoreReport",
    "build_report",
    "finalize_report",
    "load_report",
    "render_html",
    "render_json",
    "render_markdown",
    "render_terminal",
    "report_problems",
    "validate_report_dict",
    "write_report_files",
]
