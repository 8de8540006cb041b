"""The pandera (polars backend) schema: the single source of truth for what a valid transaction is.

Types, ranges, allowed categories, unique `transaction_id` and "timestamps inside the partition's day"
all live here. The day check depends on the partition, so the schema is built per day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import pandera.polars as pa

from mlops_assets.domain import (
    COUNTRY_CODE_PATTERN,
    DEVICES,
    MAX_AMOUNT_EUR,
    MERCHANT_CATEGORIES,
    TRANSACTION_DTYPES,
)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The partition's half-open window [00:00, next day 00:00) in UTC."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def transaction_schema(day: date) -> pa.DataFrameSchema:
    """The schema of one day's transactions; `unique` reports every duplicate after the first."""
    # Imported here: pandera (and the pandas it pulls in) adds ~0.8 s to every code-location load,
    # and Dagster imports every module under defs/ when it loads the location.
    import pandera.polars as pa

    start, end = day_bounds(day)
    dtypes = TRANSACTION_DTYPES
    return pa.DataFrameSchema(
        {
            "transaction_id": pa.Column(
                dtypes["transaction_id"], checks=pa.Check.str_length(min_value=1), unique=True
            ),
            "event_timestamp": pa.Column(
                dtypes["event_timestamp"],
                checks=[pa.Check.ge(start), pa.Check.lt(end)],
            ),
            "customer_id": pa.Column(dtypes["customer_id"], checks=pa.Check.str_length(min_value=1)),
            "merchant_id": pa.Column(dtypes["merchant_id"], checks=pa.Check.str_length(min_value=1)),
            "merchant_category": pa.Column(
                dtypes["merchant_category"], checks=pa.Check.isin(MERCHANT_CATEGORIES)
            ),
            "country": pa.Column(dtypes["country"], checks=pa.Check.str_matches(COUNTRY_CODE_PATTERN)),
            "device": pa.Column(dtypes["device"], checks=pa.Check.isin(DEVICES)),
            "amount_eur": pa.Column(
                dtypes["amount_eur"],
                checks=[pa.Check.gt(0), pa.Check.le(MAX_AMOUNT_EUR)],
            ),
            "is_fraud": pa.Column(dtypes["is_fraud"], checks=pa.Check.isin([0, 1])),
            "label_available_at": pa.Column(
                dtypes["label_available_at"],
                # A label cannot arrive before its payment: such a row would leak its own label into
                # the label-delay-aware features (merchant fraud rate) as of its own timestamp.
                checks=pa.Check(
                    lambda data: data.lazyframe.select(pl.col(data.key) >= pl.col("event_timestamp")),
                    name="label_after_event",
                ),
            ),
        },
        # Lineage columns ride along; the contract itself is enforced at ingestion.
        strict=False,
        name="transactions",
    )
