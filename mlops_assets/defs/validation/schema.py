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
    AMOUNT_EUR,
    COUNTRY,
    COUNTRY_CODE_PATTERN,
    CUSTOMER_ID,
    DEVICE,
    DEVICES,
    EVENT_TIMESTAMP,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
    MAX_AMOUNT_EUR,
    MERCHANT_CATEGORIES,
    MERCHANT_CATEGORY,
    MERCHANT_ID,
    TRANSACTION_DTYPES,
    TRANSACTION_ID,
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
            TRANSACTION_ID: pa.Column(
                dtypes[TRANSACTION_ID], checks=pa.Check.str_length(min_value=1), unique=True
            ),
            EVENT_TIMESTAMP: pa.Column(
                dtypes[EVENT_TIMESTAMP],
                checks=[pa.Check.ge(start), pa.Check.lt(end)],
            ),
            CUSTOMER_ID: pa.Column(dtypes[CUSTOMER_ID], checks=pa.Check.str_length(min_value=1)),
            MERCHANT_ID: pa.Column(dtypes[MERCHANT_ID], checks=pa.Check.str_length(min_value=1)),
            MERCHANT_CATEGORY: pa.Column(
                dtypes[MERCHANT_CATEGORY], checks=pa.Check.isin(MERCHANT_CATEGORIES)
            ),
            COUNTRY: pa.Column(dtypes[COUNTRY], checks=pa.Check.str_matches(COUNTRY_CODE_PATTERN)),
            DEVICE: pa.Column(dtypes[DEVICE], checks=pa.Check.isin(DEVICES)),
            AMOUNT_EUR: pa.Column(
                dtypes[AMOUNT_EUR],
                checks=[pa.Check.gt(0), pa.Check.le(MAX_AMOUNT_EUR)],
            ),
            IS_FRAUD: pa.Column(dtypes[IS_FRAUD], checks=pa.Check.isin([0, 1])),
            LABEL_AVAILABLE_AT: pa.Column(
                dtypes[LABEL_AVAILABLE_AT],
                # A label cannot arrive before its payment: such a row would leak its own label into
                # the label-delay-aware features (merchant fraud rate) as of its own timestamp.
                checks=pa.Check(
                    lambda data: data.lazyframe.select(pl.col(data.key) >= pl.col(EVENT_TIMESTAMP)),
                    name="label_after_event",
                ),
            ),
        },
        # Lineage columns ride along; the contract itself is enforced at ingestion.
        strict=False,
        name="transactions",
    )
