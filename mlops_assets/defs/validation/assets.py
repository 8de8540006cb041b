"""`validated_transactions` and `quarantined_transactions`, split by the pandera schema, with checks."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.validation.quality import (
    MAX_NULL_RATE,
    MIN_PASS_RATE,
    TRAILING_DAYS,
    failure_summaries,
    null_rates_by_day,
    volume_verdict,
)
from mlops_assets.defs.validation.split import ValidationResult, split_partitions
from mlops_assets.domain import TRANSACTION_ID
from mlops_assets.metadata import (
    CheckTargets,
    check_outputs,
    markdown_table,
    partition_check,
    partitions_metadata,
    preview,
    run_summary,
    table_schema,
)
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource
from mlops_assets.tables import QUARANTINED_TABLE, RAW_TABLE, VALIDATED_TABLE

SCHEMA_PASS_RATE = "schema_pass_rate"
VOLUME_CHECK = "volume_vs_trailing_days"
NULL_RATES_CHECK = "null_rates"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            VALIDATED_TABLE,
            deps=[RAW_TABLE],
            description="Rows that pass every rule of the pandera transaction schema; the input to features.",
            group_name="validation",
            kinds={"pandera", "polars", "parquet"},
        ),
        dg.AssetSpec(
            QUARANTINED_TABLE,
            deps=[RAW_TABLE],
            description="Every rejected row, unchanged, with failed columns, rules and a readable reason.",
            group_name="validation",
            kinds={"pandera", "polars", "parquet"},
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            SCHEMA_PASS_RATE,
            asset=VALIDATED_TABLE,
            description=f"At least {MIN_PASS_RATE:.0%} of the day's raw rows pass the schema. Blocking: a "
            "failed day stops its downstream (the run's later steps, and eager automation).",
            partitions_def=daily_partitions,
            blocking=True,
        ),
        dg.AssetCheckSpec(
            VOLUME_CHECK,
            asset=VALIDATED_TABLE,
            description=f"Valid rows within 0.5x-2x the median of the {TRAILING_DAYS} days before "
            "(no result for a day without trailing days: nothing to compare with).",
            partitions_def=daily_partitions,
        ),
        dg.AssetCheckSpec(
            NULL_RATES_CHECK,
            asset=VALIDATED_TABLE,
            description=f"Every required raw column has at most {MAX_NULL_RATE:.0%} nulls on the day.",
            partitions_def=daily_partitions,
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Subsettable, so that an automated run of validated + its downstream is not pinned to an explicit
    # check selection: with a non-subsettable multi-asset, Dagster's automation adds this op's checks
    # to the run request as required neighbours, and an explicit selection then leaves out every other
    # asset's checks in the run (drift_report's, for one). Each table and check is then emitted only
    # when selected.
    can_subset=True,
)
def validated_and_quarantined_transactions(context: dg.AssetExecutionContext, lakehouse: LakehouseResource):
    """Validate each day's raw rows; valid + quarantined == raw, row for row.

    Every day of a ranged run gets its own materialization metadata and its own check results.
    """
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    checks = {key.name for key in context.selected_asset_check_keys}
    days = partition_days(context)
    raw_by_day = lakehouse.read_partitions(RAW_TABLE, days)
    results = split_partitions(raw_by_day)
    tables = {
        VALIDATED_TABLE: {day: result.valid for day, result in results.items()},
        QUARANTINED_TABLE: {day: result.quarantined for day, result in results.items()},
    }
    # The files are written in the background while the days are measured and Dagster logs each table's
    # materializations: polars writes without the GIL, on every core. One table after the other, so the
    # first is done as soon as it can be; each table's materializations are reported only once all its
    # files are in place.
    with ThreadPoolExecutor(max_workers=1) as writer:
        writing = {
            table: writer.submit(lakehouse.write_partitions, table, frames)
            for table, frames in tables.items()
            if table in selected
        }
        days_summary = _days_summary(raw_by_day, results)
        for table, written in writing.items():
            paths = written.result()
            partitions_metadata(
                context,
                {row["day"]: _day_metadata(table, row, paths[row["day"]]) for row in days_summary},
                table,
            )
            rows = pl.concat(tables[table].values())
            yield run_summary(context, days, _run_metadata(table, rows, days_summary), table)
            if table == VALIDATED_TABLE:
                # The checks judge the validated table alone: reported right after it (while the
                # quarantined files are still being written), a failed quarantine write never leaves
                # validated days without their results.
                yield from _checks(context, lakehouse, days_summary, checks, judged_in_run=True)
        if VALIDATED_TABLE not in writing:
            yield from _checks(context, lakehouse, days_summary, checks, judged_in_run=False)


def _checks(
    context: dg.AssetExecutionContext,
    lakehouse: LakehouseResource,
    days_summary: list[dict[str, Any]],
    checks: set[str],
    judged_in_run: bool,
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """Each selected check's result per day, once the validated days are written (when this run writes them).

    Each day's volume is judged against the days before it: this run's counts when it wrote them
    (`judged_in_run`), else the files on disk.
    """
    if not checks:
        return
    days = [row["day"] for row in days_summary]
    targets = CheckTargets.lookup(context, VALIDATED_TABLE, days)
    in_run = {row["day"]: row["valid"] for row in days_summary} if judged_in_run else {}
    valid_rows = valid_row_counts(lakehouse, days, in_run)
    yield from check_outputs(context)
    for row in days_summary:
        yield from _day_checks(targets, row, checks, valid_rows)


def _day_metadata(table: str, row: dict[str, Any], path: Path) -> dict[str, Any]:
    """What one day's materialization of `table` says about that day alone."""
    if table == VALIDATED_TABLE:
        return {
            "dagster/row_count": row["valid"],
            "raw_rows": row["raw"],
            "pass_rate": row["pass_rate"],
            "path": dg.MetadataValue.path(str(path)),
        }
    return {
        "dagster/row_count": row["quarantined"],
        "failures_by_rule": dg.MetadataValue.md(markdown_table(row["failures"], max_rows=50)),
        "path": dg.MetadataValue.path(str(path)),
    }


