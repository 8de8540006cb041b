"""PR AUC on labels known as of a time: sklearn-equal values, and `pending` until the labels arrive."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import average_precision_score

from mlops_assets.defs.monitoring.performance import (
    PerformanceConfig,
    average_precision,
    evaluate_performance,
    labelled_as_of,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def test_average_precision_by_hand_and_against_sklearn() -> None:
    # Ranked: 1 (0.9), 0 (0.8), 1 (0.7): AP = 0.5 * 1 + 0.5 * 2/3
    assert average_precision(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.7])) == pytest.approx(5 / 6)
    rng = np.random.default_rng(3)
    labels = rng.random(2000) < 0.05
    scores = np.round(rng.random(2000) + labels * 0.3, 2)  # rounding makes ties
    assert average_precision(labels, scores) == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )
    assert np.isnan(average_precision(np.zeros(5), np.arange(5.0)))


def _scored(n: int, positives: int, label_delay: timedelta, good: bool = True) -> pl.DataFrame:
    labels = np.zeros(n, dtype=np.int8)
    labels[:positives] = 1
    scores = np.where(labels == 1, 0.9, 0.1) if good else np.linspace(0, 1, n)
    return pl.DataFrame(
        {
            "is_fraud": labels,
            "score": scores,
            "label_available_at": [T0 + label_delay] * n,
        }
    )


def test_labels_are_not_used_before_they_arrive() -> None:
    frame = _scored(100, 20, timedelta(days=3))
    assert labelled_as_of(frame, T0 + timedelta(days=2)).height == 0
    assert labelled_as_of(frame, T0 + timedelta(days=3)).height == 100


def test_pending_not_pass_when_labels_have_not_arrived() -> None:
    result = evaluate_performance(_scored(100, 20, timedelta(days=3)), T0, "score", baseline_pr_auc=0.8)
    assert result.status == "pending"
    assert result.pr_auc is None
    assert result.reason.startswith(
        "labels not yet arrived: 0 of 100 rows labelled as of 2025-03-01T00:00:00+00:00"
    )
    assert result.metadata()["label_coverage"] == 0.0


def test_pending_when_too_few_frauds_or_no_baseline() -> None:
    few = evaluate_performance(_scored(100, 3, timedelta(0)), T0, "score", baseline_pr_auc=0.8)
    assert (few.status, few.positives) == ("pending", 3)
    assert "at least 10 are needed" in few.reason
    no_baseline = evaluate_performance(_scored(100, 20, timedelta(0)), T0, "score", baseline_pr_auc=None)
    assert (no_baseline.status, no_baseline.pr_auc) == ("pending", 1.0)
    empty = evaluate_performance(_scored(0, 0, timedelta(0)), T0, "score", baseline_pr_auc=0.8)
    assert (empty.status, empty.reason) == ("pending", "no scored rows in the window")


def test_pass_and_fail_against_the_baseline() -> None:
    good = evaluate_performance(_scored(100, 20, timedelta(0)), T0, "score", baseline_pr_auc=0.95)
    assert (good.status, good.pr_auc) == ("pass", 1.0)
    bad = evaluate_performance(
        _scored(100, 20, timedelta(0), good=False),
        T0,
        "score",
        baseline_pr_auc=0.95,
        config=PerformanceConfig(tolerance=0.1),
    )
    assert bad.status == "fail"
    frame = _scored(100, 20, timedelta(0), good=False)
    assert bad.pr_auc == pytest.approx(average_precision_score(frame["is_fraud"], frame["score"]), abs=1e-6)
    assert bad.pr_auc < 0.2
    assert "below the baseline 0.950 (tolerance 0.1)" in bad.reason
