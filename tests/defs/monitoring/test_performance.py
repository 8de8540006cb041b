"""PR AUC on labels known as of a time: sklearn's values, and `pending` until the frauds' labels are in."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import average_precision_score

from mlops_assets.defs.monitoring.performance import (
    PerformanceConfig,
    evaluate_performance,
    last_mature_day,
)
from mlops_assets.domain import LABEL_MATURITY_DAYS

DAY = date(2025, 3, 1)
T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)  # every payment of the frames below happens at noon on DAY
MATURE = datetime(2025, 3, 2, tzinfo=UTC) + timedelta(days=LABEL_MATURITY_DAYS)  # DAY's first mature instant


def _scored(
    n: int, positives: int, label_delay: timedelta, good: bool = True, fraud_delay: timedelta | None = None
) -> pl.DataFrame:
    labels = np.zeros(n, dtype=np.int8)
    labels[:positives] = 1
    scores = np.where(labels == 1, 0.9, 0.1) if good else np.linspace(0, 1, n)
    delays = [fraud_delay if fraud_delay is not None and y else label_delay for y in labels]
    return pl.DataFrame(
        {
            "event_timestamp": pl.Series([T0] * n, dtype=pl.Datetime("us", "UTC")),
            "is_fraud": labels,
            "score": scores,
            "label_available_at": pl.Series([T0 + d for d in delays], dtype=pl.Datetime("us", "UTC")),
        }
    )


def test_last_mature_day_is_the_newest_day_entirely_maturity_days_old() -> None:
    assert last_mature_day(MATURE) == DAY
    assert last_mature_day(MATURE - timedelta(microseconds=1)) == DAY - timedelta(days=1)
    assert last_mature_day(MATURE, maturity_days=0) == DAY + timedelta(days=LABEL_MATURITY_DAYS)


def test_a_young_day_is_pending_even_when_almost_every_row_is_labelled() -> None:
    # 3 days after the day: 98 % of rows labelled, but 20 of its 30 frauds still look legitimate. A floor
    # on labelled rows would judge this biased sample; the day is simply not mature yet.
    frame = _scored(1000, 30, timedelta(days=1), fraud_delay=timedelta(days=10))
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 10)
        .then(pl.col("event_timestamp") + pl.duration(days=1))
        .otherwise(pl.col("label_available_at"))
        .alias("label_available_at")
    )
    early = evaluate_performance(frame, T0 + timedelta(days=3), "score", baseline_pr_auc=0.95)
    assert (early.status, early.rows, early.immature_rows, early.pr_auc) == ("pending", 0, 1000, None)
    assert early.reason == (
        "labels immature: none of the 1000 scored rows is from a day at least 16 days old as of "
        "2025-03-04T12:00:00+00:00 (newest mature day 2025-02-15)"
    )
    late = evaluate_performance(frame, MATURE, "score", baseline_pr_auc=0.95)
    assert (late.status, late.positives, late.labelled_rows, late.pr_auc) == ("pass", 30, 1000, 1.0)
    assert late.metadata()["window"] == "2025-03-01..2025-03-01"


def test_only_the_mature_days_of_a_window_are_judged() -> None:
    young = _scored(50, 5, timedelta(0)).with_columns(pl.col("event_timestamp") + pl.duration(days=1))
    result = evaluate_performance(pl.concat([_scored(100, 20, timedelta(0)), young]), MATURE, "score", 0.8)
    assert (result.status, result.rows, result.immature_rows, result.positives) == ("pass", 100, 50, 20)


def test_pending_not_pass_when_labels_of_a_mature_day_have_not_arrived() -> None:
    # A label feed that stopped: the day is old enough, but its labels are still missing.
    result = evaluate_performance(_scored(100, 20, timedelta(days=30)), MATURE, "score", baseline_pr_auc=0.8)
    assert (result.status, result.pr_auc) == ("pending", None)
    assert result.reason.startswith(
        "labels not yet arrived: 0 of 100 rows of mature days labelled as of 2025-03-18T00:00:00+00:00"
    )
    assert result.metadata()["label_coverage"] == 0.0


def test_pending_when_too_few_frauds_or_no_baseline() -> None:
    few = evaluate_performance(_scored(100, 3, timedelta(0)), MATURE, "score", baseline_pr_auc=0.8)
    assert (few.status, few.positives) == ("pending", 3)
    assert "at least 10 are needed" in few.reason
    no_baseline = evaluate_performance(_scored(100, 20, timedelta(0)), MATURE, "score", baseline_pr_auc=None)
    assert (no_baseline.status, no_baseline.pr_auc) == ("pending", 1.0)
    empty = evaluate_performance(_scored(0, 0, timedelta(0)), MATURE, "score", baseline_pr_auc=0.8)
    assert (empty.status, empty.reason) == ("pending", "no scored rows in the window")


def test_pass_and_fail_against_the_baseline() -> None:
    good = evaluate_performance(_scored(100, 20, timedelta(0)), MATURE, "score", baseline_pr_auc=0.95)
    assert (good.status, good.pr_auc) == ("pass", 1.0)
    frame = _scored(100, 20, timedelta(0), good=False)
    bad = evaluate_performance(frame, MATURE, "score", 0.95, config=PerformanceConfig(tolerance=0.1))
    assert bad.status == "fail"
    assert bad.pr_auc == pytest.approx(average_precision_score(frame["is_fraud"], frame["score"]), abs=1e-6)
    assert bad.pr_auc < 0.2
    assert "below the baseline 0.950 (tolerance 0.1)" in bad.reason
