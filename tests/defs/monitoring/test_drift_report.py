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
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE
from partition_truth import range_tags, stored_check_results, stored_metadata

from mlops_assets.defs.monitoring import report as monitoring_report
from mlops_assets.defs.monitoring.assets import (
    CHECK_KEYS,
    DRIFT_REPORT_KEY,
    FEATURE_DRIFT_CHECK,
    PERFORMANCE_CHECK,
    PREDICTION_DRIFT_CHECK,
    VOLUME_CHECK,
    drift_report,
)
from mlops_assets.defs.monitoring.drift import DriftConfig
from mlops_assets.defs.training.lineage import UnknownTrainingWindowError, model_baseline, training_window
from mlops_assets.defs.training.registry import TRAIN_WINDOW_TAG, VALIDATION_WINDOW_TAG
from mlops_assets.domain import LABEL_MATURITY_DAYS
from mlops_assets.feature_catalog import (
    CUSTOMER_FEATURES,
    ID_COLUMNS,
    MERCHANT_FEATURES,
    MODEL_FEATURES,
)
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.resources import LakehouseResource
from mlops_assets.tables import (
    CUSTOMER_TABLE,
    MERCHANT_TABLE,
    PREDICTIONS_TABLE,
    TRAINING_TABLE,
    VALIDATED_TABLE,
)

DAY = date(2025, 2, 10)
DATA_START = date(2024, 12, 1)
TRAINING_DAYS = [date(2025, 1, 13), date(2025, 1, 14), date(2025, 1, 15)]
MODEL = "fraud_lightgbm"
CATEGORIES = ["grocery", "fuel", "travel"]
BASELINE_PR_AUC = 0.9


def _frame(rows: int, seed: int, day: date | None = None, shift: float = 0.0, label_delay_days: float = 1.0):
    rng = np.random.default_rng(seed)
    start = datetime.combine(day or date(2025, 1, 15), datetime.min.time(), tzinfo=UTC)
    ts = [start + timedelta(seconds=int(s)) for s in rng.integers(0, 86_399, rows)]
    frame = pl.DataFrame(
        {
            "transaction_id": [f"t{seed}-{i}" for i in range(rows)],
            "customer_id": [f"c{i % 50}" for i in range(rows)],
            "merchant_id": [f"m{i % 20}" for i in range(rows)],
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
        pl.lit(MODEL).alias("model_name"),
        pl.lit("1").alias("model_version"),
    )


def _write_feature_days(lakehouse: LakehouseResource, frames: dict[date, pl.DataFrame]) -> None:
    """The validated and feature partitions `model_inputs` joins, as the feature stage writes them."""
    for day, frame in frames.items():
        lakehouse.write_partition(VALIDATED_TABLE, day, frame.select(ID_COLUMNS))
        lakehouse.write_partition(
            CUSTOMER_TABLE, day, frame.select("transaction_id", "event_timestamp", *CUSTOMER_FEATURES)
        )
        lakehouse.write_partition(
            MERCHANT_TABLE, day, frame.select("transaction_id", "event_timestamp", *MERCHANT_FEATURES)
        )


def _register(mlflow: MlflowResource, windows: dict[str, str] | None, pr_auc: float | None) -> str:
    """A registered version of MODEL tagged with its day windows as `training.flow` tags them."""
    client = mlflow.client()
    run = client.create_run(mlflow.experiment_id())
    if pr_auc is not None:
        client.log_metric(run.info.run_id, "holdout_pr_auc", pr_auc)
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models(f"name='{MODEL}'"):
        client.create_registered_model(MODEL)
    source = f"runs:/{run.info.run_id}/model"
    return str(client.create_model_version(MODEL, source, run_id=run.info.run_id, tags=windows).version)


@pytest.fixture
def monitored(resources: dict, tmp_path: Path) -> dict:
    """Version 1 trained on three days of features, and eight days it scored; the last day drifted."""
    lakehouse: LakehouseResource = resources["lakehouse"]
    # The data began long before: no day here is warming up its 30-day feature windows.
    early = _frame(10, seed=0, day=DATA_START).select(ID_COLUMNS)
    lakehouse.write_partition(VALIDATED_TABLE, DATA_START, early)
    _write_feature_days(lakehouse, {d: _frame(1000, seed=i, day=d) for i, d in enumerate(TRAINING_DAYS, 1)})
    for offset in range(8, 0, -1):
        day = DAY - timedelta(days=offset)
        lakehouse.write_partition(PREDICTIONS_TABLE, day, _frame(400, seed=10 + offset, day=day))
    lakehouse.write_partition(PREDICTIONS_TABLE, DAY, _frame(400, seed=99, day=DAY, shift=1.0))
    mlflow = MlflowResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    windows = {TRAIN_WINDOW_TAG: "2025-01-13..2025-01-14", VALIDATION_WINDOW_TAG: "2025-01-15..2025-01-15"}
    assert _register(mlflow, windows, BASELINE_PR_AUC) == "1"
    return {**resources, "mlflow": mlflow}


def _status(instance: dg.DagsterInstance, check: str) -> AssetCheckExecutionResolvedStatus:
    record = instance.get_latest_asset_check_evaluation_record(CHECK_KEYS[check])
    assert record is not None
    return asyncio.run(record.resolve_status(LoadingContextForTest(instance)))


def _evaluation(
    result: dg.ExecuteInProcessResult, check: str, day: date | None = None
) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == check and (day is None or e.partition == day.isoformat())
    ]
    return evaluation


