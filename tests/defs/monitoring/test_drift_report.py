"""`drift_report` materialized for real: Evidently files, metadata, and checks that pass, fail or skip."""

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
from dagster._core.loader import LoadingContextForTest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionResolvedStatus

from mlops_assets.defs.features.catalog import MODEL_FEATURES
from mlops_assets.defs.monitoring.assets import (
    CHECK_KEYS,
    DRIFT_REPORT_KEY,
    FEATURE_DRIFT_CHECK,
    PERFORMANCE_CHECK,
    PREDICTION_DRIFT_CHECK,
    VOLUME_CHECK,
    drift_report,
)
from mlops_assets.defs.monitoring.predictions import PREDICTIONS_TABLE
from mlops_assets.defs.training.mlflow_resource import MlflowResource
from mlops_assets.resources import LakehouseResource

DAY = date(2025, 2, 10)
CATEGORIES = ["grocery", "fuel", "travel"]


def _frame(rows: int, seed: int, day: date | None = None, shift: float = 0.0, label_delay_days: float = 1.0):
    rng = np.random.default_rng(seed)
    start = datetime.combine(day or date(2025, 1, 15), datetime.min.time(), tzinfo=UTC)
    ts = [start + timedelta(seconds=int(s)) for s in rng.integers(0, 86_399, rows)]
    frame = pl.DataFrame(
        {
            **{f: rng.normal(shift, 1.0, rows) for f in MODEL_FEATURES},
            "amount_eur": rng.lognormal(3.0 + shift, 1.0, rows),
            "merchant_category": rng.choice(CATEGORIES, rows),
            "country": rng.choice(["DE", "FR"], rows, p=[0.8, 0.2]),
            "device": rng.choice(["web", "pos_chip"], rows),
            "event_timestamp": pl.Series(ts, dtype=pl.Datetime("us", "UTC")),
            "is_fraud": (rng.random(rows) < 0.1).astype(np.int8),
        }
    )
    return frame.with_columns(
        (pl.col("event_timestamp") + pl.duration(hours=int(label_delay_days * 24))).alias(
            "label_available_at"
        ),
        (pl.col("is_fraud") * 0.5 + pl.lit(rng.random(rows) * 0.4) + shift * 0.1).alias("score"),
        pl.lit("fraud_lightgbm").alias("model_name"),
        pl.lit("1").alias("model_version"),
    )


