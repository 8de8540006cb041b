"""End to end: concept drift breaks the champion, mature labels show it, retraining repairs it.

96 simulated days of 600 rows, concept drift from day 60 (fraudsters switch from large payments abroad
to card-testing bursts). Everything is real: the assets, a Dagster instance, the landing and retraining
sensors (ticked with `build_sensor_context`), MLflow on SQLite, files in a temporary lakehouse.

1. History lands and is processed in one single-run backfill, as a new deployment loads it.
2. The first model is trained on mature pre-drift days (30-59) and becomes champion (floors only).
3. It scores days 46-73. Its realized PR AUC, from the labels once they arrive, falls by at least 30 %
   from the pre-drift days to the post-drift days; the label-free estimate beside it does not see that
   (the documented limit of confidence-based estimation).
4. The drift report judges days 60-73 twice: the morning after day 73, when no post-drift label is
   mature (performance is judged on the mature pre-drift days and passes; no retraining requested), and
   once they are mature (performance fails, the retraining sensor requests a run naming that check).
5. The retraining run trains on a window that now holds mature post-drift days; the gate promotes the
   new champion with the lower bound of its PR AUC gain's confidence interval above the margin.
6. The new champion scores days it never saw (after its data window) and its realized PR AUC recovers
   most of the loss.
"""

import asyncio
import time
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.loader import LoadingContextForTest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionResolvedStatus

from mlops_assets.defs.automation.landing import landing_files_sensor
from mlops_assets.defs.automation.retraining import build_retraining_sensor, retraining_job
from mlops_assets.defs.features.assets import customer_features, merchant_features, training_dataset
from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.monitoring.assets import CHECK_KEYS, PERFORMANCE_CHECK, drift_report
from mlops_assets.defs.monitoring.estimated_performance import estimated_performance
from mlops_assets.defs.monitoring.predictions import batch_predictions
from mlops_assets.defs.training.assets import fraud_model, model_promotion
from mlops_assets.defs.training.evaluation import evaluate
from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME
from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
from mlops_assets.domain import LABEL_MATURITY_DAYS
from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings
from mlops_assets.simulator import SimulationConfig
from mlops_assets.simulator.writer import write_day

START = date(2025, 1, 1)
WARM_START = START + timedelta(days=30)  # the longest customer aggregate (30 days) is complete from here
DRIFT_DAY = START + timedelta(days=60)
LAST_DAY = DRIFT_DAY + timedelta(days=35)
CONFIG = SimulationConfig(
    start=START, days=96, rows_per_day=600, drift_start=DRIFT_DAY, drift_kinds=("concept",)
)
FEATURE_FLOW = [
    raw_transactions,
    validated_and_quarantined_transactions,
    customer_features,
    merchant_features,
]
MARGIN = 0.005  # the gate's default min_pr_auc_gain
FRAUD_MODEL_CONFIG = {
    "validation_days": 3,
    "holdout_days": 5,
    "torch_max_epochs": 5,
    "lightgbm_max_rounds": 200,
    "num_threads": 1,
}


def _train_config(end_date: date | None = None) -> dict:
    dataset = {"start_date": WARM_START.isoformat()}
    if end_date is not None:  # labels as of midnight that day; the window stops LABEL_MATURITY_DAYS before
        dataset["end_date"] = end_date.isoformat()
    return {
        "ops": {
            "training_dataset": {"config": dataset},
            "fraud_model": {"config": FRAUD_MODEL_CONFIG},
        }
    }


def _range(first: date, last: date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def _morning_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)


def _realized_pr_auc(resources: dict, first: date, last: date) -> tuple[float, set[str]]:
    """PR AUC of the scored rows of days first..last against their labels (all arrived by now)."""
    scored = resources["lakehouse"].scan_range("batch_predictions", first, last + timedelta(days=1)).collect()
    return evaluate(scored, scored["score"].to_numpy()).pr_auc, set(scored["model_version"])


def _markdown_rows(table: str) -> list[dict[str, str]]:
    header, _, *rows = table.strip().splitlines()
    names = [c.strip() for c in header.strip("|").split("|")]
    return [dict(zip(names, (c.strip() for c in row.strip("|").split("|")), strict=True)) for row in rows]


def _promotion_metadata(instance: dg.DagsterInstance, run_id: str) -> dict:
    (event,) = [
        e
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        if e.dagster_event and e.dagster_event.asset_key == dg.AssetKey("model_promotion")
    ]
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _performance_status(instance: dg.DagsterInstance) -> AssetCheckExecutionResolvedStatus:
    record = instance.get_latest_asset_check_evaluation_record(CHECK_KEYS[PERFORMANCE_CHECK])
    assert record is not None
    return asyncio.run(record.resolve_status(LoadingContextForTest(instance)))


pytestmark = pytest.mark.slow


