"""From per-day measurements to check verdicts: pass, fail, or skipped with the reason.

`skipped` is the honest answer when there is nothing to judge (no usable reference, labels not yet
arrived): the asset then does not emit that check's result, which Dagster records as SKIPPED (neither
a pass nor an alarm), and the reason goes to the run log and the day's metadata.
`drift_report` judges each day on its own (one result per partition); given several days, a verdict
fails if any of them fails and lists the days that did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from mlops_assets.defs.monitoring.performance import PerformanceResult
from mlops_assets.defs.validation.quality import VOLUME_RATIO_BOUNDS, VolumeVerdict

VerdictStatus = Literal["pass", "fail", "skipped"]


@dataclass(frozen=True)
class DayDrift:
    """One day's feature-drift measurement (or why there is none)."""

    day: str
    evaluated: int
    drifted: tuple[str, ...]
    share: float
    skipped_reason: str | None = None


@dataclass(frozen=True)
class DayScoreDrift:
    """One day's score-distribution PSI against the same model's trailing days (or why there is none)."""

    day: str
    psi: float | None
    skipped_reason: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A check outcome with a sentence for humans and plain values for metadata."""

    status: VerdictStatus
    reason: str
    failing_days: tuple[str, ...] = ()
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Only meaningful when not skipped."""
        return self.status == "pass"


def _names(features: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(features[:limit])
    return f"{shown} and {len(features) - limit} more" if len(features) > limit else shown


def judge_feature_drift(days: Sequence[DayDrift], max_share: float, reference_error: str | None) -> Verdict:
    """Fail when the share of drifted features exceeds `max_share` on any day."""
    if reference_error:
        return Verdict("skipped", f"reference unusable: {reference_error}")
    judged = [d for d in days if d.skipped_reason is None and d.evaluated > 0]
    if not judged:
        reasons = "; ".join(f"{d.day}: {d.skipped_reason or 'no feature could be evaluated'}" for d in days)
        return Verdict("skipped", f"no day could be judged ({reasons})")
    failing = [d for d in judged if d.share > max_share]
    worst = max(judged, key=lambda d: d.share)
    metadata: dict[str, object] = {
        "max_drift_share": round(worst.share, 4),
        "threshold": max_share,
        "worst_day": worst.day,
        "drifted_features_worst_day": list(worst.drifted),
        "days_judged": len(judged),
    }
    if failing:
        first = failing[0]
        reason = (
            f"{len(failing)} of {len(judged)} days drifted: on {first.day} {len(first.drifted)} of "
            f"{first.evaluated} features ({first.share:.0%} > {max_share:.0%}): {_names(first.drifted)}"
        )
        return Verdict("fail", reason, tuple(d.day for d in failing), metadata)
    return Verdict(
        "pass", f"at most {worst.share:.0%} of features drifted (threshold {max_share:.0%})", (), metadata
    )


def judge_prediction_drift(days: Sequence[DayScoreDrift], psi_threshold: float) -> Verdict:
    """Fail when the score distribution's PSI reaches `psi_threshold` on any day."""
    judged = [d for d in days if d.psi is not None]
    if not judged:
        reasons = "; ".join(f"{d.day}: {d.skipped_reason}" for d in days)
        return Verdict("skipped", f"no day could be judged ({reasons})")
    failing = [d for d in judged if d.psi is not None and d.psi >= psi_threshold]
    worst = max(judged, key=lambda d: d.psi or 0.0)
    metadata: dict[str, object] = {
        "max_score_psi": round(worst.psi or 0.0, 4),
        "threshold": psi_threshold,
        "worst_day": worst.day,
    }
    if failing:
        return Verdict(
            "fail",
            f"score PSI {worst.psi:.3f} >= {psi_threshold} on {', '.join(d.day for d in failing)}",
            tuple(d.day for d in failing),
            metadata,
        )
    return Verdict("pass", f"score PSI at most {worst.psi:.3f} (< {psi_threshold})", (), metadata)


def judge_volume(days: Sequence[tuple[str, VolumeVerdict]]) -> Verdict:
    """Fail when a day's scored rows leave the bounds around its trailing median (validation's rule)."""
    judged = [(day, v) for day, v in days if v.ratio is not None]
    if not judged:
        return Verdict("skipped", "no trailing scored days to compare the volume with")
    failing = [(day, v) for day, v in judged if not v.passed]
    low, high = VOLUME_RATIO_BOUNDS
    day, latest = failing[0] if failing else judged[-1]
    metadata: dict[str, object] = {
        "day": day,
        "rows": latest.rows,
        "trailing_median": latest.trailing_median,
        "ratio": round(latest.ratio or 0.0, 3),
        "bounds": f"{low}x-{high}x",
    }
    median = latest.trailing_median or 0.0
    reason = f"{day}: {latest.rows} rows scored, {latest.ratio:.2f}x the trailing median {median:.0f}"
    if failing:
        return Verdict("fail", f"{reason} (outside {low}x-{high}x)", tuple(d for d, _ in failing), metadata)
    return Verdict("pass", f"{reason} (within {low}x-{high}x)", (), metadata)


def judge_performance(days: Sequence[tuple[str, PerformanceResult]]) -> Verdict:
    """Fail if any day's window fell below baseline - tolerance; skipped while every day is pending."""
    judged = [(day, r) for day, r in days if r.status != "pending"]
    pending = {day: r.reason for day, r in days if r.status == "pending"}
    if not judged:
        last_day, last = days[-1] if days else ("", None)
        reason = f"pending: {last.reason}" if last else "pending: no day to judge"
        return Verdict(
            "skipped", reason, (), {"status": "pending", "pending_days": pending, "last_day": last_day}
        )
    failing = [(day, r) for day, r in judged if r.status == "fail"]
    day, latest = judged[-1]
    metadata: dict[str, object] = {**latest.metadata(), "day": day, "pending_days": pending}
    if failing:
        fail_day, first = failing[0]
        return Verdict(
            "fail",
            f"{fail_day}: {first.reason}",
            tuple(d for d, _ in failing),
            {**first.metadata(), "day": fail_day, "pending_days": pending},
        )
    return Verdict("pass", f"{day}: {latest.reason}", (), metadata)