@pytest.fixture
def monitored(resources: dict, tmp_path: Path) -> dict:
    """A training table and eight days of scored predictions; the last day drifted."""
    lakehouse: LakehouseResource = resources["lakehouse"]
    lakehouse.write_table("training_dataset", _frame(3000, seed=1))
    for offset in range(8, 0, -1):
        day = DAY - timedelta(days=offset)
        lakehouse.write_partition(PREDICTIONS_TABLE, day, _frame(400, seed=10 + offset, day=day))
    lakehouse.write_partition(PREDICTIONS_TABLE, DAY, _frame(400, seed=99, day=DAY, shift=1.0))
    return {**resources, "mlflow": MlflowResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")}


def _status(instance: dg.DagsterInstance, check: str) -> AssetCheckExecutionResolvedStatus:
    record = instance.get_latest_asset_check_evaluation_record(CHECK_KEYS[check])
    assert record is not None
    return asyncio.run(record.resolve_status(LoadingContextForTest(instance)))


def _evaluation(result: dg.ExecuteInProcessResult, check: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == check]
    return evaluation


def test_stable_days_pass_and_drifted_day_fails(monitored: dict, instance: dg.DagsterInstance) -> None:
    as_of = {"ops": {"drift_report": {"config": {"as_of": "2025-02-11T00:00:00"}}}}
    stable = dg.materialize(
        [drift_report],
        resources=monitored,
        instance=instance,
        run_config=as_of,
        partition_key=(DAY - timedelta(days=1)).isoformat(),
    )
    assert _evaluation(stable, FEATURE_DRIFT_CHECK).passed
    assert _evaluation(stable, PREDICTION_DRIFT_CHECK).passed
    volume = _evaluation(stable, VOLUME_CHECK)
    assert (volume.passed, volume.metadata["ratio"].value) == (True, 1.0)  # 400 rows vs 400 a day before
    # No model version in the registry: no baseline, so performance is pending (skipped), never "pass".
    assert _status(instance, PERFORMANCE_CHECK) == AssetCheckExecutionResolvedStatus.SKIPPED

    drifted = dg.materialize(
        [drift_report],
        resources=monitored,
        instance=instance,
        run_config=as_of,
        partition_key=DAY.isoformat(),
    )
    feature = _evaluation(drifted, FEATURE_DRIFT_CHECK)
    assert not feature.passed
    assert feature.severity == dg.AssetCheckSeverity.ERROR
    assert feature.metadata["max_drift_share"].value == pytest.approx(
        25 / 28, abs=1e-4
    )  # 3 categoricals stay
    assert "amount_eur" in feature.metadata["drifted_features_worst_day"].value
    assert not _evaluation(drifted, PREDICTION_DRIFT_CHECK).passed  # scores of the shifted day moved too

    materialization = drifted.asset_materializations_for_node("drift_report")[0]
    html = Path(materialization.metadata["report_html"].value)
    assert html == Path(monitored["reports"].root) / "drift_report" / "2025-02-10.html"
    assert html.stat().st_size > 10_000
    summary = json.loads(html.with_suffix(".json").read_text())
    assert any(m["metric_name"].startswith("DriftedColumnsCount") for m in summary["metrics"])
    assert "| amount_eur | numeric | psi |" in materialization.metadata["drifted_columns"].value
    assert materialization.metadata["performance_status"].value == "pending"


def test_backfill_covers_many_days_in_one_run_and_warn_severity(
    monitored: dict, instance: dg.DagsterInstance
) -> None:
    config = {"ops": {"drift_report": {"config": {"drift_severity": "WARN", "evidently_max_days": 2}}}}
    result = dg.materialize(
        [drift_report],
        resources=monitored,
        instance=instance,
        run_config=config,
        tags={
            "dagster/asset_partition_range_start": (DAY - timedelta(days=7)).isoformat(),
            "dagster/asset_partition_range_end": DAY.isoformat(),
        },
    )
    assert len(result.asset_materializations_for_node("drift_report")) == 8
    feature = _evaluation(result, FEATURE_DRIFT_CHECK)
    assert (feature.passed, feature.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert feature.metadata["failing_days"].value == ["2025-02-10"]
    reports = sorted(p.name for p in (Path(monitored["reports"].root) / "drift_report").glob("*.html"))
    assert reports == ["2025-02-09.html", "2025-02-10.html"]  # Evidently for the last 2 days only
    assert len(list((Path(monitored["reports"].root) / "drift_report").glob("*.statistics.json"))) == 8


def test_empty_reference_skips_drift_with_the_reason(monitored: dict, instance: dg.DagsterInstance) -> None:
    lakehouse: LakehouseResource = monitored["lakehouse"]
    lakehouse.write_table("training_dataset", _frame(50, seed=1))
    result = dg.materialize(
        [drift_report], resources=monitored, instance=instance, partition_key=DAY.isoformat()
    )
    assert result.success
    assert _status(instance, FEATURE_DRIFT_CHECK) == AssetCheckExecutionResolvedStatus.SKIPPED
    metadata = result.asset_materializations_for_node("drift_report")[0].metadata
    assert metadata["reference_status"].value.startswith("reference window has 50 rows; at least 200")
    checks = metadata["checks"].value
    assert checks[FEATURE_DRIFT_CHECK]["status"] == "skipped"
    assert "report_html" not in metadata
    assert instance.get_latest_materialization_event(DRIFT_REPORT_KEY) is not None
