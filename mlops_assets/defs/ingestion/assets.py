"""`raw_transactions`: each day's landing files, typed and stamped with lineage, in the lakehouse."""

import dagster as dg
import polars as pl

from mlops_assets.defs.ingestion.landing import ingest_day
from mlops_assets.metadata import files_size_bytes, preview, table_schema
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
    frames = {day: ingest_day(landing.root_path, day) for day in partition_days(context)}
    written = [lakehouse.write_partition(RAW_TABLE, day, frame) for day, frame in frames.items()]
    for day, frame in frames.items():
        context.log.info(f"partition {day}: {frame.height} rows from {frame['source_file'].n_unique()} files")
    combined = pl.concat(frames.values())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": combined.height,
            "dagster/column_schema": table_schema(combined),
            "rows_per_partition": {day.isoformat(): f.height for day, f in frames.items()},
            "source_sha256": {
                day.isoformat(): sorted(set(f["source_sha256"].to_list())) for day, f in frames.items()
            },
            "bytes": files_size_bytes(written),
            "parse_errors": int(combined["parse_error"].is_not_null().sum()),
            "path": dg.MetadataValue.path(str(written[-1])),
            "preview": preview(combined),
        }
    )
