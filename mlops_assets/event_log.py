"""The embedded instance's storage: Dagster's SQLite storage, writing an event batch in one transaction.

Why: a single-run backfill of a year is one step for 365 days, and Dagster records each day as its own
events (a planned and a materialization event per day and asset), which is what lets the UI tell the
truth per day. Dagster's SQLite event log opens a connection, commits (an fsync) and closes it (a WAL
checkpoint, more fsyncs) for every event, on the run's database and again on the index database: on the
embedded instance that bookkeeping, not the data work, was most of a ranged run's time.

When `DAGSTER_EVENT_BATCH_SIZE` is set (`EVENT_BATCH_SIZE`: the Makefile and the production image set
it), Dagster hands a ranged run's planned events, and each ranged output's materializations, to the
storage as one batch. PostgreSQL's storage writes such a batch in one statement; SQLite's stores it one
event at a time. `BatchedSqliteEventLogStorage` writes it with one transaction on the run's database and
one on the index database, with exactly the rows `store_event` writes for each event (event, asset
tags, asset entry), so every day keeps its own event and metadata, and a failed run's planned days are
still marked failed. Events of other kinds in a batch (a check's planned event) are stored one by one.
Without the variable Dagster never calls `store_event_batch`, and the storage is Dagster's own.

Configured in `dagster.yaml` as `storage: custom: ... EmbeddedSqliteStorage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import dagster as dg
from dagster._core.events import ASSET_EVENTS
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData

# Events per batch: more than a year of days, so a year's ranged output is one batch per asset.
EVENT_BATCH_SIZE: Final[int] = 1000


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose `store_event_batch` uses one transaction per database."""

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        """Store `events` (one run's, as Dagster batches them) with the rows `store_event` would write."""
        asset_events = [e for e in events if e.dagster_event_type in ASSET_EVENTS]
        if asset_events:
            statements = [self.prepare_insert_event(event) for event in asset_events]
            with self.run_connection(asset_events[0].run_id) as conn:
                for statement in statements:
                    conn.execute(statement)
            # The index database mirrors asset events under its own ids, which the tags and the asset
            # entry refer to: as in `store_event`, but for the whole batch in one transaction.
            with self.index_transaction() as conn:
                event_ids = []
                for statement in statements:
                    with db_result(conn, statement) as result:
                        event_ids.append(result.inserted_primary_key[0])
                self._store_asset_event_tags(conn, asset_events, event_ids)
                for event, event_id in zip(asset_events, event_ids, strict=True):
                    self._store_asset_event(conn, event, event_id)
        for event in events:
            if event.dagster_event_type not in ASSET_EVENTS:
                self.store_event(event)


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
