"""The embedded instance's batched event writes store what Dagster's one-by-one writes store.

Two instances from the repository's dagster.yaml run the same ranged backfill and the same failing one,
one with DAGSTER_EVENT_BATCH_SIZE (as `make` sets it) and one without (Dagster then stores every event
alone); what each day reads back from the instance must be the same, and true.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from partition_truth import backfill_then_fail, stored_check_results, stored_metadata
from shared_fixtures import land_days

from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
from mlops_assets.event_log import (
    CHECK_RESULTS_HELD_AT_MOST_S,
    EVENT_BATCH_SIZE,
    BatchedSqliteEventLogStorage,
    batching_enabled,
)
from mlops_assets.partitions import daily_partitions
from mlops_assets.production import image_env
from mlops_assets.settings import REPO_ROOT, Settings

ASSETS = [raw_transactions, validated_and_quarantined_transactions]
TABLES = ("raw_transactions", "validated_transactions", "quarantined_transactions")
CHECKS = ("schema_pass_rate", "volume_vs_trailing_days", "null_rates")
START = date(2026, 1, 1)
ROWS = (100, 200, 300, 100, 100)
ASSET_DAY_EVENTS = {
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
}


def _partition(entry: dg.EventLogEntry | None) -> str | None:
    return entry.dagster_event.partition if entry and entry.dagster_event else None


def _tag_keys(instance: dg.DagsterInstance, table: str, day: date) -> list[str]:
    """The asset-event tags (data version, ...) stored for the day's latest materialization."""
    key = dg.AssetKey(table)
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1
    ).records
    tags = instance.event_log_storage.get_event_tags_for_asset(key, filter_event_id=record.storage_id)
    return sorted(k for event_tags in tags for k in event_tags)


def _check_executions(
    instance: dg.DagsterInstance, check: str
) -> list[tuple[int, str | None, str, str | None]]:
    """Each execution of `check`: its run (in order), day, status and the judged materialization's day."""
    runs = [run.run_id for run in reversed(instance.get_runs())]
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("validated_transactions"), check), limit=1000
    )
    judged = {
        record.storage_id: record.partition_key
        for record in instance.fetch_materializations(
            dg.AssetKey("validated_transactions"), limit=1000
        ).records
    }
    out = []
    for record in records:
        evaluation = record.evaluation
        # A planned execution (the failed run's) holds the plan, not an evaluation.
        target = (
            evaluation.target_materialization_data
            if isinstance(evaluation, dg.AssetCheckEvaluation)
            else None
        )
        out.append(
            (
                runs.index(record.run_id),
                record.partition,
                record.status.value,
                judged[target.storage_id] if target else None,
            )
        )
    return sorted(out, key=repr)


def _what_the_instance_holds(instance: dg.DagsterInstance, days: list[date]) -> dict[str, Any]:
    keys = [d.isoformat() for d in days]
    events = sorted(
        (
            (e.event_type, e.asset_key, e.partition)
            for run in instance.get_runs()
            for e in (entry.dagster_event for entry in instance.all_logs(run.run_id))
            if e is not None and e.event_type in ASSET_DAY_EVENTS
        ),
        key=repr,
    )
    return {
        "row_counts": {
            (table, day): stored_metadata(instance, table, day)["dagster/row_count"]
            for table in TABLES
            for day in days[:3]
        },
        "tag_keys": {(table, day): _tag_keys(instance, table, day) for table in TABLES for day in days[:3]},
        "checks": {
            check: stored_check_results(instance, "validated_transactions", check) for check in CHECKS
        },
        # The check executions the UI lists: per run and day, its status and the materialization judged.
        "check_executions": {check: _check_executions(instance, check) for check in CHECKS},
        "status": {
            table: instance.get_status_by_partition(dg.AssetKey(table), keys, daily_partitions)
            for table in TABLES
        },
        "asset_events": events,
        # The asset entries (the UI's asset list, each asset's latest materialization).
        "latest": {
            key.to_user_string(): _partition(instance.get_latest_materialization_event(key))
            for key in instance.get_asset_keys()
        },
    }


