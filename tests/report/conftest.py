"""Fixtures of the report tests."""

from __future__ import annotations

from typing import Any

import pytest
from report_cases import hand_scores, make_report


@pytest.fixture
def hand_report() -> dict[str, Any]:
    """The report of :func:`report_cases.hand_scores` (figures computed by hand in the tests)."""
    return make_report(hand_scores())
