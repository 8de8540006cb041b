"""The pandera (polars backend) schema: the single source of truth for what a valid transaction is.

Types, ranges, allowed categories, unique `transaction_id` and "timestamps inside the partition's day"
all live here. The rules that depend on the partition (the day's bounds, uniqueness within the day) read
the row's `partition_date` column, so one validation pass covers every day of a ranged run and judges
each row exactly as validating its day alone would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

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

# The day each row was ingested for: the partition the rules that depend on a day judge it by.
PARTITION_DATE: Final[str] = "partition_date"
_DAY_START = pl.col(PARTITION_DATE).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def transaction_schema() -> pa.DataFrameSchema:
    """The schema of transactions with their `partition_date`; later copies of a day's id are duplicates."""
    # Imported here: pandera (and the pandas it pulls in) adds ~0.8 s to every code-location load,
    # and Dagster imports every module under defs/ when it loads the location.
    import pandera.polars as pa

    dtypes = TRANSACTION_DTYPES
    return pa.DataFrameSchema(
        {
            TRANSACTION_ID: pa.Column(
                dtypes[TRANSACTION_ID],
                checks=[
                    pa.Check.str_length(min_value=1),
                    # The first copy of an id on its day is valid; later copies would double-count the
                    # payment downstream. (pandera's `unique` flags every copy, across all days.)
                    pa.Check(
                        lambda data: data.lazyframe.select(
                            pl.col(data.key).is_first_distinct().over(PARTITION_DATE)
                        ),
                        name="field_uniqueness",
                    ),
                ],
            ),
            EVENT_TIMESTAMP: pa.Column(
                dtypes[EVENT_TIMESTAMP],
                checks=[
                    pa.Check(
                        lambda data: data.lazyframe.select(pl.col(data.key) >= _DAY_START),
                        name="greater_than_or_equal_to(the partition day's 00:00 UTC)",
                    ),
                    pa.Check(
                        lambda data: data.lazyframe.select(
                            pl.col(data.key) < _DAY_START + pl.duration(days=1)
                        ),
                        name="less_than(the next day's 00:00 UTC)",
                    ),
                ],
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
