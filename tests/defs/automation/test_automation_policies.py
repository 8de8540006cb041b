"""`apply_automation` on the real code location: conditions, freshness policies, and a real evaluation."""

import uuid
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
        assert node.automation_condition.get_label() == "daily_flow", name
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
            _materialized(instance, table, earlier)
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0  # the new day has no data yet; older days are not the latest
    _materialized(instance, RAW_TABLE, day)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert result.get_requested_partitions(dg.AssetKey("validated_transactions")) == {day}
    assert result.get_requested_partitions(dg.AssetKey("quarantined_transactions")) == {day}
    # The day flows down in the same tick (eager counts deps that will be requested as present) ...
    for name in ("customer_features", "merchant_features", "online_features"):
        assert result.get_requested_partitions(dg.AssetKey(name)) == {day}, name
    # ... but stops where an input is missing: no champion model yet, so no scoring and no drift report.
    assert result.get_num_requested(dg.AssetKey("batch_predictions")) == 0
    assert result.get_num_requested(dg.AssetKey("drift_report")) == 0


FLOW_TABLES = (
    RAW_TABLE,
    VALIDATED_TABLE,
    "quarantined_transactions",
    "customer_features",
    "merchant_features",
    "batch_predictions",
    "drift_report",
)
CHAMPIONS_V1 = "fraud_lightgbm=v1,fraud_torch=v1"


def _materialized(
    instance: dg.DagsterInstance, asset: str, partition: str | None = None, version: str | None = None
) -> None:
    """A runless materialization carrying a data version, as every real run's does (a new one each time)."""
    tags = {"dagster/data_version": version or uuid.uuid4().hex}
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition, tags=tags))


def _history(instance: dg.DagsterInstance, days: list[str]) -> None:
    """Every daily table materialized for `days`, plus the unpartitioned assets scoring needs."""
    for day in days:
        for table in FLOW_TABLES:
            _materialized(instance, table, day)
    _materialized(instance, "online_features")
    _materialized(instance, "model_promotion", version=CHAMPIONS_V1)


def _days_back(count: int) -> list[str]:
    last = date.fromisoformat(daily_partitions.get_last_partition_key())
    return [(last - timedelta(days=offset)).isoformat() for offset in range(count - 1, -1, -1)]


def test_an_automated_run_of_the_new_day_evaluates_every_check_of_its_assets(
    code_location: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    # Dagster's own run-request builder, as the automation daemon calls it (private: no public API
    # returns the run requests of an evaluation).
    from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests

    defs = apply_automation(code_location)
    days = _days_back(21)
    _history(instance, days[:-1])
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    _materialized(instance, RAW_TABLE, days[-1])
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert result.get_requested_partitions(dg.AssetKey("drift_report")) == {days[-1]}
    requests = build_run_requests(
        result._requested_subsets,  # type: ignore[arg-type]
        defs.resolve_asset_graph(),
        None,
        emit_backfills=False,
    )
    (daily,) = [r for r in requests if dg.AssetKey("drift_report") in (r.asset_selection or [])]
    assert dg.AssetKey(VALIDATED_TABLE) in (daily.asset_selection or [])
    # None: every check of the selected assets runs. An explicit list (what a non-subsettable
    # validation multi-asset forced) left out drift_report's checks, which the op then skipped.
    assert daily.asset_check_keys is None


def test_a_refused_promotion_rescores_nothing_and_a_new_champion_rescores_the_latest_day(
    code_location: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    defs = apply_automation(code_location)
    _history(instance, _days_back(10))
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    # The gate refused the challenger: model_promotion materialized again, its data version unchanged.
    _materialized(instance, "model_promotion", version=CHAMPIONS_V1)
    refused = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert refused.total_requested == 0
    _materialized(instance, "model_promotion", version="fraud_lightgbm=v2,fraud_torch=v1")
    promoted = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=refused.cursor)
    latest = {daily_partitions.get_last_partition_key()}
    # A new champion scores the newest day; past days keep the scores of the model that served them.
    assert promoted.get_requested_partitions(dg.AssetKey("batch_predictions")) == latest
    assert promoted.get_requested_partitions(dg.AssetKey("drift_report")) == latest


def test_a_corrected_past_day_flows_to_every_partition_whose_lookback_holds_it(
    code_location: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    defs = apply_automation(code_location)
    days = _days_back(20)
    _history(instance, days)
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    corrected = days[-6]  # re-landed with changed content; the landing sensor re-ingested it
    _materialized(instance, RAW_TABLE, corrected)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    from_corrected = set(days[-6:])  # the day and the five after it, whose 30-day lookback holds it
    assert result.get_requested_partitions(dg.AssetKey(VALIDATED_TABLE)) == {corrected}
    assert result.get_requested_partitions(dg.AssetKey("quarantined_transactions")) == {corrected}
    for name in ("customer_features", "merchant_features", "batch_predictions", "drift_report"):
        assert result.get_requested_partitions(dg.AssetKey(name)) == from_corrected, name
    # Evaluated again without a new event: nothing is requested twice.
    again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert again.total_requested == 0


def test_corrections_older_than_the_window_are_left_to_a_manual_backfill(
    code_location: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    defs = apply_automation(code_location)
    days = _days_back(40)
    _history(instance, days)
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    _materialized(instance, RAW_TABLE, days[0])
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert result.get_num_requested(dg.AssetKey(VALIDATED_TABLE)) == 0
    # Its lookback reaches into the window: only those feature days are re-computed.
    window = {d for d in days if date.fromisoformat(d) >= date.fromisoformat(days[-1]) - timedelta(days=30)}
    customer = result.get_requested_partitions(dg.AssetKey("customer_features"))
    assert customer <= window


def test_a_failed_blocking_validation_check_stops_that_days_downstream(
    code_location: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    defs = apply_automation(code_location)
    days = _days_back(10)
    _history(instance, days[:-1])
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    _materialized(instance, RAW_TABLE, days[-1])
    # One tick requests the whole day in one run ...
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert tick.get_requested_partitions(dg.AssetKey("drift_report")) == {days[-1]}
    # ... whose validation step stored the day and its failed blocking check, then failed the step:
    # nothing downstream ran in that run.
    _materialized(instance, VALIDATED_TABLE, days[-1])
    _materialized(instance, "quarantined_transactions", days[-1])
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(VALIDATED_TABLE),
            check_name="schema_pass_rate",
            passed=False,
            blocking=True,
            partition=days[-1],
            description="62% of raw rows pass the schema (threshold 95%)",
        )
    )
    cursor = tick.cursor
    blocked = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    for name in ("customer_features", "merchant_features", "batch_predictions", "drift_report"):
        assert blocked.get_num_requested(dg.AssetKey(name)) == 0, name
