"""Helpers that turn frames into the metadata an analyst reads in the Dagster UI."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from time import perf_counter
from typing import Any, Final

import dagster as dg
import polars as pl

# Dagster exports no public constructor for a check's target; it is the record `AssetCheckResult` builds.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

# Dagster's per-partition metadata accumulator: see `partitions_metadata` for why it is written directly.
from dagster._core.execution.context.metadata_logging import AssetMetadataHandle, OutputMetadataAccumulator

# A ranged run's day loop logs its progress this often, so a long backfill shows it is moving.
PROGRESS_EVERY_DAYS: Final[int] = 10


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pl.DataFrame, max_rows: int = 10) -> str:
    """A markdown table of the first rows (hand-written: avoids a `tabulate` dependency for one call)."""
    head = frame.head(max_rows)
    lines = [
        "| " + " | ".join(head.columns) + " |",
        "| " + " | ".join("---" for _ in head.columns) + " |",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in head.iter_rows()]
    if frame.height > max_rows:
        lines.append(f"\n_{frame.height - max_rows} more rows_")
    return "\n".join(lines)


def preview(frame: pl.DataFrame, max_rows: int = 10) -> dg.MetadataValue:
    """A preview table for the UI."""
    return dg.MetadataValue.md(markdown_table(frame, max_rows))


def table_schema(frame: pl.DataFrame) -> dg.TableSchema:
    """The frame's columns and types as a Dagster table schema (shown as the asset's columns)."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in frame.schema.items()]
    )


def files_size_bytes(paths: Sequence[Path]) -> int:
    """Bytes on disk of the written files."""
    return sum(p.stat().st_size for p in paths)


def partitions_metadata(
    context: dg.AssetExecutionContext,
    metadata_by_day: Mapping[date, Mapping[str, Any]],
    asset_key: str | None = None,
) -> None:
    """Attach each day's own metadata to that day's materialization of a (possibly ranged) run.

    A single-run backfill is one step for many partitions; Dagster emits one materialization event
    per partition, and `add_asset_metadata(partition_key=...)` is its supported way to give each of
    those events its own values (they override the run-wide `MaterializeResult` metadata). Without it
    every day of a 60-day run would carry the whole run's row count.

    Only the first day goes through `add_asset_metadata`, which checks the asset and the day against
    the run. The others are added in one step: Dagster 1.13's call lists every key of the run's range
    to check its one key, and copies every entry added before it, so a year's three tables spent
    O(days^2) on it (0.2 s of a 365-day backfill). The rest of the days get the same check against one
    set of the run's keys, and the same entries in Dagster's accumulator, in one copy (private API of
    the pinned Dagster, compared with the one-call-per-day path in tests/test_metadata.py).
    """
    if not metadata_by_day:
        return
    (first_day, first), *rest = metadata_by_day.items()
    context.add_asset_metadata(dict(first), asset_key=asset_key, partition_key=first_day.isoformat())
    if not rest:
        return
    targeted = set(context.partition_keys)
    outside = [day.isoformat() for day, _ in rest if day.isoformat() not in targeted]
    if outside:
        raise dg.DagsterInvariantViolationError(
            f"Attempted to add metadata for partition key '{outside[0]}' that is not being targeted."
        )
    key = dg.AssetKey.from_coercible(asset_key) if asset_key else context.assets_def.key
    step = context.get_step_execution_context()
    merged = dict(step._metadata_accumulator.per_output_metadata)
    for day, metadata in rest:
        handle = AssetMetadataHandle(asset_key=key, partition_key=day.isoformat())
        merged[handle] = {**merged.get(handle, {}), **metadata}
    step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=merged)


def run_summary(
    context: dg.AssetExecutionContext,
    days: Sequence[date],
    metadata: Mapping[str, Any],
    asset_key: str | None = None,
) -> dg.MaterializeResult:
    """The run-wide summary (schema, preview, per-day table), on the materialization of the run's last day.

    Metadata of the returned `MaterializeResult` would be copied into every day's materialization of a
    ranged run: a year's per-day table 365 times over (O(days^2) bytes to serialize and store), and a
    preview of the first day's rows on every other day. The last day's materialization is the asset's
    latest, the one the asset page shows; every day keeps its own values (`partitions_metadata`), and a
    summary key that a day also sets would replace that day's value on the last day, so none may.
    """
    partitions_metadata(context, {days[-1]: metadata}, asset_key)
    return dg.MaterializeResult(asset_key=asset_key)


