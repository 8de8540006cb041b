"""The retraining sensor: one request per failing check, none while a run is in flight or in cooldown."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange
from dagster._core.test_utils import create_run_for_test

from mlops_assets.defs.automation.retraining import (
    RETRAINING_JOB,
    LabelState,
    Trigger,
    build_retraining_sensor,
    decide_retraining,
)
from mlops_assets.defs.training.registry import HOLDOUT_WINDOW_TAG, TRAIN_WINDOW_TAG, VALIDATION_WINDOW_TAG
from mlops_assets.mlflow_resource import MlflowResource

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


@pytest.fixture
def mlflow(tmp_path: Path) -> MlflowResource:
    """A real MLflow tracking store on SQLite (no champion until a test registers one)."""
    return MlflowResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


def _tick(
    sensor: dg.SensorDefinition,
    instance: dg.DagsterInstance,
    cursor: str | None,
    mlflow: MlflowResource,
):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"mlflow": mlflow})
    return sensor(context), context.cursor


def _register_champion(mlflow: MlflowResource, windows: dict[str, str]) -> str:
    """A `fraud_detector` version tagged with its day windows as training tags them; made champion."""
    client = mlflow.client()
    run = client.create_run(mlflow.experiment_id())
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models("name='fraud_detector'"):
        client.create_registered_model("fraud_detector")
    version = client.create_model_version(
        "fraud_detector", f"runs:/{run.info.run_id}/model", run.info.run_id, tags=windows
    )
    client.set_registered_model_alias("fraud_detector", "champion", version.version)
    return str(version.version)


def test_sensor_on_a_real_instance(instance: dg.DagsterInstance, mlflow: MlflowResource) -> None:
    clock = Clock()
    sensor = build_retraining_sensor(name="test_retraining", cooldown=timedelta(hours=12), clock=clock)
    skip, cursor = _tick(sensor, instance, None, mlflow)
    assert isinstance(skip, dg.SkipReason)

    assert dg.materialize([_drift_report(passed=False)], instance=instance).success
    request, cursor = _tick(sensor, instance, cursor, mlflow)
    assert isinstance(request, dg.RunRequest)
    assert request.tags["mlops/trigger"] == "drift_report:feature_drift"
    assert request.tags["mlops/trigger_reason"] == "9 of 28 drifted"
    assert request.tags["mlops/trigger_run_id"]

    # The same failure is not acted on twice; a new failure inside the cooldown waits.
    again, cursor = _tick(sensor, instance, cursor, mlflow)
    assert isinstance(again, dg.SkipReason)
    dg.materialize([_drift_report(passed=False)], instance=instance)
    clock.now = NOW + timedelta(hours=2)
    cooling, cursor = _tick(sensor, instance, cursor, mlflow)
    assert "cooldown holds" in (cooling.skip_message or "")

    # After the cooldown, the still-unhandled failure fires, unless a retraining run is in flight.
    clock.now = NOW + timedelta(hours=13)
    create_run_for_test(instance, job_name=RETRAINING_JOB, status=dg.DagsterRunStatus.STARTED)
    busy, cursor = _tick(sensor, instance, cursor, mlflow)
    assert "still in flight" in (busy.skip_message or "")
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=RETRAINING_JOB)):
        instance.report_run_failed(run)
    fired, cursor = _tick(sensor, instance, cursor, mlflow)
    assert isinstance(fired, dg.RunRequest)
    assert fired.run_key != request.run_key


@pytest.mark.parametrize(
    ("passed", "severity"), [(True, dg.AssetCheckSeverity.ERROR), (False, dg.AssetCheckSeverity.WARN)]
)
def test_passing_or_warning_checks_do_not_retrain(
    instance: dg.DagsterInstance, mlflow: MlflowResource, passed: bool, severity: dg.AssetCheckSeverity
) -> None:
    dg.materialize([_drift_report(passed=passed, severity=severity)], instance=instance)
    result, _ = _tick(build_retraining_sensor(name="t2"), instance, None, mlflow)
    assert isinstance(result, dg.SkipReason)


@pytest.mark.parametrize("family", ["lightgbm", "torch"])
def test_either_stale_model_family_retrains(
    instance: dg.DagsterInstance, mlflow: MlflowResource, family: str
) -> None:
    key = dg.AssetKey(["fraud_model", family])
    instance._report_runless_asset_event(
        FreshnessStateChange(
            key=key,
            new_state=FreshnessState.FAIL,
            previous_state=FreshnessState.PASS,
            state_change_timestamp=NOW.timestamp(),
        )
    )
    request, _ = _tick(build_retraining_sensor(name=f"t4_{family}"), instance, None, mlflow)
    assert isinstance(request, dg.RunRequest)
    assert request.tags["mlops/trigger"] == f"freshness:fraud_model/{family}"
    assert request.tags["mlops/trigger_reason"].startswith(
        f"fraud_model/{family} failed its freshness policy"
    )


def test_decide_skips_until_a_mature_labelled_day_lies_beyond_the_champions_window() -> None:
    window_end = date(2025, 2, 10)
    blocked = LabelState("fraud_detector v1, 2025-01-01..2025-02-10", window_end, window_end, 16)
    decision = decide_retraining([DRIFT], {}, [], None, NOW, timedelta(hours=12), blocked)
    assert decision.trigger is None
    assert decision.skip_reason == (
        "drift_report:feature_drift failed, but no labelled day is mature beyond the champion's training "
        "window (fraud_detector v1, 2025-01-01..2025-02-10): the newest mature day is 2025-02-10; "
        "2025-02-11's fraud labels have had 16 days to arrive at 2025-02-28T00:00:00+00:00, and a "
        "retraining before then would train on the champion's own data"
    )
    ready = LabelState("fraud_detector v1", window_end, window_end + timedelta(days=1), 16)
    assert decide_retraining([DRIFT], {}, [], None, NOW, timedelta(hours=12), ready).trigger == DRIFT


def test_after_a_history_no_retraining_until_new_labels_mature_then_exactly_one(
    instance: dg.DagsterInstance, mlflow: MlflowResource
) -> None:
    # The champion's training run read everything mature at the time: 2025-01-01..2025-02-10.
    windows = {
        TRAIN_WINDOW_TAG: "2025-01-01..2025-01-27",
        VALIDATION_WINDOW_TAG: "2025-01-28..2025-02-03",
        HOLDOUT_WINDOW_TAG: "2025-02-04..2025-02-10",
    }
    _register_champion(mlflow, windows)
    assert dg.materialize([_drift_report(passed=False)], instance=instance).success
    clock = Clock()
    clock.now = datetime(2025, 2, 27, 12, tzinfo=UTC)  # newest mature day: 2025-02-10 (16 days)
    sensor = build_retraining_sensor(name="t5", cooldown=timedelta(hours=12), clock=clock)
    skip, cursor = _tick(sensor, instance, None, mlflow)
    assert isinstance(skip, dg.SkipReason)
    assert (skip.skip_message or "").endswith(
        "the newest mature day is 2025-02-10; 2025-02-11's fraud labels have had 16 days to arrive at "
        "2025-02-28T00:00:00+00:00, and a retraining before then would train on the champion's own data"
    )
    still, cursor = _tick(sensor, instance, cursor, mlflow)
    assert isinstance(still, dg.SkipReason)

    clock.now = datetime(2025, 2, 28, 0, 5, tzinfo=UTC)  # 2025-02-11 is mature now
    request, cursor = _tick(sensor, instance, cursor, mlflow)
    assert isinstance(request, dg.RunRequest)
    assert request.tags["mlops/trigger"] == "drift_report:feature_drift"
    clock.now += timedelta(days=1)
    again, cursor = _tick(sensor, instance, cursor, mlflow)
    assert isinstance(again, dg.SkipReason)  # exactly one request for that failure