def _backfill_twice(home: Path, monkeypatch: pytest.MonkeyPatch, resources: dict, days: list[date]):
    """A ranged run over the first three days, then a failing one over the last two."""
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        ok, failed = backfill_then_fail(ASSETS, resources, instance, days)
        assert ok.success and not failed.success
        storage = instance.event_log_storage
        assert isinstance(storage, BatchedSqliteEventLogStorage)
        # Batching, Dagster hands over a ranged run's plan as one event per asset (stored per day).
        assert storage.supports_partition_subset_in_asset_materialization_planned_events == batching_enabled()
        return _what_the_instance_holds(instance, days)


def test_batched_writes_store_each_days_truth_as_one_by_one_writes_do(
    settings: Settings, resources: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = [START + timedelta(days=i) for i in range(len(ROWS))]
    for day, rows in zip(days, ROWS, strict=True):
        land_days(settings, day, 1, rows_per_day=rows)
    # The last day's file is cut in half: reading it fails raw_transactions for the second run's days.
    broken = next((settings.landing_dir / days[-1].isoformat()).glob("*.parquet"))
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])

    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    one_by_one = _backfill_twice(tmp_path / "one_by_one", monkeypatch, resources, days)
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    batched = _backfill_twice(tmp_path / "batched", monkeypatch, resources, days)

    assert batched == one_by_one
    assert batched["row_counts"] == {
        **{(table, day): rows for table in TABLES[:2] for day, rows in zip(days[:3], ROWS[:3], strict=True)},
        **{("quarantined_transactions", day): 0 for day in days[:3]},
    }
    assert all("dagster/data_version" in keys for keys in batched["tag_keys"].values())
    assert batched["latest"] == {table: days[2].isoformat() for table in TABLES}
    assert batched["checks"]["null_rates"] == {d.isoformat(): True for d in days[:3]}
    # Each day's result judges that day's materialization; the failed run's days stay planned.
    assert batched["check_executions"]["null_rates"] == sorted(
        [(0, d.isoformat(), "SUCCEEDED", d.isoformat()) for d in days[:3]]
        + [(1, d.isoformat(), "PLANNED", None) for d in days[3:]],
        key=repr,
    )
    failed_last_two = [dg.AssetPartitionStatus.MATERIALIZED] * 3 + [dg.AssetPartitionStatus.FAILED] * 2
    assert batched["status"] == {
        table: dict(zip([d.isoformat() for d in days], failed_last_two, strict=True)) for table in TABLES
    }
    # Each day its own planned event in both runs and its own materialization in the first, per table.
    planned = dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    materialized = dg.DagsterEventType.ASSET_MATERIALIZATION
    assert batched["asset_events"] == sorted(
        [(planned, dg.AssetKey(t), d.isoformat()) for t in TABLES for d in days]
        + [(materialized, dg.AssetKey(t), d.isoformat()) for t in TABLES for d in days[:3]],
        key=repr,
    )


def test_make_and_the_production_image_batch_as_many_events() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    match = re.search(r"^export DAGSTER_EVENT_BATCH_SIZE \?= (\d+)$", makefile, re.M)
    assert match and int(match.group(1)) == EVENT_BATCH_SIZE
    assert image_env(REPO_ROOT / "deploy" / "Dockerfile")["DAGSTER_EVENT_BATCH_SIZE"] == str(EVENT_BATCH_SIZE)
    assert EVENT_BATCH_SIZE > 366  # a year's ranged output is one batch


def _check_result_entry(run_id: str, day: str) -> dg.EventLogEntry:
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("validated_transactions"), check_name="null_rates", passed=True, partition=day
    )
    return _entry(run_id, dg.DagsterEventType.ASSET_CHECK_EVALUATION, evaluation)


