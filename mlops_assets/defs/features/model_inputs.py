"""`model_inputs`: the feature vectors of validated transactions, the same code path as training.

Batch scoring calls `model_inputs(lakehouse, start, end)`; `training_dataset` calls the same function
and then keeps only labelled rows. Features come from the offline feature tables, joined exactly as of
each transaction's time (see `dataset.join_features`).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from mlops_assets.defs.features.dataset import empty_model_inputs, join_features
from mlops_assets.lakehouse import days_between
from mlops_assets.resources import LakehouseResource
from mlops_assets.tables import CUSTOMER_TABLE, MERCHANT_TABLE, VALIDATED_TABLE


def require_partitions(lakehouse: LakehouseResource, table: str, days: list[date]) -> None:
    """Raise naming the first missing partition of `table` among `days`, and how many are missing."""
    missing = [d for d in days if not lakehouse.partition_path(table, d).exists()]
    if missing:
        raise FileNotFoundError(
            f"partition {missing[0].isoformat()}: table {table} has no file at "
            f"{lakehouse.partition_path(table, missing[0])} "
            f"({len(missing)} of {len(days)} days missing); materialize {table} for these partitions first"
        )


def model_inputs(lakehouse: LakehouseResource, start: date, end: date) -> pl.DataFrame:
    """One row per validated transaction with event day in [start, end): ID_COLUMNS + MODEL_FEATURES.

    Days without a validated partition are skipped (nothing was ingested); a day whose validated
    partition exists but whose feature partition does not is an error naming the table and partition.
    A window without transactions gives an empty frame with the full schema.
    """
    days = [d for d in days_between(start, end) if lakehouse.partition_path(VALIDATED_TABLE, d).exists()]
    if not days:
        return empty_model_inputs()
    for table in (CUSTOMER_TABLE, MERCHANT_TABLE):
        require_partitions(lakehouse, table, days)

    def scan(table: str) -> pl.LazyFrame:
        return pl.scan_parquet([lakehouse.partition_path(table, d) for d in days])

    return join_features(scan(VALIDATED_TABLE), scan(CUSTOMER_TABLE), scan(MERCHANT_TABLE))
