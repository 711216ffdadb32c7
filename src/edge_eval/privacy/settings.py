"""The privacy gate's settings, handed to :func:`edge_eval.report.finalize_report`.

The gate runs once, on merged sums, wherever the sums came from (one machine, a Ray/Dask
cluster, or a federation of devices): partial results are never suppressed or noised on their
own. Differential privacy (when on) is applied at the same single point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edge_eval.errors import ConfigError
from edge_eval.privacy.dp import DPConfig
from edge_eval.privacy.suppression import DEFAULT_MIN_COUNT

__all__ = ["PrivacySettings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacySettings:
    """How the report is gated.

    Attributes:
        min_count: k of small-cell suppression: clusters and turn cells below it are withheld.
        differential_privacy: ``None`` (exact figures), or the DP release's settings; the
            release happens once, in :func:`edge_eval.report.finalize_report`.
    """

    min_count: int = DEFAULT_MIN_COUNT
    differential_privacy: DPConfig | None = None

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise ConfigError("min_count must be at least 1", hint="Pass --min-count 11 or more.")

    def manifest_dict(self, record: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The privacy parameters as the manifest records them.

        ``record`` is the DP release's accounting (``ScoreReport.privacy_record``): mechanism,
        parameters, split and budget spent, never the noise.
        """
        return {
            "min_count": self.min_count,
            "complementary_suppression": True,
            "differential_privacy": None if record is None else dict(record),
        }