def _entry(run_id: str, event_type: dg.DagsterEventType, data: Any = None) -> dg.EventLogEntry:
    event = dg.DagsterEvent(event_type_value=event_type.value, job_name="job", event_specific_data=data)
    return dg.EventLogEntry(
        error_info=None,
        level="INFO",
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        dagster_event=event,
    )


def _engine_event(run_id: str) -> dg.EventLogEntry:
    return _entry(run_id, dg.DagsterEventType.ENGINE_EVENT, EngineEventData())


def _stored_results(storage: BatchedSqliteEventLogStorage) -> list[str | None]:
    key = dg.AssetCheckKey(dg.AssetKey("validated_transactions"), "null_rates")
    return sorted(str(r.partition) for r in storage.get_asset_check_execution_history(key, limit=100))


def _event_types(storage: BatchedSqliteEventLogStorage, run_id: str) -> list[str]:
    return [str(e.dagster_event_type) for e in storage.get_logs_for_run(run_id)]


def test_check_results_are_held_until_their_runs_next_event_and_written_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    storage = BatchedSqliteEventLogStorage(str(tmp_path))
    storage.store_event(_check_result_entry("run-a", "2026-01-01"))
    storage.store_event(_check_result_entry("run-a", "2026-01-02"))
    storage.store_event(_engine_event("run-b"))  # another run's event
    assert _stored_results(storage) == []
    storage.store_event(_engine_event("run-a"))
    assert _stored_results(storage) == ["2026-01-01", "2026-01-02"]
    check_result = str(dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    assert _event_types(storage, "run-a") == [
        check_result,
        check_result,
        str(dg.DagsterEventType.ENGINE_EVENT),
    ]
    storage.dispose()


def test_a_held_check_result_is_written_within_the_bound_or_at_disposal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    storage = BatchedSqliteEventLogStorage(str(tmp_path / "timer"))
    storage.store_event(_check_result_entry("run-a", "2026-01-01"))
    deadline = time.monotonic() + CHECK_RESULTS_HELD_AT_MOST_S + 10
    while not _stored_results(storage) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stored_results(storage) == ["2026-01-01"]
    storage.dispose()

    storage = BatchedSqliteEventLogStorage(str(tmp_path / "disposal"))
    storage.store_event(_check_result_entry("run-a", "2026-01-01"))
    storage.dispose()
    assert _stored_results(BatchedSqliteEventLogStorage(str(tmp_path / "disposal"))) == ["2026-01-01"]


HOLD_AND_EXIT = """
import sys, time
import dagster as dg
from mlops_assets.event_log import BatchedSqliteEventLogStorage

evaluation = dg.AssetCheckEvaluation(
    asset_key=dg.AssetKey("validated_transactions"),
    check_name="null_rates",
    passed=True,
    partition="2026-01-01",
)
event = dg.DagsterEvent(
    event_type_value="ASSET_CHECK_EVALUATION", job_name="job", event_specific_data=evaluation
)
entry = dg.EventLogEntry(
    error_info=None, level="INFO", user_message="", run_id="run-a", timestamp=time.time(),
    dagster_event=event,
)
BatchedSqliteEventLogStorage(sys.argv[1]).store_event(entry)
"""


def test_a_process_that_exits_without_disposing_writes_what_it_holds(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_EVENT_BATCH_SIZE": str(EVENT_BATCH_SIZE)}
    done = subprocess.run(
        [sys.executable, "-c", HOLD_AND_EXIT, str(tmp_path)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert _stored_results(BatchedSqliteEventLogStorage(str(tmp_path))) == ["2026-01-01"]


def test_without_batching_a_check_result_is_written_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    storage = BatchedSqliteEventLogStorage(str(tmp_path))
    storage.store_event(_check_result_entry("run-a", "2026-01-01"))
    assert _stored_results(storage) == ["2026-01-01"]
    storage.dispose()
