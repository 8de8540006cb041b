"""The retraining sensor: one request per failing check, none while a run is in flight or in cooldown."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange
from dagster._core.test_utils import create_run_for_test

from mlops_assets.defs.automation.retraining import (
    RETRAINING_JOB,
    Trigger,
    build_retraining_sensor,
    decide_retraining,
)

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
DRIFT = Trigger("drift_report:feature_drift", "17", "25 of 28 features drifted", "run-1")


def test_decide_requests_the_first_unhandled_trigger() -> None:
    decision = decide_retraining([DRIFT], {}, [], None, NOW, timedelta(hours=12))
    assert decision.trigger == DRIFT
    handled = decide_retraining([DRIFT], {DRIFT.key: "17"}, [], None, NOW, timedelta(hours=12))
    assert handled.trigger is None
    assert handled.skip_reason == "no failed drift/performance check or stale model since the last request"


def test_decide_waits_for_in_flight_run_and_cooldown() -> None:
    in_flight = decide_retraining([DRIFT], {}, ["abc"], None, NOW, timedelta(hours=12))
    assert (
        in_flight.skip_reason
        == "drift_report:feature_drift failed, but retraining run abc is still in flight"
    )
    cooling = decide_retraining([DRIFT], {}, [], NOW - timedelta(hours=1), NOW, timedelta(hours=12))
    assert cooling.trigger is None
    assert "cooldown holds until 2025-03-01T23:00:00+00:00" in (cooling.skip_reason or "")
    after = decide_retraining([DRIFT], {}, [], NOW - timedelta(hours=13), NOW, timedelta(hours=12))
    assert after.trigger == DRIFT


def _drift_report(
    passed: bool, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
) -> dg.AssetsDefinition:
    @dg.asset(name="drift_report", check_specs=[dg.AssetCheckSpec("feature_drift", asset="drift_report")])
    def _asset():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(
            check_name="feature_drift",
            passed=passed,
            severity=severity,
            metadata={"reason": "9 of 28 drifted"},
        )

    return _asset


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return sensor(context), context.cursor


def test_sensor_on_a_real_instance(instance: dg.DagsterInstance) -> None:
    clock = Clock()
    sensor = build_retraining_sensor(name="test_retraining", cooldown=timedelta(hours=12), clock=clock)
    skip, cursor = _tick(sensor, instance, None)
    assert isinstance(skip, dg.SkipReason)

    assert dg.materialize([_drift_report(passed=False)], instance=instance).success
    request, cursor = _tick(sensor, instance, cursor)
    assert isinstance(request, dg.RunRequest)
    assert request.tags["mlops/trigger"] == "drift_report:feature_drift"
    assert request.tags["mlops/trigger_reason"] == "9 of 28 drifted"
    assert request.tags["mlops/trigger_run_id"]

    # The same failure is not acted on twice; a new failure inside the cooldown waits.
    again, cursor = _tick(sensor, instance, cursor)
    assert isinstance(again, dg.SkipReason)
    dg.materialize([_drift_report(passed=False)], instance=instance)
    clock.now = NOW + timedelta(hours=2)
    cooling, cursor = _tick(sensor, instance, cursor)
    assert "cooldown holds" in (cooling.skip_message or "")

    # After the cooldown, the still-unhandled failure fires, unless a retraining run is in flight.
    clock.now = NOW + timedelta(hours=13)
    create_run_for_test(instance, job_name=RETRAINING_JOB, status=dg.DagsterRunStatus.STARTED)
    busy, cursor = _tick(sensor, instance, cursor)
    assert "still in flight" in (busy.skip_message or "")
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=RETRAINING_JOB)):
        instance.report_run_failed(run)
    fired, cursor = _tick(sensor, instance, cursor)
    assert isinstance(fired, dg.RunRequest)
    assert fired.run_key != request.run_key


@pytest.mark.parametrize(
    ("passed", "severity"), [(True, dg.AssetCheckSeverity.ERROR), (False, dg.AssetCheckSeverity.WARN)]
)
def test_passing_or_warning_checks_do_not_retrain(
    instance: dg.DagsterInstance, passed: bool, severity: dg.AssetCheckSeverity
) -> None:
    dg.materialize([_drift_report(passed=passed, severity=severity)], instance=instance)
    result, _ = _tick(build_retraining_sensor(name="t2"), instance, None)
    assert isinstance(result, dg.SkipReason)


@pytest.mark.parametrize("family", ["lightgbm", "torch"])
def test_either_stale_model_family_retrains(instance: dg.DagsterInstance, family: str) -> None:
    key = dg.AssetKey(["fraud_model", family])
    instance._report_runless_asset_event(
        FreshnessStateChange(
            key=key,
            new_state=FreshnessState.FAIL,
            previous_state=FreshnessState.PASS,
            state_change_timestamp=NOW.timestamp(),
        )
    )
    request, _ = _tick(build_retraining_sensor(name=f"t4_{family}"), instance, None)
    assert isinstance(request, dg.RunRequest)
    assert request.tags["mlops/trigger"] == f"freshness:fraud_model/{family}"
    assert request.tags["mlops/trigger_reason"].startswith(
        f"fraud_model/{family} failed its freshness policy"
    )
