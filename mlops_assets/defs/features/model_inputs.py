"""`model_inputs`: the feature vectors of validated transactions, the same code path as training.

Batch scoring calls `model_inputs(lakehouse, start, end)`; `training_dataset` calls the same function
and then keeps only labelled rows. Features come from the offline feature tables, joined exactly as of
each transaction's time (see `dataset.join_features`).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from mlops_assets.defs.features.dataset import empty_model_inputs, join_features
from mlops_assets.resources import LakehouseResource
from mlops_assets.tables import CUSTOMER_TABLE, MERCHANT_TABLE, VALIDATED_TABLE


def model_inputs(lakehouse: LakehouseResource, start: date, end: date) -> pl.DataFrame:
    """One row per validated transaction with event day in [start, end): ID_COLUMNS + MODEL_FEATURES.

    Days without a validated partition are skipped (nothing was ingested); a day whose validated
    partition exists but whose feature partition does not is an error naming the table and partition.
    A window without transactions gives an empty frame with the full schema.
    """
    days = lakehouse.existing_days(VALIDATED_TABLE, start, end)
    if not days:
        return empty_model_inputs()
    for table in (CUSTOMER_TABLE, MERCHANT_TABLE):
        lakehouse.require_partitions(table, days)

    def scan(table: str) -> pl.LazyFrame:
        return pl.scan_parquet([lakehouse.partition_path(table, d) for d in days])

    return join_features(scan(VALIDATED_TABLE), scan(CUSTOMER_TABLE), scan(MERCHANT_TABLE))
