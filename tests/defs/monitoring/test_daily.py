"""One day of monitoring as pure functions: warm-up days are not judged, performance only on unseen days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from mlops_assets.defs.monitoring.daily import (
    FEATURE_DRIFT_CHECK,
    PERFORMANCE_CHECK,
    PREDICTION_DRIFT_CHECK,
    DayInputs,
    Thresholds,
    monitor_day,
    performance_days,
)
from mlops_assets.defs.monitoring.drift import DriftConfig, profile_reference
from mlops_assets.defs.monitoring.performance import PerformanceConfig
from mlops_assets.defs.monitoring.reference import Reference

DAY = date(2026, 11, 20)
AS_OF = datetime(2026, 12, 20, tzinfo=UTC)  # labels mature up to 2026-12-03 (16 days)
THRESHOLDS = Thresholds(DriftConfig(), PerformanceConfig(), max_drift_share=0.3, score_history_days=7)


def _scored(day: date, rows: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    fraud = (rng.random(rows) < 0.2).astype(np.int8)
    return pl.DataFrame(
        {
            "event_timestamp": [start + timedelta(seconds=int(s)) for s in rng.integers(0, 86_399, rows)],
            "is_fraud": fraud,
            "label_available_at": [start + timedelta(days=1)] * rows,
            "score": fraud * 0.5 + rng.random(rows) * 0.4,
            "amount_eur": rng.lognormal(3.0 + shift, 1.0, rows),
            "model_name": ["fraud_lightgbm"] * rows,
            "model_version": ["3"] * rows,
        }
    ).with_columns(pl.col("event_timestamp").cast(pl.Datetime("us", "UTC")))


def _inputs(current: pl.DataFrame, scored: pl.DataFrame, **overrides: object) -> DayInputs:
    reference_frame = _scored(date(2026, 10, 1), 3000, seed=1)
    reference = Reference(
        ("fraud_lightgbm", "3"),
        date(2026, 10, 1),
        date(2026, 10, 1),
        reference_frame,
        profile_reference(reference_frame, ["amount_eur"], []),
    )
    values: dict[str, object] = {
        "day": DAY,
        "current": current,
        "scored": scored,
        "reference": reference,
        "baseline_pr_auc": 0.9,
        "seen_until": None,
        "trailing_rows": [500] * 7,
        "warm_up": None,
        "as_of": AS_OF,
        **overrides,
    }
    return DayInputs(**values)  # type: ignore[arg-type]


def test_performance_days_are_mature_and_after_the_models_last_seen_day() -> None:
    config = PerformanceConfig()  # 14 days, labels mature after 16
    assert performance_days(DAY, AS_OF, config, None) == (date(2026, 11, 7), DAY)
    assert performance_days(DAY, AS_OF, config, date(2026, 11, 15)) == (date(2026, 11, 16), DAY)
    # Judged on Nov 25, the newest mature day is Nov 8: with training up to Nov 14 nothing qualifies.
    early = datetime(2026, 11, 25, tzinfo=UTC)
    assert performance_days(DAY, early, config, date(2026, 11, 14)) == (date(2026, 11, 15), date(2026, 11, 8))


def test_a_warming_up_day_is_not_judged_for_drift_but_its_other_checks_are() -> None:
    history = pl.concat([_scored(DAY - timedelta(days=i), 500, seed=10 + i) for i in range(1, 8)])
    shifted = _scored(DAY, 500, seed=99, shift=2.0)  # would fail feature_drift on any mature day
    reason = "2026-11-20: warming up: its 30-day feature lookback starts before the first day of data"
    result = monitor_day(_inputs(shifted, pl.concat([history, shifted]), warm_up=reason), THRESHOLDS)
    feature = result.verdicts[FEATURE_DRIFT_CHECK]
    assert (feature.status, feature.reason, feature.metadata) == ("skipped", reason, {"status": "warming_up"})
    assert result.drift.drifted == ("amount_eur",)  # measured and reported, just not a verdict
    assert result.verdicts[PREDICTION_DRIFT_CHECK].status in ("pass", "fail")

    mature = monitor_day(_inputs(shifted, pl.concat([history, shifted])), THRESHOLDS)
    assert mature.verdicts[FEATURE_DRIFT_CHECK].status == "fail"


def test_performance_skips_days_the_model_trained_or_validated_on() -> None:
    scored = pl.concat([_scored(DAY - timedelta(days=i), 500, seed=20 + i) for i in range(14)])
    current = scored.filter(pl.col("event_timestamp").dt.date() == DAY)
    judged = monitor_day(_inputs(current, scored), THRESHOLDS)
    assert judged.verdicts[PERFORMANCE_CHECK].status == "pass"
    assert judged.performance.window == (DAY - timedelta(days=13), DAY)

    # The model saw every day up to DAY: nothing unseen is left to judge it on.
    seen = monitor_day(_inputs(current, scored, seen_until=DAY), THRESHOLDS)
    assert seen.verdicts[PERFORMANCE_CHECK].status == "skipped"
    assert seen.performance.reason == (
        "no mature day unseen by fraud_lightgbm v3: the newest mature day is 2026-11-20 (labels at least "
        "16 days old as of 2026-12-20T00:00:00+00:00), and it trained or validated on days up to 2026-11-20"
    )
    # Seen up to 5 days before: only the 5 unseen days count.
    partly = monitor_day(_inputs(current, scored, seen_until=DAY - timedelta(days=5)), THRESHOLDS)
    assert partly.performance.window == (DAY - timedelta(days=4), DAY)
    assert partly.performance.rows == 5 * 500