def _run_metadata(table: str, rows: pl.DataFrame, days_summary: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's summary of `table` (on its last day): the schema and a preview of its `rows`."""
    if table == VALIDATED_TABLE:
        per_day = pl.DataFrame(days_summary).select("day", "raw", "valid", "quarantined", "pass_rate")
        return {
            "dagster/column_schema": table_schema(rows),
            "partitions_in_run": len(days_summary),
            "per_partition": dg.MetadataValue.md(markdown_table(per_day, max_rows=400)),
            "preview": preview(rows),
        }
    return {
        "partitions_in_run": len(days_summary),
        "preview": preview(rows.select("quarantine_reason", TRANSACTION_ID, "source_file")),
    }


def _days_summary(
    raw_by_day: dict[date, pl.DataFrame], results: dict[date, ValidationResult]
) -> list[dict[str, Any]]:
    """Each day's counts, pass rate, null rates and failures per rule: its metadata and its checks' input."""
    nulls = null_rates_by_day(raw_by_day)
    failures = failure_summaries({day: result.failures for day, result in results.items()})
    return [
        {
            "day": day,
            "raw": raw_by_day[day].height,
            "valid": result.valid.height,
            "quarantined": result.quarantined.height,
            "pass_rate": round(result.pass_rate, 4),
            "nulls": nulls[day],
            "failures": failures[day],
        }
        for day, result in results.items()
    ]


def valid_row_counts(
    lakehouse: LakehouseResource, days: list[date], in_run: dict[date, int]
) -> dict[date, int]:
    """Valid rows of the run's days and the `TRAILING_DAYS` before them: this run's counts, else disk."""
    wanted = [days[0] - timedelta(days=i) for i in range(TRAILING_DAYS, 0, -1)] + days
    on_disk = {d: lakehouse.read_partition_row_count(VALIDATED_TABLE, d) for d in wanted if d not in in_run}
    return in_run | {d: n for d, n in on_disk.items() if n is not None}


def _day_checks(
    targets: CheckTargets, row: dict[str, Any], checks: set[str], valid_rows: dict[date, int]
) -> Iterator[dg.AssetCheckEvaluation]:
    """One day's result for each selected validation check."""
    day: date = row["day"]
    if SCHEMA_PASS_RATE in checks:
        yield partition_check(
            targets,
            SCHEMA_PASS_RATE,
            day,
            row["pass_rate"] >= MIN_PASS_RATE,
            description=f"{day}: {row['pass_rate']:.2%} of {row['raw']} raw rows pass the schema "
            f"(threshold {MIN_PASS_RATE:.0%})",
            metadata={
                "pass_rate": row["pass_rate"],
                "threshold": MIN_PASS_RATE,
                "failures_by_rule": dg.MetadataValue.md(markdown_table(row["failures"], max_rows=20)),
            },
            blocking=True,
        )
    if VOLUME_CHECK in checks:
        before = (day - timedelta(days=i) for i in range(1, TRAILING_DAYS + 1))
        trailing = [valid_rows[d] for d in before if d in valid_rows]
        verdict = volume_verdict(int(row["valid"]), trailing)
        if verdict.ratio is not None:
            yield partition_check(
                targets,
                VOLUME_CHECK,
                day,
                verdict.passed,
                description=f"{day}: {verdict.rows} valid rows, {verdict.ratio:.2f}x the median "
                f"{verdict.trailing_median:.0f} of the {len(trailing)} days before",
                metadata={"ratio": round(verdict.ratio, 3), "trailing_median": verdict.trailing_median},
            )
    if NULL_RATES_CHECK in checks:
        high = {c: round(r, 5) for c, r in row["nulls"].items() if r > MAX_NULL_RATE}
        yield partition_check(
            targets,
            NULL_RATES_CHECK,
            day,
            not high,
            description=f"{day}: columns over {MAX_NULL_RATE:.0%} nulls: {sorted(high) or 'none'}",
            metadata={
                "max_null_rate_by_column": {c: round(r, 5) for c, r in row["nulls"].items()},
                "columns_over_threshold": sorted(high),
            },
        )
