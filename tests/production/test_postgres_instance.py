"""The pipeline against a real PostgreSQL Dagster instance built from deploy/dagster.yaml.

The instance comes from the production config file through the DAGSTER_PG_* variables, exactly as a
deployment loads it, and the assertions read Postgres' own tables: the run history and the events must
be in the database, not in some SQLite file that happened to be the default.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
from partition_truth import backfill_then_fail, stored_check_results, stored_metadata
from shared_fixtures import land_days

from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
from mlops_assets.partitions import daily_partitions
from mlops_assets.production import image_env, preflight, validate_dagster_yaml
from mlops_assets.settings import REPO_ROOT, Settings
from mlops_assets.simulator import SimulationConfig, write_days

DEPLOY_DAGSTER_YAML = REPO_ROOT / "deploy" / "dagster.yaml"
IMAGE_ENV = image_env(REPO_ROOT / "deploy" / "Dockerfile")
DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]


def _query(params: dict[str, Any], sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(**params)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())
    finally:
        connection.close()


def test_pipeline_runs_on_postgres_instance_from_deploy_config(
    dagster_pg_env: dict[str, Any], settings: Settings, resources: dict[str, Any], tmp_path: Path, monkeypatch
) -> None:
    home = tmp_path / "dagster_home_pg"
    home.mkdir()
    shutil.copy(DEPLOY_DAGSTER_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    validate_dagster_yaml(home / "dagster.yaml")  # every {env: ...} is set, every key known
    checked = preflight(settings)
    assert [line.split(" at ")[0] for line in checked] == ["Dagster instance storage (PostgreSQL)"]

    write_days(
        SimulationConfig(start=date(2026, 1, 1), days=3, rows_per_day=150), settings.data_dir, "parquet"
    )
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        # One run over the three days: the assets' single-run backfill policy, as the UI would launch it.
        result = dg.materialize(
            [raw_transactions, validated_and_quarantined_transactions],
            resources=resources,
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": DAYS[0],
                "dagster/asset_partition_range_end": DAYS[-1],
            },
        )
        assert result.success
        run_id = result.run_id
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        latest = instance.get_latest_materialization_event(dg.AssetKey("validated_transactions"))
        assert latest is not None and latest.run_id == run_id

    # Straight from Postgres: the run row, its events, the materialized partitions and the check results.
    [(status,)] = _query(dagster_pg_env, "SELECT status FROM runs WHERE run_id = %s", (run_id,))
    assert status == "SUCCESS"
    event_types = dict(
        _query(
            dagster_pg_env,
            "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s "
            "GROUP BY dagster_event_type",
            (run_id,),
        )
    )
    assert event_types[dg.DagsterEventType.RUN_SUCCESS.value] == 1  # stored under its legacy name
    assert event_types[dg.DagsterEventType.STEP_SUCCESS.value] == 2
    materialized = _query(
        dagster_pg_env,
        "SELECT asset_key, partition FROM event_logs "
        "WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION' "
        "ORDER BY asset_key, partition",
        (run_id,),
    )
    by_asset: dict[str, list[str]] = {}
    for asset_key, partition in materialized:
        key = dg.AssetKey.from_db_string(asset_key)
        assert key is not None
        by_asset.setdefault(key.to_user_string(), []).append(partition)
    assert by_asset == {
        "quarantined_transactions": DAYS,
        "raw_transactions": DAYS,
        "validated_transactions": DAYS,
    }
    checks = _query(
        dagster_pg_env,
        "SELECT check_name, partition, execution_status FROM asset_check_executions WHERE run_id = %s",
        (run_id,),
    )
    # One result per check and day, stored with its partition, every one passed. The first day has no
    # trailing day to compare its volume with: no volume result (SKIPPED), never a pass.
    succeeded = sorted((name, partition) for name, partition, state in checks if state == "SUCCEEDED")
    assert succeeded == sorted(
        [*((c, d) for c in ("null_rates", "schema_pass_rate") for d in DAYS)]
        + [("volume_vs_trailing_days", d) for d in DAYS[1:]]
    )
    assert not [row for row in checks if row[2] == "FAILED"]


def test_batched_event_writes_keep_each_days_truth_and_mark_a_failed_runs_days_failed(
    dagster_pg_env: dict[str, Any], settings: Settings, resources: dict[str, Any], tmp_path: Path, monkeypatch
) -> None:
    """With the image's DAGSTER_EVENT_BATCH_SIZE, a ranged run's materializations reach PostgreSQL as one
    batch per asset; each day must still be its own event with its own metadata and check results, and
    a failed ranged run must still mark its days failed (its planned events are stored one by one)."""
    home = tmp_path / "dagster_home_pg"
    home.mkdir()
    shutil.copy(DEPLOY_DAGSTER_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", IMAGE_ENV["DAGSTER_EVENT_BATCH_SIZE"])
    days = [date(2026, 1, d) for d in range(1, 6)]
    for day, rows in zip(days, (100, 200, 300, 100, 100), strict=True):
        land_days(settings, day, 1, rows_per_day=rows)
    # Day 5's file is cut in half: reading it fails raw_transactions for the whole second run.
    broken = next((settings.landing_dir / days[4].isoformat()).glob("*.parquet"))
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    assets = [raw_transactions, validated_and_quarantined_transactions]
    with dg.DagsterInstance.get() as instance:
        ok, failed = backfill_then_fail(assets, resources, instance, days)
        assert ok.success and not failed.success
        for day, rows in zip(days[:3], (100, 200, 300), strict=True):
            for asset in ("raw_transactions", "validated_transactions"):
                assert stored_metadata(instance, asset, day)["dagster/row_count"] == rows
        assert stored_check_results(instance, "validated_transactions", "null_rates") == {
            d.isoformat(): True for d in days[:3]
        }
        keys = [d.isoformat() for d in days]
        for asset in ("raw_transactions", "validated_transactions", "quarantined_transactions"):
            status = instance.get_status_by_partition(dg.AssetKey(asset), keys, daily_partitions)
            assert status == dict(
                zip(
                    keys,
                    [dg.AssetPartitionStatus.MATERIALIZED] * 3 + [dg.AssetPartitionStatus.FAILED] * 2,
                    strict=True,
                )
            ), asset
