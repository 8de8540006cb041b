"""Helpers that turn frames into the metadata an analyst reads in the Dagster UI."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from time import perf_counter
from typing import Any, Final

import dagster as dg
import polars as pl

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


def partition_metadata(
    context: dg.AssetExecutionContext, day: date, metadata: Mapping[str, Any], asset_key: str | None = None
) -> None:
    """Attach `metadata` to the materialization of one day of a (possibly ranged) run.

    A single-run backfill is one step for many partitions; Dagster emits one materialization event
    per partition, and `add_asset_metadata(partition_key=...)` is its supported way to give each of
    those events its own values (they override the run-wide `MaterializeResult` metadata). Without it
    every day of a 60-day run would carry the whole run's row count.
    """
    context.add_asset_metadata(dict(metadata), asset_key=asset_key, partition_key=day.isoformat())


def partition_check(
    context: dg.AssetExecutionContext,
    asset_key: str,
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
    latest materialization as its target, as `AssetCheckResult` does, so the UI shows the result as
    current for that partition; call it after the asset's `MaterializeResult` has been yielded.
    """
    # Dagster exports no public constructor for the target; it is the record `AssetCheckResult` builds.
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )

    key = dg.AssetKey(asset_key)
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1
    ).records
    target = (
        AssetCheckEvaluationTargetMaterializationData(
            storage_id=records[0].storage_id, run_id=records[0].run_id, timestamp=records[0].timestamp
        )
        if records
        else None
    )
    return dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=check_name,
        passed=passed,
        metadata=dict(metadata or {}),
        severity=severity,
        description=description,
        blocking=blocking,
        partition=day.isoformat(),
        target_materialization_data=target,
    )


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
