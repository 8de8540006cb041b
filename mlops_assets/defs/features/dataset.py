"""Joining labels to features as of each transaction's time: the one code path of training and scoring.

Every transaction has its own row in `customer_features` and in `merchant_features`, stamped with its
own event time and computed only from what was known then (see `compute`). Joining on `transaction_id`
is therefore the exact point-in-time join: an as-of join on `(customer_id, event_timestamp)` would pick
between two payments of the same customer in the same microsecond arbitrarily. The join still checks
that no feature row is stamped after its transaction, so a corrupted feature table fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from mlops_assets.defs.features.catalog import (
    CUSTOMER_FEATURES,
    ID_COLUMNS,
    MERCHANT_FEATURES,
    MODEL_FEATURES,
)
from mlops_assets.domain import TRANSACTION_DTYPES

TS = "event_timestamp"
VALIDATED_TABLE = "validated_transactions"
CUSTOMER_TABLE = "customer_features"
MERCHANT_TABLE = "merchant_features"


class FeatureJoinError(ValueError):
    """Transactions whose feature rows are missing or stamped after them."""


def model_inputs_schema() -> dict[str, pl.DataType]:
    """The columns of `training_dataset` and `model_inputs`: ID_COLUMNS, then MODEL_FEATURES."""
    return {**{c: TRANSACTION_DTYPES[c] for c in ID_COLUMNS}, **dict.fromkeys(MODEL_FEATURES, pl.Float64())}


def empty_model_inputs() -> pl.DataFrame:
    """A frame with no rows and the model-input schema (for windows without transactions)."""
    return pl.DataFrame(schema=model_inputs_schema())


def join_features(
    transactions: pl.LazyFrame, customer_features: pl.LazyFrame, merchant_features: pl.LazyFrame
) -> pl.DataFrame:
    """ID_COLUMNS + MODEL_FEATURES, one row per transaction, features as of the transaction's time.

    Raises `FeatureJoinError` naming the days and tables when a transaction has no feature row (the
    feature table is older than the validated one) or a feature row is stamped after its transaction.
    """
    joined = (
        transactions.select(ID_COLUMNS)
        .join(
            customer_features.select("transaction_id", pl.col(TS).alias("_customer_ts"), *CUSTOMER_FEATURES),
            on="transaction_id",
            how="left",
        )
        .join(
            merchant_features.select("transaction_id", pl.col(TS).alias("_merchant_ts"), *MERCHANT_FEATURES),
            on="transaction_id",
            how="left",
        )
        .sort(TS, "transaction_id")
        .collect()
    )
    for table, column in ((CUSTOMER_TABLE, "_customer_ts"), (MERCHANT_TABLE, "_merchant_ts")):
        missing = joined.filter(pl.col(column).is_null())
        if missing.height:
            days = sorted({d.isoformat() for d in missing[TS].dt.date().to_list()})
            raise FeatureJoinError(
                f"table {table}: {missing.height} validated transactions have no feature row "
                f"(partitions {', '.join(days[:10])}); re-materialize {table} for these partitions"
            )
        future = joined.filter(pl.col(column) > pl.col(TS))
        if future.height:
            raise FeatureJoinError(
                f"table {table}: {future.height} feature rows are stamped after their transaction "
                f"(first: {future['transaction_id'][0]}); the point-in-time join refuses them"
            )
    return joined.select(model_inputs_schema().keys())


def labelled_as_of(frame: pl.DataFrame, label_cutoff: datetime) -> pl.DataFrame:
    """Rows whose label had arrived by `label_cutoff` (inclusive): the label delay respected.

    A transaction whose label arrives later is dropped, not counted as legitimate: at the cutoff its
    label does not exist yet.
    """
    return frame.filter(pl.col("label_available_at") <= label_cutoff)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(), tzinfo=UTC)


def partition_days_present(root: Path, table: str) -> list[date]:
    """Days that have a partition file of `table` under the lakehouse `root`, in order."""
    folder = root / table
    if not folder.exists():
        return []
    return sorted(
        date.fromisoformat(p.parent.name.removeprefix("date=")) for p in folder.glob("date=*/part-0.parquet")
    )


@dataclass(frozen=True)
class DateWindow:
    """A half-open window of days [start, end) and the label cutoff for training on it."""

    start: date
    end: date
    label_cutoff: datetime

    def days(self) -> list[date]:
        """The days in the window."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]


def resolve_window(
    present: list[date],
    start_date: str | None = None,
    end_date: str | None = None,
    last_n_days: int | None = None,
    label_cutoff: str | None = None,
) -> DateWindow:
    """The training window from explicit dates (end exclusive), "last N days", or all present days.

    The default label cutoff is the window's end: train as if at midnight after the last day, when
    only labels that had arrived by then are known.
    """
    if last_n_days is not None and (start_date or end_date):
        raise ValueError("training window: give either last_n_days or start_date/end_date, not both")
    if last_n_days is not None and last_n_days < 1:
        raise ValueError(f"training window: last_n_days must be at least 1, got {last_n_days}")
    if not present and not (start_date and end_date):
        raise ValueError(
            f"training window: table {VALIDATED_TABLE} has no partitions; materialize it first "
            "or give start_date and end_date"
        )
    end = date.fromisoformat(end_date) if end_date else present[-1] + timedelta(days=1)
    if last_n_days is not None:
        start = end - timedelta(days=last_n_days)
    else:
        start = date.fromisoformat(start_date) if start_date else present[0]
    if start >= end:
        raise ValueError(f"training window: start {start} is not before end {end} (end is exclusive)")
    cutoff = datetime.fromisoformat(label_cutoff) if label_cutoff else day_start(end)
    if cutoff.tzinfo is None:
        cutoff = cutoff.replace(tzinfo=UTC)
    return DateWindow(start=start, end=end, label_cutoff=cutoff)