def _as_of(instant: str, **extra: object) -> dict:
    return {"ops": {"drift_report": {"config": {"as_of": instant, **extra}}}}


def test_stable_days_pass_and_drifted_day_fails(monitored: dict, instance: dg.DagsterInstance) -> None:
    as_of = _as_of("2025-02-11T00:00:00")
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
    # Labels of early February are not mature on Feb 11: performance is pending (skipped), never "pass".
    assert _status(instance, PERFORMANCE_CHECK) == AssetCheckExecutionResolvedStatus.SKIPPED
    metadata = stable.asset_materializations_for_node("drift_report")[0].metadata
    # Only days v1 never trained or validated on (after 2025-01-15) would be judged.
    assert metadata["performance_reason"].value == (
        f"no day of {MODEL} v1 scored in 2025-01-16..2025-01-25, the newest 14 days whose labels are mature "
        "(at least 16 days old as of 2025-02-11T00:00:00+00:00), after its last training or validation day "
        "2025-01-15"
    )
    assert (metadata["reference_model"].value, metadata["reference_window"].value) == (
        f"{MODEL} v1",
        "2025-01-13..2025-01-15",
    )
    assert metadata["reference_rows"].value == 3000

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
    # Evidently's own verdict is shown beside ours: most of the 28 columns drifted for it too.
    assert materialization.metadata["evidently_drifted_columns"].value >= 20
    assert materialization.metadata["evidently_drift_share"].value == pytest.approx(
        materialization.metadata["evidently_drifted_columns"].value / 28
    )
    assert "| amount_eur | numeric | wasserstein |" in materialization.metadata["drifted_columns"].value
    assert materialization.metadata["performance_status"].value == "pending"
    # Written atomically: no temporary file is left beside the reports.
    assert sorted(p.name for p in html.parent.iterdir()) == [
        "2025-02-09.html",
        "2025-02-09.json",
        "2025-02-09.statistics.json",
        "2025-02-10.html",
        "2025-02-10.json",
        "2025-02-10.statistics.json",
    ]
    statistics = json.loads((html.parent / "2025-02-10.statistics.json").read_text())
    assert (statistics["reference_window"], len(statistics["features"])) == ("2025-01-13..2025-01-15", 28)


def test_reference_stays_the_champions_training_window_when_training_dataset_moves(
    monitored: dict, instance: dg.DagsterInstance
) -> None:
    # A retraining run rebuilt training_dataset on newer, shifted days and the gate rejected the new
    # model: the champion (v1) still scores, so its own training days stay the reference.
    lakehouse: LakehouseResource = monitored["lakehouse"]
    lakehouse.write_table(TRAINING_TABLE, _frame(3000, seed=5, day=DAY - timedelta(days=1), shift=1.0))
    result = dg.materialize(
        [drift_report],
        resources=monitored,
        instance=instance,
        run_config=_as_of("2025-02-11T00:00:00"),
        partition_key=(DAY - timedelta(days=1)).isoformat(),
    )
    feature = _evaluation(result, FEATURE_DRIFT_CHECK)
    # 400 rows a day: KS and chi-square p-values decide, so about 5 % of undrifted features flag by chance.
    assert feature.passed and feature.metadata["max_drift_share"].value < 0.15, feature.description
    metadata = result.asset_materializations_for_node("drift_report")[0].metadata
    assert metadata["reference_window"].value == "2025-01-13..2025-01-15"
    assert metadata["references"].value == {f"{MODEL} v1": {"window": "2025-01-13..2025-01-15", "rows": 3000}}


