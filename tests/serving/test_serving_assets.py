"""After a served day: `serving_log` and `shadow_comparison` materialize and their checks run, per day."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import httpx
from serving_world import SERVED_DAY, request_body

from mlops_assets.defs.serving.assets import (
    CHALLENGER_CHECK,
    PARITY_CHECK,
    SERVED_DRIFT_CHECK,
    SHADOW_COVERAGE_CHECK,
    serving_log,
    shadow_comparison,
)
from mlops_assets.resources import PredictionLogResource


def test_a_served_day_materializes_with_its_checks(world, serve, tmp_path):
    rows = world.served.sort("event_timestamp", "transaction_id").to_dicts()
    with serve() as (url, _service), httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, len(rows), 100):
            chunk = [request_body(r) for r in rows[start : start + 100]]
            assert client.post("/score/batch", json={"transactions": chunk}).status_code == 200
    resources = {
        **world.resources,
        "prediction_log": PredictionLogResource(root=str(tmp_path / "prediction_log")),
    }
    as_of = (SERVED_DAY + timedelta(days=60)).isoformat()  # the day's labels have all arrived
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [serving_log, shadow_comparison],
            resources=resources,
            instance=instance,
            partition_key=SERVED_DAY.isoformat(),
            run_config={"ops": {"shadow_comparison": {"config": {"as_of": as_of}}}},
        )
        assert result.success
        events = instance.fetch_materializations(dg.AssetKey("serving_log"), limit=10).records
        assert [e.partition_key for e in events] == [SERVED_DAY.isoformat()]
        metadata = {k: v.value for k, v in events[0].asset_materialization.metadata.items()}
        assert metadata["dagster/row_count"] == len(rows) and metadata["shadow_scored"] == len(rows)
        assert metadata["shadow_errors"] == 0

        log_checks = {
            e.check_name: e
            for e in result.get_asset_check_evaluations()
            if e.asset_key == dg.AssetKey("serving_log")
        }
        assert log_checks[PARITY_CHECK].passed, log_checks[PARITY_CHECK].description
        assert log_checks[PARITY_CHECK].metadata["transactions_compared"].value == len(rows)
        assert log_checks[PARITY_CHECK].metadata["exact_features_mismatched"].value == 0
        assert SERVED_DRIFT_CHECK in log_checks  # served traffic is judged against the training data

        shadow = {
            e.check_name: e
            for e in result.get_asset_check_evaluations()
            if e.asset_key == dg.AssetKey("shadow_comparison")
        }
        assert shadow[SHADOW_COVERAGE_CHECK].passed
        comparison = (
            world.resources["lakehouse"].read_partition("shadow_comparison", SERVED_DAY).row(0, named=True)
        )
        assert comparison["requests"] == comparison["shadow_scored"] == len(rows)
        assert 0.0 <= comparison["agreement"] <= 1.0 and -1.0 <= comparison["score_correlation"] <= 1.0
        if comparison["label_status"] == "mature":
            assert CHALLENGER_CHECK in shadow
            assert comparison["ci_low"] <= comparison["pr_auc_difference"] <= comparison["ci_high"]
        else:  # too few frauds to judge: skipped, never a pass
            assert CHALLENGER_CHECK not in shadow
        # The instance holds what the UI shows: one materialization per day, each check's evaluation.
        for asset, check in (("serving_log", PARITY_CHECK), ("shadow_comparison", SHADOW_COVERAGE_CHECK)):
            key = dg.AssetCheckKey(dg.AssetKey(asset), check)
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
            assert record.status.value == "SUCCEEDED"
            evaluation = record.event.dagster_event.event_specific_data
            assert evaluation.passed and SERVED_DAY.isoformat() in evaluation.metadata["per_day"].value
