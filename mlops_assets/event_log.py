"""The embedded instance's storage: Dagster's SQLite storage, writing event batches in one transaction.

Why: a single-run backfill of a year is one step for 365 days, and Dagster records each day as its own
events (a planned and a materialization event per day and asset, a result per day and check), which is
what lets the UI tell the truth per day. Dagster's SQLite event log opens a connection, commits (an
fsync) and closes it (a WAL checkpoint, more fsyncs) for every event, on the run's database and again
on the index database, several times for a check result: on the embedded instance that bookkeeping,
not the data work, was most of a ranged run's time.

When `DAGSTER_EVENT_BATCH_SIZE` is set (`EVENT_BATCH_SIZE`: the Makefile and the production image set
it), `BatchedSqliteEventLogStorage` writes with one statement per table in one transaction per database:

- the batches Dagster hands over: each ranged output's materializations, and a run's plan. SQLite's
  storage stores a batch one event at a time. The storage also declares that it takes a ranged run's
  plan as one event per asset (`supports_partition_subset_in_asset_materialization_planned_events`):
  Dagster then skips building and logging a planned event per day in Python, and the storage writes
  the per-day planned events Dagster would have logged, from which the per-day status (failed and
  in-progress days) is read.
- a step's check results. Dagster has no batch path for them, so the storage holds a run's results
  back until that run's next event of another kind (the step's success or failure follows its last
  result), `EVENT_BATCH_SIZE` results, `CHECK_RESULTS_HELD_AT_MOST_S`, the instance's disposal or the
  process's exit, whichever comes first, and writes them together. Like Dagster's own batches, they
  are written in the order they came, before any later event of their run.

Every event keeps exactly the rows Dagster's `store_event` writes for it (event, asset tags, asset
entry, check execution). Dagster's own code writes each row, except the event rows and the check
executions of a batch (one statement each, with the values Dagster's code sets), and the asset entry
(a row per asset updated by each of its events in turn), written once per asset and kind of event in a
batch: the same final row. Without the variable the storage writes one event at a time as Dagster's
does (a check's plan is serialized once, not once per day, in both cases).

Configured in `dagster.yaml` as `storage: custom: ... EmbeddedSqliteStorage`. It relies on private
methods of Dagster 1.13.27 (pinned); `tests/test_event_log.py` holds it to Dagster's one-by-one writes.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any, Final

import dagster as dg
import sqlalchemy as sa
from dagster._core.events import ASSET_EVENTS, AssetMaterializationPlannedData, DagsterEvent
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData, serialize_value
from sqlalchemy.engine import Connection

# Events per batch: more than a year of days, so a year's ranged output is one batch per asset.
EVENT_BATCH_SIZE: Final[int] = 1000
# The longest a check result waits for its run's next event before it is written anyway: a step that
# reports a check and then works on still shows the result about this soon.
CHECK_RESULTS_HELD_AT_MOST_S: Final[float] = 0.5


def batching_enabled() -> bool:
    """Whether this process batches event writes (Dagster reads the same variable)."""
    return int(os.getenv("DAGSTER_EVENT_BATCH_SIZE", "0")) > 0


def _is_ranged_plan(event: dg.EventLogEntry) -> bool:
    dagster_event = event.dagster_event
    return (
        dagster_event is not None
        and dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        and dagster_event.asset_materialization_planned_data.partitions_subset is not None
    )


def _per_day_plans(events: Sequence[dg.EventLogEntry]) -> list[dg.EventLogEntry]:
    """`events` with each ranged plan replaced by the per-day planned events Dagster would have logged."""
    out = []
    for event in events:
        if not _is_ranged_plan(event):
            out.append(event)
            continue
        dagster_event = event.get_dagster_event()
        planned = dagster_event.asset_materialization_planned_data
        for partition in planned.partitions_subset.get_partition_keys():  # type: ignore[union-attr]
            day = DagsterEvent.build_asset_materialization_planned_event(
                dagster_event.job_name,
                dagster_event.step_key,  # type: ignore[arg-type]
                AssetMaterializationPlannedData(planned.asset_key, partition=partition),
            )
            out.append(event._replace(dagster_event=day))
    return out


def _write_held_at_exit(storage: weakref.ref[BatchedSqliteEventLogStorage]) -> None:
    held_by = storage()
    if held_by is not None:
        held_by.write_held_check_results()


def _is_run_check_result(event: dg.EventLogEntry) -> bool:
    return event.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and bool(event.run_id)


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` writing batches and a step's check results in one transaction per database."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._shared = threading.local()  # the index connection a batch's writes share, per thread
        super().__init__(base_dir, inst_data=inst_data)  # (opens the index, through index_connection)
        self._batching = batching_enabled()
        # One writer at a time, so held check results reach the databases before their run's next event.
        self._write_lock = threading.RLock()
        self._held: dict[str, list[dg.EventLogEntry]] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._has_check_table = False
        # A process that exits without disposing of its instance still writes what it holds.
        atexit.register(_write_held_at_exit, weakref.ref(self))

    def store_event(self, event: dg.EventLogEntry) -> None:
        """Store `event`, or hold it back when it is a run's check result (see the module docstring)."""
        with self._write_lock:
            if self._batching and _is_run_check_result(event):
                self._hold(event)
                return
            self.write_held_check_results(event.run_id)
            if _is_ranged_plan(event):
                self._write_asset_events(_per_day_plans([event]))
                return
            super().store_event(event)

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        """Store `events` (one run's, as Dagster batches them) with the rows `store_event` would write."""
        with self._write_lock:
            for run_id in dict.fromkeys(event.run_id for event in events):
                self.write_held_check_results(run_id)
            asset_events = _per_day_plans([e for e in events if e.dagster_event_type in ASSET_EVENTS])
            if asset_events:
                self._write_asset_events(asset_events)
            for event in events:
                if event.dagster_event_type not in ASSET_EVENTS:
                    self.store_event(event)

    def write_held_check_results(self, run_id: str | None = None) -> None:
        """Write the check results held back for `run_id` (every run's when None), in their order."""
        with self._write_lock:
            for held_run in [run_id] if run_id is not None else list(self._held):
                timer = self._timers.pop(held_run, None)
                if timer is not None:
                    timer.cancel()
                held = self._held.pop(held_run, [])
                if held:
                    self._write_check_results(held)

    def dispose(self) -> None:
        """Write what is held, then release the storage."""
        self.write_held_check_results()
        super().dispose()

    def index_connection(self) -> Any:
        """The batch's shared index connection inside `_index_batch` on this thread, else a new one."""
        shared = getattr(self._shared, "connection", None)
        return nullcontext(shared) if shared is not None else super().index_connection()

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        """When batching: Dagster then plans a ranged run with one event per asset, stored per day.

        Dagster builds, logs and buffers each of a ranged run's per-day planned events in Python
        (about 0.7 ms each); given the range instead, the storage writes the same per-day events
        (`_per_day_plans`), which the per-day status (failed and in-progress days) is read from.
        """
        return self._batching

    @property
    def supports_asset_checks(self) -> bool:  # type: ignore[override]
        """Whether the index has the check table: asked of the database once, not for every result."""
        if not self._has_check_table:
            self._has_check_table = bool(super().supports_asset_checks)
        return self._has_check_table

    def _store_asset_check_evaluation_planned(self, event: dg.EventLogEntry, event_id: int | None) -> None:
        """Dagster's rows for a check's plan (one per planned day), with the event serialized once.

        Dagster's own version serializes the same event again for every day of the range: a third of
        a second per check for a year.
        """
        planned = event.get_dagster_event().asset_check_planned_data
        subset = planned.partitions_subset
        row = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        partitions = subset.get_partition_keys() if subset else [None]
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert(), [{**row, "partition": p} for p in partitions])

    def _hold(self, event: dg.EventLogEntry) -> None:
        run_id = event.run_id
        held = self._held.setdefault(run_id, [])
        held.append(event)
        if len(held) >= EVENT_BATCH_SIZE:
            self.write_held_check_results(run_id)
        elif run_id not in self._timers:
            timer = threading.Timer(CHECK_RESULTS_HELD_AT_MOST_S, self.write_held_check_results, [run_id])
            timer.daemon = True
            self._timers[run_id] = timer
            timer.start()

    @contextmanager
    def _index_batch(
        self, events: Sequence[dg.EventLogEntry]
    ) -> Iterator[tuple[Connection, list[int], list[dict[str, Any]]]]:
        """Insert `events` (one run's) into the run's database, then open one index transaction.

        The transaction holds the events' index copies; it is yielded with their ids (which the rows
        written next refer to) and their rows. Dagster's own row writers join it through
        `index_connection()`. Each table gets one statement for all the events (`executemany`).
        """
        rows = [self._event_to_row(event) for event in events]
        # Dagster's SQLite storage allows one open connection at a time (a lock): the run's first.
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            inserted = conn.execute(
                SqlEventLogStorageTable.insert().returning(
                    SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
                ),
                rows,
            )
            event_ids = [row[0] for row in inserted]
            self._shared.connection = conn
            try:
                yield conn, event_ids, rows
            finally:
                self._shared.connection = None

    def _write_asset_events(self, events: Sequence[dg.EventLogEntry]) -> None:
        with self._index_batch(events) as (conn, event_ids, _):
            self._store_asset_event_tags(conn, events, event_ids)
            # Each asset's entry as the events would leave it one by one: the latest event of each
            # kind sets that kind's columns, applied in the events' order.
            latest_of_kind = {
                (event.dagster_event.asset_key, event.dagster_event_type): i  # type: ignore[union-attr]
                for i, event in enumerate(events)
            }
            for i in sorted(latest_of_kind.values()):
                self._store_asset_event(conn, events[i], event_ids[i])

    def _write_check_results(self, events: Sequence[dg.EventLogEntry]) -> None:
        """Each result onto the execution row its run's planned event made, as Dagster does one by one.

        One statement updates them all; when any has no planned row of its own (a check without
        partitions, a result of a step launched outside its run's plan), Dagster's own writer, which
        also covers those cases, stores each of them instead (the update it repeats writes the same).
        """
        with self._index_batch(events) as (conn, event_ids, rows):
            results = [
                _check_execution_values(event, event_id, row["event"], self._event_insert_timestamp(event))
                for event, event_id, row in zip(events, event_ids, rows, strict=True)
            ]
            if conn.execute(_CHECK_RESULT_ONTO_PLANNED_ROW, results).rowcount != len(events):
                for event, event_id in zip(events, event_ids, strict=True):
                    self.store_asset_check_event(event, event_id)