@dataclass(frozen=True)
class CheckTargets:
    """The latest materialization of each day of one asset: what that day's check results describe.

    Looked up once for a ranged run (one query for all its days) rather than once per check and day:
    a year's backfill with three checks would otherwise make a thousand instance queries.
    """

    asset_key: dg.AssetKey
    latest: Mapping[date, AssetCheckEvaluationTargetMaterializationData | None]

    @classmethod
    def lookup(cls, context: dg.AssetExecutionContext, asset_key: str, days: Sequence[date]) -> CheckTargets:
        """Each day's latest materialization of `asset_key`; call after the run's materializations."""
        key = dg.AssetKey(asset_key)
        found: dict[str, dg.EventLogRecord] = {}
        # Newest first: the first record seen for a day is its latest. Days materialized by this run
        # are the newest, so one page of len(days) covers them; any other day is looked up alone.
        for record in _materializations(context, key, [d.isoformat() for d in days], len(days)):
            found.setdefault(str(record.partition_key), record)
        for day in days:
            if day.isoformat() not in found:
                for record in _materializations(context, key, [day.isoformat()], 1):
                    found[day.isoformat()] = record
        return cls(
            asset_key=key,
            latest={
                day: _target(found[day.isoformat()]) if day.isoformat() in found else None for day in days
            },
        )


def _materializations(
    context: dg.AssetExecutionContext, key: dg.AssetKey, partitions: list[str], limit: int
) -> Sequence[dg.EventLogRecord]:
    return context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=limit
    ).records


def _target(record: dg.EventLogRecord) -> AssetCheckEvaluationTargetMaterializationData:
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )


def partition_check(
    targets: CheckTargets,
    check_name: str,
    day: date,
    passed: bool,
    *,
    description: str,
    metadata: Mapping[str, Any] | None = None,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    blocking: bool = False,
) -> dg.AssetCheckEvaluation:
    """One day's result of a partitioned check, for a step that may cover many days.

    Dagster 1.13's `AssetCheckResult` takes its partition from the step's single partition key, so in
    a ranged run it would be stored without one. `AssetCheckEvaluation` carries the partition itself;
    yielded from the asset's op, it is recorded in the event log as that day's result (and a failed
    blocking ERROR evaluation fails the step after every day's result is stored). It names the day's
    latest materialization as its target (`targets`), as `AssetCheckResult` does, so the UI shows the
    result as current for that partition.
    """
    return dg.AssetCheckEvaluation(
        asset_key=targets.asset_key,
        check_name=check_name,
        passed=passed,
        metadata=dict(metadata or {}),
        severity=severity,
        description=description,
        blocking=blocking,
        partition=day.isoformat(),
        target_materialization_data=targets.latest.get(day),
    )


def check_outputs(context: dg.AssetExecutionContext) -> Iterator[dg.Output]:
    """The step outputs of the op's selected checks, for an op that yields its results per day.

    `AssetCheckResult` yields its check's output itself; an `AssetCheckEvaluation` (`partition_check`)
    does not. Without the output, Dagster's plan reports each blocking check as having "emitted no
    result" when a downstream step starts, and does not gate on it, though every day has its result.
    """
    selected = context.selected_asset_check_keys
    for output_name, spec in context.assets_def.check_specs_by_output_name.items():
        if spec.key in selected:
            yield dg.Output(None, output_name=output_name)


def log_progress(
    log: logging.Logger | dg.DagsterLogManager,
    step: str,
    done: int,
    total: int,
    started: float,
    detail: str = "",
    every: int = PROGRESS_EVERY_DAYS,
) -> None:
    """Every `every` days and at the last: `<step>: <done>/<total> days in <s> s[, <detail>]`.

    `started` is the loop's `time.perf_counter()` at its start.
    """
    if done % every and done != total:
        return
    suffix = f", {detail}" if detail else ""
    log.info(f"{step}: {done}/{total} days in {perf_counter() - started:.1f} s{suffix}")
