"""After a served day: `serving_log` and `shadow_comparison` materialize and their checks run, per day.

The run covers the served day and the day before it, when nothing was served: each day's metadata and
check results are its own in the instance (the day before has 0 rows and no check result, never a pass).
"""

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
    day_before = SERVED_DAY - timedelta(days=1)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [serving_log, shadow_comparison],
            resources=resources,
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": day_before.isoformat(),
                "dagster/asset_partition_range_end": SERVED_DAY.isoformat(),
            },
            run_config={"ops": {"shadow_comparison": {"config": {"as_of": as_of}}}},
        )
        assert result.success
        events = instance.fetch_materializations(dg.AssetKey("serving_log"), limit=10).records
        by_day = {
            e.partition_key: {k: v.value for k, v in e.asset_materialization.metadata.items()} for e in events
        }
        assert set(by_day) == {day_before.isoformat(), SERVED_DAY.isoformat()}
        metadata = by_day[SERVED_DAY.isoformat()]
        assert metadata["dagster/row_count"] == len(rows) and metadata["shadow_scored"] == len(rows)
        assert metadata["shadow_errors"] == 0
        assert metadata["path"].endswith(f"serving_log/date={SERVED_DAY.isoformat()}/part-0.parquet")
        assert by_day[day_before.isoformat()]["dagster/row_count"] == 0
        comparisons = instance.fetch_materializations(dg.AssetKey("shadow_comparison"), limit=10).records
        requests = {e.partition_key: e.asset_materialization.metadata["requests"].value for e in comparisons}
        assert requests == {day_before.isoformat(): 0, SERVED_DAY.isoformat(): len(rows)}

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
        # The instance holds what the UI shows: each check's result is the served day's, and only its.
        for asset, check in (("serving_log", PARITY_CHECK), ("shadow_comparison", SHADOW_COVERAGE_CHECK)):
            key = dg.AssetCheckKey(dg.AssetKey(asset), check)
            records = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
            evaluations = [
                r.event.dagster_event.event_specific_data
                for r in records
                if r.event and r.status.value in ("SUCCEEDED", "FAILED")
            ]
            assert [e.partition for e in evaluations] == [SERVED_DAY.isoformat()], (asset, check)
            assert evaluations[0].passed
            assert evaluations[0].description == evaluations[0].metadata["reason"].value
        # The checks' step outputs are yielded too: Dagster does not report them as missing.
        logged = [e.user_message for e in instance.all_logs(result.run_id)]
        assert not [m for m in logged if "did not yield or return expected outputs" in m]
