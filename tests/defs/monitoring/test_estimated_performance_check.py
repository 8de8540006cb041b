"""The `estimated_performance` check, run for real on scored days in a temporary lakehouse and MLflow."""

import asyncio
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl
from dagster._core.loader import LoadingContextForTest

from mlops_assets.defs.monitoring.estimated_performance import (
    ESTIMATED_PERFORMANCE_CHECK,
    estimated_performance,
)
from mlops_assets.defs.training import registry
from mlops_assets.defs.training.calibration import fit_calibration
from mlops_assets.partitions import daily_partitions
from mlops_assets.resources import LakehouseResource
from mlops_assets.tables import PREDICTIONS_TABLE

DAY = date(2025, 3, 1)
CHECK_KEY = dg.AssetCheckKey(dg.AssetKey(PREDICTIONS_TABLE), ESTIMATED_PERFORMANCE_CHECK)


def _scored_day(day: date, n: int, seed: int, signal: float) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    fraud = (rng.random(n) < 0.05).astype(np.int8)
    scores = 1 / (1 + np.exp(-(fraud * signal + rng.normal(size=n) - 3)))
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return pl.DataFrame(
        {
            "score": scores,
            "is_fraud": fraud,
            "label_available_at": [at + timedelta(days=3)] * n,
            "model_name": ["fraud_detector"] * n,
            "model_version": ["1"] * n,
        }
    )


def _version(resources, tmp_path, calibration_frame: pl.DataFrame) -> None:
    client = resources["mlflow"].client()
    calibration = fit_calibration(
        calibration_frame["score"].to_numpy(), calibration_frame["is_fraud"].to_numpy()
    )
    registry.register_version(
        client,
        "fraud_detector",
        str(tmp_path),
        None,
        {
            registry.FAMILY_TAG: "lightgbm",
            registry.CALIBRATION_TAG: calibration.to_json(),
            registry.THRESHOLD_TAG: "0.5",
            "holdout_pr_auc": "0.95",
        },
        "test",
    )


def _run(resources, instance, day: date, frame: pl.DataFrame, as_of: datetime):
    """Write the day's scored rows as `batch_predictions` (a stand-in for scoring), then run its check."""

    @dg.asset(name=PREDICTIONS_TABLE, partitions_def=daily_partitions)
    def scored_day(lakehouse: LakehouseResource) -> None:
        lakehouse.write_partition(PREDICTIONS_TABLE, day, frame)

    return dg.materialize(
        [scored_day, estimated_performance],
        resources=resources,
        instance=instance,
        partition_key=day.isoformat(),
        run_config={"ops": {"estimated_performance": {"config": {"as_of": as_of.isoformat()}}}},
    )


def _latest(instance):
    record = instance.get_latest_asset_check_evaluation_record(CHECK_KEY)
    status = asyncio.run(record.resolve_status(LoadingContextForTest(instance)))
    evaluation = record.event.asset_check_evaluation
    return status, evaluation


def test_estimate_then_realized_beside_it_and_a_weak_day_fails(resources, instance, tmp_path):
    _version(resources, tmp_path, _scored_day(DAY - timedelta(days=10), 20_000, 0, 4.0))
    day_frame = _scored_day(DAY, 4_000, 1, 4.0)

    # The morning after: labels are not mature, so only the estimate is shown.
    result = _run(resources, instance, DAY, day_frame, datetime(2025, 3, 2, 6, tzinfo=UTC))
    assert result.success
    status, evaluation = _latest(instance)
    assert evaluation.passed and status.value == "SUCCEEDED"
    per_day = evaluation.metadata["per_day"].value
    assert per_day.splitlines()[2].startswith("| 2025-03-01 | 4000 |") and per_day.endswith("|  |  |")
    assert evaluation.metadata["reference_holdout_pr_auc"].value == 0.95

    # Weeks later the labels are mature: the realized PR AUC stands beside the estimate, close to it.
    _run(resources, instance, DAY, day_frame, datetime(2025, 4, 1, tzinfo=UTC))
    _, evaluation = _latest(instance)
    header, _, row = evaluation.metadata["per_day"].value.splitlines()[:3]
    values = dict(
        zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")], strict=True)
    )
    estimated, realized = float(values["estimated_pr_auc"]), float(values["realized_pr_auc"])
    assert abs(estimated - realized) < 0.08 and float(values["gap"]) == round(estimated - realized, 4)

    # A day whose scores carry less signal: the estimate falls by more than 30 %, and the check warns.
    weak_day = DAY + timedelta(days=1)
    _run(
        resources, instance, weak_day, _scored_day(weak_day, 4_000, 2, 1.0), datetime(2025, 3, 3, tzinfo=UTC)
    )
    status, evaluation = _latest(instance)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["failing_days"].value == ["2025-03-02"]
    assert "cannot see concept drift" in evaluation.metadata["limit"].value


def test_a_version_without_calibration_is_skipped_not_passed(resources, instance, tmp_path):
    client = resources["mlflow"].client()
    registry.register_version(
        client, "fraud_detector", str(tmp_path), None, {registry.FAMILY_TAG: "lightgbm"}, "old"
    )
    result = _run(resources, instance, DAY, _scored_day(DAY, 500, 3, 4.0), datetime(2025, 3, 2, tzinfo=UTC))
    assert result.success
    record = instance.get_latest_asset_check_evaluation_record(CHECK_KEY)
    status = asyncio.run(record.resolve_status(LoadingContextForTest(instance)))
    assert status.value == "SKIPPED"  # neither a pass nor an alarm: nothing to judge