def test_concept_drift_is_measured_retrained_and_recovered(
    settings: Settings, instance: dg.DagsterInstance
) -> None:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    resources = dict(build_resources(settings))
    job = dg.Definitions(
        assets=[*FEATURE_FLOW, training_dataset, fraud_model, model_promotion],
        jobs=[retraining_job],
        resources=resources,
    ).resolve_job_def("retraining_job")
    client = resources["mlflow"].client()

    # 1. History: every day lands, the landing sensor asks for each, one single-run backfill processes them.
    days = CONFIG.dates
    for day in days:
        write_day(day, CONFIG, settings.data_dir, "parquet")
    context = dg.build_sensor_context(instance=instance, resources={"landing": resources["landing"]})
    requested = [r.partition_key for r in landing_files_sensor(context) or [] if isinstance(r, dg.RunRequest)]
    assert requested == [d.isoformat() for d in days]
    assert dg.materialize(
        FEATURE_FLOW, resources=resources, instance=instance, tags=_range(START, LAST_DAY)
    ).success
    timings["history"] = time.perf_counter() - started

    # 2. The first model, trained on mature pre-drift days only (labels as of day 76: days 30-59).
    first = job.execute_in_process(
        instance=instance, run_config=_train_config(DRIFT_DAY + timedelta(days=LABEL_MATURITY_DAYS))
    )
    assert first.success
    decision = _promotion_metadata(instance, first.run_id)
    assert decision["outcome"] == "promoted_first_model"
    champion_v1 = decision["champion_version"]
    timings["first model"] = time.perf_counter() - started

    # 3. It scores two weeks before and two weeks after the drift; realized PR AUC falls by >= 30 %.
    pre_first, post_last = DRIFT_DAY - timedelta(days=14), DRIFT_DAY + timedelta(days=13)
    scored = dg.materialize(
        [batch_predictions, estimated_performance],
        resources=resources,
        instance=instance,
        tags=_range(pre_first, post_last),
        # The label-free estimate, read as of a time when every label of these days has arrived.
        run_config={"ops": {"estimated_performance": {"config": {"as_of": "2030-01-01T00:00:00+00:00"}}}},
    )
    assert scored.success
    before, versions = _realized_pr_auc(resources, pre_first, DRIFT_DAY - timedelta(days=1))
    after, _ = _realized_pr_auc(resources, DRIFT_DAY, post_last)
    assert versions == {champion_v1}
    assert after <= 0.7 * before, (before, after)
    # The estimate cannot see concept drift: on post-drift days it stays far above the realized value.
    (estimate_check,) = scored.get_asset_check_evaluations()
    per_day = _markdown_rows(estimate_check.metadata["per_day"].value)
    post = [r for r in per_day if date.fromisoformat(r["day"]) >= DRIFT_DAY]
    gaps = [float(r["estimated_pr_auc"]) - float(r["realized_pr_auc"]) for r in post]
    assert len(post) == 14 and sum(gaps) / len(gaps) > 0.1, post

    # 4. The drift report on the post-drift days, the morning after the last one: their labels are not
    # mature, so nothing asks for a retraining. Once labels are mature, the
    # performance check fails and the retraining sensor requests a run for it.
    sensor = build_retraining_sensor(name="scenario_retraining", clock=lambda: _morning_after(post_last))

    def judge(as_of: datetime) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [drift_report],
            resources=resources,
            instance=instance,
            tags=_range(DRIFT_DAY, post_last),
            run_config={
                "ops": {
                    "drift_report": {
                        "config": {"as_of": as_of.isoformat(), "evidently_days": post_last.isoformat()}
                    }
                }
            },
        )

    assert judge(_morning_after(post_last)).success
    # The only mature scored days are before the drift: they pass; the post-drift days wait for labels.
    assert _performance_status(instance) == AssetCheckExecutionResolvedStatus.SUCCEEDED
    sensor_context = dg.build_sensor_context(instance=instance, resources={"mlflow": resources["mlflow"]})
    outcome = sensor(sensor_context)
    assert not isinstance(outcome, dg.RunRequest), outcome.tags
    mature = _morning_after(post_last + timedelta(days=LABEL_MATURITY_DAYS))
    assert judge(mature).success
    assert _performance_status(instance) == AssetCheckExecutionResolvedStatus.FAILED
    sensor = build_retraining_sensor(name="scenario_retraining", clock=lambda: mature)
    request = sensor(
        dg.build_sensor_context(
            instance=instance, cursor=sensor_context.cursor, resources={"mlflow": resources["mlflow"]}
        )
    )
    assert isinstance(request, dg.RunRequest)
    assert request.tags["mlops/trigger"] == "drift_report:model_performance"
    timings["drift and performance"] = time.perf_counter() - started

    # 5. The retraining run: the window now holds mature post-drift days, and the gate promotes the new
    # champion because the lower bound of its PR AUC gain's interval clears the margin.
    retrain = job.execute_in_process(instance=instance, run_config=_train_config(), tags=request.tags)
    assert retrain.success
    decision = _promotion_metadata(instance, retrain.run_id)
    assert decision["outcome"] == "promoted", decision["reasons"]
    assert decision["pr_auc_gain_ci_low"] > MARGIN
    assert decision["compared_positives"] >= 30
    new_champion = decision["champion_version"]
    assert new_champion != champion_v1
    assert str(client.get_model_version_by_alias(REGISTERED_MODEL_NAME, "champion").version) == new_champion
    tags = client.get_model_version(REGISTERED_MODEL_NAME, new_champion).tags
    assert tags["promotion_decision"] == "promoted"
    assert float(tags["promotion_pr_auc_gain_ci"].split("..")[0]) > MARGIN
    timings["retraining"] = time.perf_counter() - started

    # 6. The new champion on days after its data window: realized PR AUC recovers most of the loss.
    window_end = date.fromisoformat(tags["holdout_window"].split("..")[1])
    unseen_first = window_end + timedelta(days=1)
    assert dg.materialize(
        [batch_predictions], resources=resources, instance=instance, tags=_range(unseen_first, LAST_DAY)
    ).success
    recovered, versions = _realized_pr_auc(resources, unseen_first, LAST_DAY)
    assert versions == {new_champion}
    assert recovered - after >= 0.5 * (before - after), (before, after, recovered)
    print(
        {k: round(v, 1) for k, v in timings.items()},
        {"before": round(before, 3), "after": round(after, 3), "recovered": round(recovered, 3)},
        {
            k: decision[k]
            for k in ("pr_auc_gain", "pr_auc_gain_ci_low", "pr_auc_gain_ci_high", "compared_positives")
        },
    )
