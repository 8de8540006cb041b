"""`DriftReportConfig`: the thresholds of the drift and performance checks, as run config."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from mlops_assets.defs.monitoring.drift import DriftConfig
from mlops_assets.defs.monitoring.evidently_days import (
    DEFAULT_EVIDENTLY_DAYS,
    RECENT_DAYS,
    EvidentlyDays,
    parse_evidently_days,
)
from mlops_assets.defs.monitoring.evidently_report import REFERENCE_SAMPLE_ROWS
from mlops_assets.defs.monitoring.performance import PerformanceConfig

# The statistics' and the performance evaluation's own defaults: the run config restates none of them.
DRIFT_DEFAULTS = DriftConfig()
PERFORMANCE_DEFAULTS = PerformanceConfig()


class DriftReportConfig(dg.Config):
    """Thresholds of the drift and performance checks (defaults suit the daily run)."""

    as_of: str | None = None
    """Judge label availability as of this ISO 8601 instant (UTC if naive); default: now."""
    max_drift_share: float = 0.3
    """feature_drift fails when more than this share of features drifted on a day."""
    drift_severity: str = "ERROR"
    """Severity of a failed feature_drift: ERROR or WARN."""
    numeric_method: str = DRIFT_DEFAULTS.numeric_method
    """auto (Wasserstein on large samples, KS p-value on small), wasserstein, psi or ks."""
    categorical_method: str = DRIFT_DEFAULTS.categorical_method
    """auto (Jensen-Shannon on large samples, chi-square p-value on small), jensenshannon, chisquare, psi."""
    psi_threshold: float = DRIFT_DEFAULTS.psi_threshold
    """The score drifted (prediction_drift), or a feature under method psi, when its PSI reaches this."""
    wasserstein_threshold: float = DRIFT_DEFAULTS.wasserstein_threshold
    ks_threshold: float = DRIFT_DEFAULTS.ks_threshold
    js_threshold: float = DRIFT_DEFAULTS.js_threshold
    min_reference_rows: int = DRIFT_DEFAULTS.min_reference_rows
    min_partition_rows: int = DRIFT_DEFAULTS.min_current_rows
    score_history_days: int = 7
    """prediction_drift compares a day's scores with this many days before it (same model version)."""
    performance_window_days: int = PERFORMANCE_DEFAULTS.window_days
    """model_performance judges up to this many scored days, the newest of them mature."""
    performance_tolerance: float = PERFORMANCE_DEFAULTS.tolerance
    """model_performance fails when PR AUC is more than this below the model's holdout PR AUC."""
    min_label_coverage: float = PERFORMANCE_DEFAULTS.min_label_coverage
    min_positives: int = PERFORMANCE_DEFAULTS.min_positives
    label_maturity_days: int = PERFORMANCE_DEFAULTS.label_maturity_days
    """Only scored days at least this old (as of `as_of`) are judged for performance."""
    evidently_reference_rows: int = REFERENCE_SAMPLE_ROWS
    """Evidently sees at most this many reference rows (it is slow; the checks use our statistics)."""
    evidently_days: str = DEFAULT_EVIDENTLY_DAYS
    """Days that get Evidently HTML (2-5 s each): drifted, recent, all, none, days or ranges
    YYYY-MM-DD...YYYY-MM-DD, comma-separated. Every day gets its statistics JSON."""
    evidently_recent_days: int = RECENT_DAYS
    """`recent` in `evidently_days`: the run's last N days."""

    def drift_config(self) -> DriftConfig:
        """The statistics' configuration."""
        return DriftConfig(
            numeric_method=self.numeric_method,  # type: ignore[arg-type]
            categorical_method=self.categorical_method,  # type: ignore[arg-type]
            psi_threshold=self.psi_threshold,
            ks_threshold=self.ks_threshold,
            js_threshold=self.js_threshold,
            wasserstein_threshold=self.wasserstein_threshold,
            min_reference_rows=self.min_reference_rows,
            min_current_rows=self.min_partition_rows,
        )

    def performance_config(self) -> PerformanceConfig:
        """The performance evaluation's configuration."""
        return PerformanceConfig(
            window_days=self.performance_window_days,
            min_label_coverage=self.min_label_coverage,
            min_positives=self.min_positives,
            tolerance=self.performance_tolerance,
            label_maturity_days=self.label_maturity_days,
        )

    def evidently_selection(self) -> EvidentlyDays:
        """The parsed `evidently_days` (a bad value fails the run before any day is measured)."""
        return parse_evidently_days(self.evidently_days)

    def as_of_time(self) -> datetime:
        """The evaluation instant, timezone-aware."""
        if not self.as_of:
            return datetime.now(UTC)
        parsed = datetime.fromisoformat(self.as_of)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def severity(self) -> dg.AssetCheckSeverity:
        """The configured severity, named in the error if unknown."""
        try:
            return dg.AssetCheckSeverity(self.drift_severity.upper())
        except ValueError as exc:
            raise ValueError(f"drift_severity {self.drift_severity!r}: expected ERROR or WARN") from exc