def test_each_version_is_compared_with_its_own_training_data(
    monitored: dict, instance: dg.DagsterInstance
) -> None:
    # Version 2 was trained on the shifted data and scored the drifted day: for it that day is not drift.
    lakehouse: LakehouseResource = monitored["lakehouse"]
    shifted_days = [DAY - timedelta(days=30), DAY - timedelta(days=29)]
    _write_feature_days(
        lakehouse, {d: _frame(800, seed=40 + i, day=d, shift=1.0) for i, d in enumerate(shifted_days)}
    )
    assert (
        _register(monitored["mlflow"], {TRAIN_WINDOW_TAG: f"{shifted_days[0]}..{shifted_days[1]}"}, 0.8)
        == "2"
    )
    lakehouse.write_partition(
        PREDICTIONS_TABLE,
        DAY,
        _frame(400, seed=99, day=DAY, shift=1.0).with_columns(pl.lit("2").alias("model_version")),
    )
    result = dg.materialize(
        [drift_report],
        resources=monitored,
        instance=instance,
        run_config=_as_of("2025-02-11T00:00:00", evidently_days="none"),
        tags={
            "dagster/asset_partition_range_start": (DAY - timedelta(days=1)).isoformat(),
            "dagster/asset_partition_range_end": DAY.isoformat(),
        },
    )
    assert _evaluation(result, FEATURE_DRIFT_CHECK, DAY).passed
    # The run-wide summary is on the run's last day (`metadata.run_summary`).
    references = result.asset_materializations_for_node("drift_report")[-1].metadata["references"].value
    assert references == {
        f"{MODEL} v1": {"window": "2025-01-13..2025-01-15", "rows": 3000},
        f"{MODEL} v2": {"window": "2025-01-11..2025-01-12", "rows": 1600},
    }


