"""Check verdicts over the days of a run: any failing day fails, nothing to judge is skipped."""

from mlops_assets.defs.monitoring.performance import PerformanceResult
from mlops_assets.defs.monitoring.verdicts import (
    DayDrift,
    DayScoreDrift,
    judge_feature_drift,
    judge_performance,
    judge_prediction_drift,
    judge_volume,
)
from mlops_assets.defs.validation.quality import volume_verdict


def test_feature_drift_fails_on_any_day_and_names_it() -> None:
    days = [
        DayDrift("2025-02-01", 10, ("a",), 0.1),
        DayDrift("2025-02-02", 10, ("a", "b", "c", "d"), 0.4),
    ]
    verdict = judge_feature_drift(days, max_share=0.3, reference_error=None)
    assert (verdict.status, verdict.failing_days) == ("fail", ("2025-02-02",))
    assert verdict.reason == "1 of 2 days drifted: on 2025-02-02 4 of 10 features (40% > 30%): a, b, c, d"
    assert verdict.metadata["max_drift_share"] == 0.4
    assert judge_feature_drift(days[:1], 0.3, None).status == "pass"
    # Exactly at the threshold is not "over" it.
    assert judge_feature_drift([DayDrift("d", 10, ("a", "b", "c"), 0.3)], 0.3, None).status == "pass"


def test_feature_drift_skips_without_reference_or_evaluable_day() -> None:
    skipped = judge_feature_drift([], 0.3, "reference window has 0 rows")
    assert (skipped.status, skipped.reason) == ("skipped", "reference unusable: reference window has 0 rows")
    small = judge_feature_drift([DayDrift("2025-02-01", 0, (), 0.0, "partition has 3 rows")], 0.3, None)
    assert small.status == "skipped"
    assert "2025-02-01: partition has 3 rows" in small.reason


def test_prediction_drift() -> None:
    assert judge_prediction_drift(
        [DayScoreDrift("d1", 0.05), DayScoreDrift("d2", 0.25)], 0.2
    ).failing_days == ("d2",)
    assert (
        judge_prediction_drift([DayScoreDrift("d1", None, "score history: 10 rows")], 0.2).status == "skipped"
    )


def _perf(status: str, reason: str = "r") -> PerformanceResult:
    return PerformanceResult(
        rows=100, labelled_rows=95, positives=12, pr_auc=0.5, status=status, reason=reason
    )  # type: ignore[arg-type]


def test_performance_pending_is_skipped_never_passed() -> None:
    verdict = judge_performance([("d1", _perf("pending", "labels not yet arrived"))])
    assert (verdict.status, verdict.reason) == ("skipped", "pending: labels not yet arrived")
    assert not verdict.passed
    mixed = judge_performance([("d1", _perf("pass")), ("d2", _perf("pending", "later"))])
    assert mixed.status == "pass"
    assert mixed.metadata["pending_days"] == {"d2": "later"}
    assert judge_performance([("d1", _perf("fail", "dropped")), ("d2", _perf("pass"))]).failing_days == (
        "d1",
    )


def test_volume() -> None:
    ok = judge_volume([("d1", volume_verdict(400, [390, 410, 400]))])
    assert (ok.status, ok.metadata["ratio"]) == ("pass", 1.0)
    low = judge_volume([("d1", volume_verdict(100, [400, 400]))])
    assert low.status == "fail"
    assert low.reason == "d1: 100 rows scored, 0.25x the trailing median 400 (outside 0.5x-2.0x)"
    assert judge_volume([("d1", volume_verdict(100, []))]).status == "skipped"