# Dagster's `_update_asset_check_evaluation` as one statement for many results (bound per result).
_executions = AssetCheckExecutionsTable.c
_CHECK_RESULT_ONTO_PLANNED_ROW = (
    AssetCheckExecutionsTable.update()
    .where(
        sa.and_(
            _executions.asset_key == sa.bindparam("p_asset_key"),
            _executions.check_name == sa.bindparam("p_check_name"),
            _executions.run_id == sa.bindparam("p_run_id"),
            _executions.partition == sa.bindparam("p_partition"),
        )
    )
    .values(
        execution_status=sa.bindparam("p_status"),
        evaluation_event=sa.bindparam("p_event"),
        evaluation_event_timestamp=sa.bindparam("p_timestamp"),
        evaluation_event_storage_id=sa.bindparam("p_event_id"),
        materialization_event_storage_id=sa.bindparam("p_target_id"),
    )
)


def _check_execution_values(
    event: dg.EventLogEntry, event_id: int, serialized: str, timestamp: datetime
) -> dict[str, Any]:
    """The values Dagster's `_update_asset_check_evaluation` writes for one result."""
    evaluation: dg.AssetCheckEvaluation = event.dagster_event.event_specific_data  # type: ignore[union-attr,assignment]
    target = evaluation.target_materialization_data
    status = (
        AssetCheckExecutionRecordStatus.SUCCEEDED
        if evaluation.passed
        else AssetCheckExecutionRecordStatus.FAILED
    )
    return {
        "p_asset_key": evaluation.asset_key.to_string(),
        "p_check_name": evaluation.check_name,
        "p_run_id": event.run_id,
        "p_partition": evaluation.partition,
        "p_status": status.value,
        "p_event": serialized,
        "p_timestamp": timestamp,
        "p_event_id": event_id,
        "p_target_id": target.storage_id if target else None,
    }


class EmbeddedSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (`storage: sqlite:`) with `BatchedSqliteEventLogStorage` as its event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        # Replaces the event log Dagster's constructor built on the same folder (it only opened files).
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: dict[str, Any]
    ) -> EmbeddedSqliteStorage:
        """Built from `dagster.yaml`'s `storage: custom: config:` (`base_dir`, as `storage: sqlite:`)."""
        return cls.from_local(inst_data=inst_data, **config_value)