def test_backfill_covers_many_days_in_one_run_and_warn_severity(
    monitored: dict, instance: dg.DagsterInstance
) -> None:
    result = dg.materialize(
        [drift_report],
        resources=monitored,
        instance=instance,
        run_config=_as_of("2025-02-11T00:00:00", drift_severity="WARN", evidently_recent_days=2),
        tags={
            "dagster/asset_partition_range_start": (DAY - timedelta(days=7)).isoformat(),
            "dagster/asset_partition_range_end": DAY.isoformat(),
        },
    )
    assert len(instance.get_runs()) == 1
    days = [DAY - timedelta(days=i) for i in range(7, -1, -1)]
    # Read back from the instance: one feature_drift result per day, the drifted day the only failure.
    assert stored_check_results(instance, "drift_report", FEATURE_DRIFT_CHECK) == {
        d.isoformat(): d != DAY for d in days
    }
    feature = _evaluation(result, FEATURE_DRIFT_CHECK, DAY)
    assert (feature.passed, feature.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert feature.metadata["worst_day"].value == "2025-02-10"
    folder = Path(monitored["reports"].root) / "drift_report"
    reports = sorted(p.name for p in folder.glob("*.html"))
    assert reports == ["2025-02-09.html", "2025-02-10.html"]  # the drifted day and the last 2 days
    # Each day's materialization links its own files, never the run's last day's.
    for day in days:
        stored = stored_metadata(instance, "drift_report", day)
        assert stored["statistics_json"] == str(folder / f"{day}.statistics.json")
        assert stored["dagster/row_count"] == 400
        with_report = day >= DAY - timedelta(days=1)
        assert stored.get("report_html") == (str(folder / f"{day}.html") if with_report else None)
    assert stored_metadata(instance, "drift_report", DAY)["features_drifted"] >= 25
    assert stored_metadata(instance, "drift_report", DAY - timedelta(days=3))["features_drifted"] <= 4
    # Skipped checks are logged once per check for the run, each day with its reason.
    skipped = [e.user_message for e in instance.all_logs(result.run_id) if " skipped on " in e.user_message]
    assert len(skipped) == len({m.split(" skipped")[0] for m in skipped})
    (performance,) = [m for m in skipped if m.startswith(f"check {PERFORMANCE_CHECK} ")]
    assert performance.startswith(
        f"check {PERFORMANCE_CHECK} skipped on 8 of 8 days (no result stored): 2025-02-03: pending: "
    )
    assert performance.count("pending: ") == 8
    # The checks' step outputs are yielded too: Dagster does not report them as missing.
    logged = [e.user_message for e in instance.all_logs(result.run_id)]
    assert not [m for m in logged if "did not yield or return expected outputs" in m]


def test_evidently_html_only_for_drifted_and_recent_days_and_named_days_on_demand(
    monitored: dict, instance: dg.DagsterInstance
) -> None:
    lakehouse: LakehouseResource = monitored["lakehouse"]
    drifted, quiet, last = DAY - timedelta(days=3), DAY - timedelta(days=5), DAY - timedelta(days=1)
    lakehouse.write_partition(PREDICTIONS_TABLE, drifted, _frame(400, seed=98, day=drifted, shift=1.0))
    folder = Path(monitored["reports"].root) / "drift_report"

    def run(**config: object) -> None:
        result = dg.materialize(
            [drift_report],
            resources=monitored,
            instance=instance,
            run_config=_as_of("2025-02-11T00:00:00", **config),
            tags=range_tags(DAY - timedelta(days=7), last),
        )
        assert result.success

    # On demand first: a quiet day named in the config gets its report.
    run(evidently_days=f"{quiet}...{quiet}")
    assert sorted(p.name for p in folder.glob("*.html")) == [f"{quiet}.html"]
    assert stored_metadata(instance, "drift_report", quiet)["evidently"] == "written: named in evidently_days"

    # The default: the day whose feature_drift failed and the run's last days; the quiet day's report,
    # which described an earlier run, is gone with it.
    run(evidently_recent_days=1)
    assert sorted(p.name for p in folder.glob("*.html")) == [f"{drifted}.html", f"{last}.html"]
    assert sorted(p.name for p in folder.glob("*.statistics.json")) == [
        f"{DAY - timedelta(days=i)}.statistics.json" for i in range(7, 0, -1)
    ]
    assert stored_metadata(instance, "drift_report", drifted)["evidently"] == "written: feature_drift failed"
    assert stored_metadata(instance, "drift_report", last)["evidently"] == (
        "written: among the run's last 1 day"
    )
    stored = stored_metadata(instance, "drift_report", quiet)
    assert "report_html" not in stored
    assert stored["evidently"] == (
        "no Evidently HTML: feature_drift passed or was not judged; not among the run's last 1 day. "
        "The statistics JSON has every figure; to write the report, re-materialize the day alone (its run's "
        "last day gets one): dagster asset materialize -m mlops_assets.definitions --select drift_report "
        f"--partition {quiet}"
    )
    assert not (folder / f"{quiet}.json").exists()


def test_a_bad_evidently_days_fails_the_run_naming_the_value(
    monitored: dict, instance: dg.DagsterInstance
) -> None:
    with pytest.raises(ValueError, match=r"evidently_days 'drifted,2025-02-31': '2025-02-31' is neither"):
        dg.materialize(
            [drift_report],
            resources=monitored,
            instance=instance,
            run_config=_as_of("2025-02-11T00:00:00", evidently_days="drifted,2025-02-31"),
            partition_key=DAY.isoformat(),
        )


def test_performance_is_judged_on_mature_days_against_the_versions_baseline(
    monitored: dict, instance: dg.DagsterInstance
) -> None:
    # On March 1 the whole window (the 8 scored days up to Feb 10) is more than 16 days old.
    result = dg.materialize(
        [drift_report],
        resources=monitored,
        instance=instance,
        run_config=_as_of("2025-03-01T00:00:00", evidently_days="none"),
        partition_key=(DAY - timedelta(days=1)).isoformat(),
    )
    performance = _evaluation(result, PERFORMANCE_CHECK)
    assert performance.metadata["baseline_pr_auc"].value == BASELINE_PR_AUC
    assert performance.metadata["window"].value == "2025-02-02..2025-02-09"
    assert (performance.metadata["rows"].value, performance.metadata["immature_rows"].value) == (3200, 0)
    # Frauds score 0.5 + U(0, 0.4), legitimate rows U(0, 0.4): PR AUC 1.0 is no drop from 0.9.
    assert (performance.passed, performance.metadata["pr_auc"].value) == (True, 1.0)


def test_unusable_reference_skips_drift_with_the_reason(
    monitored: dict, instance: dg.DagsterInstance
) -> None:
    # Version 2's training window holds 50 rows: too few to judge drift against.
    small_day = DAY - timedelta(days=20)
    _write_feature_days(monitored["lakehouse"], {small_day: _frame(50, seed=60, day=small_day)})
    assert _register(monitored["mlflow"], {TRAIN_WINDOW_TAG: f"{small_day}..{small_day}"}, 0.8) == "2"
    monitored["lakehouse"].write_partition(
        PREDICTIONS_TABLE, DAY, _frame(400, seed=99, day=DAY).with_columns(pl.lit("2").alias("model_version"))
    )
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


def test_training_window_comes_from_the_versions_window_tags(monitored: dict) -> None:
    mlflow: MlflowResource = monitored["mlflow"]
    assert training_window(mlflow, MODEL, "1") == (date(2025, 1, 13), date(2025, 1, 15))
    with pytest.raises(UnknownTrainingWindowError, match=f"MLflow knows no model version {MODEL} v7"):
        training_window(mlflow, MODEL, "7")
    assert _register(mlflow, None, None) == "2"
    with pytest.raises(UnknownTrainingWindowError, match=f"{MODEL} v2 has no window tags"):
        training_window(mlflow, MODEL, "2")
    assert _register(mlflow, {TRAIN_WINDOW_TAG: "2025-01-13"}, None) == "3"
    with pytest.raises(UnknownTrainingWindowError, match=r"expected YYYY-MM-DD\.\.YYYY-MM-DD"):
        training_window(mlflow, MODEL, "3")


def test_baseline_unknown_only_when_mlflow_says_not_found(
    monitored: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow: MlflowResource = monitored["mlflow"]
    assert model_baseline(mlflow, MODEL, "1") == BASELINE_PR_AUC
    assert model_baseline(mlflow, MODEL, "9") is None
    assert model_baseline(mlflow, "no_such_model", "1") is None

    # Any other failure (here: the store answers "temporarily unavailable") is raised, not "no baseline".
    class DownClient:
        def get_model_version(self, name: str, version: str) -> None:
            raise MlflowException("database is locked", error_code=TEMPORARILY_UNAVAILABLE)

    monkeypatch.setattr(MlflowResource, "client", lambda self: DownClient())
    with pytest.raises(MlflowException, match="database is locked"):
        model_baseline(mlflow, MODEL, "1")


def test_unreachable_mlflow_fails_the_run(
    monitored: dict, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")  # the store's folder is a file: SQLite cannot open the database
    down = {**monitored, "mlflow": MlflowResource(tracking_uri=f"sqlite:///{blocker / 'mlflow.db'}")}
    result = dg.materialize(
        [drift_report], resources=down, instance=instance, partition_key=DAY.isoformat(), raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "is unreachable" in str(failure.step_failure_data.error)


def test_statistics_json_is_written_atomically(
    monitored: dict, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    real = monitoring_report.write_text_atomic

    def spy(text: str, path: Path) -> Path:
        written.append(path.name)
        return real(text, path)

    monkeypatch.setattr(monitoring_report, "write_text_atomic", spy)
    dg.materialize(
        [drift_report],
        resources=monitored,
        instance=instance,
        run_config=_as_of("2025-02-11T00:00:00", evidently_days="none"),
        partition_key=DAY.isoformat(),
    )
    assert written == ["2025-02-10.statistics.json"]
    assert json.loads((Path(monitored["reports"].root) / "drift_report" / written[0]).read_text())["day"] == (
        "2025-02-10"
    )


def test_check_descriptions_quote_the_configurable_defaults() -> None:
    descriptions = {spec.key.name: spec.description or "" for spec in drift_report.check_specs}
    assert f"`psi_threshold` (default {DriftConfig().psi_threshold})" in descriptions[PREDICTION_DRIFT_CHECK]
    assert "`max_drift_share` (default 0.3)" in descriptions[FEATURE_DRIFT_CHECK]
    assert f"at least {LABEL_MATURITY_DAYS} days old" in descriptions[PERFORMANCE_CHECK]


def test_ranged_run_with_one_drifted_day_retrains_naming_that_day(
    monitored: dict, instance: dg.DagsterInstance
) -> None:
    from mlops_assets.defs.automation.retraining import build_retraining_sensor

    # The drift sits in the middle of the range: passing days are stored after it.
    lakehouse: LakehouseResource = monitored["lakehouse"]
    bad = DAY - timedelta(days=2)
    lakehouse.write_partition(PREDICTIONS_TABLE, bad, _frame(400, seed=98, day=bad, shift=1.0))
    lakehouse.write_partition(PREDICTIONS_TABLE, DAY, _frame(400, seed=97, day=DAY))
    first = DAY - timedelta(days=3)
    result = dg.materialize(
        [drift_report],
        resources=monitored,
        instance=instance,
        run_config=_as_of("2025-02-11T00:00:00", evidently_days="none"),
        tags=range_tags(first, DAY),
    )
    assert result.success
    assert stored_check_results(instance, "drift_report", FEATURE_DRIFT_CHECK) == {
        (first + timedelta(days=i)).isoformat(): first + timedelta(days=i) != bad for i in range(4)
    }
    sensor = build_retraining_sensor(name="retraining_after_backfill")
    context = dg.build_sensor_context(instance=instance, resources={"mlflow": monitored["mlflow"]})
    request = sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert request.tags["mlops/trigger"] == "drift_report:feature_drift"
    assert request.tags["mlops/trigger_partition"] == bad.isoformat()
    assert request.tags["mlops/trigger_reason"].startswith(f"{bad}: ")
