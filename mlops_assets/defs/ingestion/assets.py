"""`raw_transactions`: each day's landing files, typed and stamped with lineage, in the lakehouse."""

from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.ingestion.landing import ingest_days
from mlops_assets.metadata import files_size_bytes, partitions_metadata, preview, run_summary, table_schema
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource, LandingZoneResource
from mlops_assets.tables import RAW_TABLE


@dg.asset(
    name=RAW_TABLE,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ingestion",
    kinds={"polars", "parquet"},
    tags={"stage": "ingestion"},
)
def raw_transactions(
    context: dg.AssetExecutionContext, landing: LandingZoneResource, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Card transactions exactly as they landed, one Parquet partition per day.

    Reads every `.parquet`/`.csv` file in `landing/<day>/`, coerces values to the contract's types
    (values that do not parse are kept and marked in `parse_error`), and adds lineage columns:
    `source_file`, `source_row`, `source_sha256`, `ingested_at`. Landing files are never modified.
    Re-materializing a day replaces its partition.
    """
    # Read every day before writing any: a bad file on day N of a backfill fails the run with nothing
    # written, instead of leaving days 1..N-1 rewritten and the rest stale.
    frames = ingest_days(landing.root_path, partition_days(context))
    written = lakehouse.write_partitions(RAW_TABLE, frames)
    partitions_metadata(
        context, {day: raw_day_metadata(frame, written[day]) for day, frame in frames.items()}
    )
    combined = pl.concat(frames.values())
    context.log.info(
        f"{len(frames)} partitions, {combined.height} rows from {combined['source_file'].n_unique()} files"
    )
    return run_summary(
        context,
        list(frames),
        {
            "dagster/column_schema": table_schema(combined),
            "partitions_in_run": len(frames),
            "rows_in_run": combined.height,
            "preview": preview(combined),
        },
    )


def raw_day_metadata(frame: pl.DataFrame, path: Path) -> dict[str, Any]:
    """What one day's materialization says about that day alone: rows, bytes, source hashes, errors."""
    return {
        "dagster/row_count": frame.height,
        "bytes": files_size_bytes([path]),
        "source_sha256": sorted(set(frame["source_sha256"].to_list())),
        "parse_errors": int(frame["parse_error"].is_not_null().sum()),
        "path": dg.MetadataValue.path(str(path)),
    }
