"""`apply_automation` on the real code location: conditions, freshness policies, and a real evaluation."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.defs.automation.policies import (
    AUTOMATION_SENSOR,
    DAILY_DATA_FRESHNESS,
    DAILY_FLOW,
    MODEL_FRESHNESS,
    apply_automation,
)
from mlops_assets.defs.features.compute import MERCHANT_LOOKBACK_DAYS
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.partitions import daily_partitions
from mlops_assets.resources import build_resources
from mlops_assets.settings import REPO_ROOT, Settings
from mlops_assets.tables import RAW_TABLE, VALIDATED_TABLE


@pytest.fixture
def code_location(settings: Settings) -> dg.Definitions:
    resources = dict(build_resources(settings))
    resources.setdefault("mlflow", MlflowResource(tracking_uri=settings.mlflow_tracking_uri))
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(REPO_ROOT) / "mlops_assets"),
        dg.Definitions(resources=resources),
    )


def test_specs_get_conditions_and_freshness_policies(code_location: dg.Definitions) -> None:
    defs = apply_automation(code_location)
    graph = defs.resolve_asset_graph()
    for name in DAILY_FLOW:
        node = graph.get(dg.AssetKey(name))
        assert node.automation_condition is not None, name
        assert node.automation_condition.get_label() == "eager", name
    raw = graph.get(dg.AssetKey("raw_transactions"))
    assert raw.automation_condition is None  # started by the landing sensor
    assert raw.freshness_policy == DAILY_DATA_FRESHNESS
    assert graph.get(dg.AssetKey("validated_transactions")).freshness_policy == DAILY_DATA_FRESHNESS
    assert DAILY_DATA_FRESHNESS.fail_window.to_timedelta() == timedelta(hours=36)
    assert graph.get(dg.AssetKey(["fraud_model", "lightgbm"])).freshness_policy == MODEL_FRESHNESS
    assert graph.get(dg.AssetKey("training_dataset")).automation_condition is None
    sensors = {s.name for s in defs.get_repository_def().sensor_defs}
    assert {AUTOMATION_SENSOR, "landing_files_sensor", "retraining_sensor"} <= sensors
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {"retraining_job", "ingest_raw_transactions"} <= jobs


def test_every_partitioned_asset_has_a_single_run_backfill_policy(code_location: dg.Definitions) -> None:
    graph = code_location.resolve_asset_graph()
    partitioned = [
        graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is not None
    ]
    assert len(partitioned) >= 7
    missing = [
        n.key.to_user_string() for n in partitioned if n.backfill_policy != dg.BackfillPolicy.single_run()
    ]
    assert missing == []


def test_a_new_raw_partition_requests_validation(
    code_location: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    defs = apply_automation(code_location)
    day = daily_partitions.get_last_partition_key()
    # A young deployment with a hole in its history: the feature tables declare MERCHANT_LOOKBACK_DAYS
    # validated days before the new one, but only 20 exist, and one of those was never ingested.
    # The newest day must still flow down: a missing history day is "no data", not a blocker.
    last = date.fromisoformat(day)
    assert MERCHANT_LOOKBACK_DAYS > 20
    for offset in [o for o in range(1, 21) if o != 12]:
        earlier = (last - timedelta(days=offset)).isoformat()
        for table in (RAW_TABLE, VALIDATED_TABLE):
            instance.report_runless_asset_event(dg.AssetMaterialization(table, partition=earlier))
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0  # the new day has no data yet; older days are not the latest
    instance.report_runless_asset_event(dg.AssetMaterialization("raw_transactions", partition=day))
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert result.get_requested_partitions(dg.AssetKey("validated_transactions")) == {day}
    assert result.get_requested_partitions(dg.AssetKey("quarantined_transactions")) == {day}
    # The day flows down in the same tick (eager counts deps that will be requested as present) ...
    for name in ("customer_features", "merchant_features", "online_features"):
        assert result.get_requested_partitions(dg.AssetKey(name)) == {day}, name
    # ... but stops where an input is missing: no champion model yet, so no scoring and no drift report.
    assert result.get_num_requested(dg.AssetKey("batch_predictions")) == 0
    assert result.get_num_requested(dg.AssetKey("drift_report")) == 0
