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

import polars as pl

from mlops_assets.domain import (
    EVENT_TIMESTAMP,
    LABEL_AVAILABLE_AT,
    LABEL_MATURITY_DAYS,
    TRANSACTION_DTYPES,
    TRANSACTION_ID,
)
from mlops_assets.feature_catalog import (
    CUSTOMER_FEATURES,
    ID_COLUMNS,
    MERCHANT_FEATURES,
    MODEL_FEATURES,
)
from mlops_assets.tables import CUSTOMER_TABLE, MERCHANT_TABLE, VALIDATED_TABLE


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
            customer_features.select(
                TRANSACTION_ID, pl.col(EVENT_TIMESTAMP).alias("_customer_ts"), *CUSTOMER_FEATURES
            ),
            on=TRANSACTION_ID,
            how="left",
        )
        .join(
            merchant_features.select(
                TRANSACTION_ID, pl.col(EVENT_TIMESTAMP).alias("_merchant_ts"), *MERCHANT_FEATURES
            ),
            on=TRANSACTION_ID,
            how="left",
        )
        .sort(EVENT_TIMESTAMP, TRANSACTION_ID)
        .collect()
    )
    for table, column in ((CUSTOMER_TABLE, "_customer_ts"), (MERCHANT_TABLE, "_merchant_ts")):
        missing = joined.filter(pl.col(column).is_null())
        if missing.height:
            days = sorted({d.isoformat() for d in missing[EVENT_TIMESTAMP].dt.date().to_list()})
            raise FeatureJoinError(
                f"table {table}: {missing.height} validated transactions have no feature row "
                f"(partitions {', '.join(days[:10])}); re-materialize {table} for these partitions"
            )
        future = joined.filter(pl.col(column) > pl.col(EVENT_TIMESTAMP))
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
    return frame.filter(pl.col(LABEL_AVAILABLE_AT) <= label_cutoff)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True)
class DateWindow:
    """The days [start, end) to train on, and the label cutoff they are labelled as of.

    `requested_end` is the end asked for (or the day after the last partition); `end` stops
    `label_maturity_days` before the label cutoff, so every day in the window has had that long for its
    (late) fraud labels to arrive.
    """

    start: date
    end: date
    label_cutoff: datetime
    requested_end: date
    label_maturity_days: int

    def immature_days(self) -> list[date]:
        """The requested days left out because their labels were too young at the cutoff."""
        return [self.end + timedelta(days=i) for i in range((self.requested_end - self.end).days)]


def mature_end(label_cutoff: datetime, label_maturity_days: int) -> date:
    """The exclusive end of the mature days: every earlier day ended `label_maturity_days` before the cutoff.

    Rounded down to a day, so a cutoff in the middle of a day never lets a partly immature day in.
    """
    return (label_cutoff.astimezone(UTC) - timedelta(days=label_maturity_days)).date()


def resolve_window(
    present: list[date],
    start_date: str | None = None,
    end_date: str | None = None,
    last_n_days: int | None = None,
    label_cutoff: str | None = None,
    label_maturity_days: int = LABEL_MATURITY_DAYS,
) -> DateWindow:
    """The training window from explicit dates (end exclusive), "last N days", or all present days.

    The default label cutoff is the requested end: train as if at midnight after the last day, when
    only labels that had arrived by then are known. Fraud labels arrive days after the payment while
    legitimate rows are labelled at once, so the newest days would keep their legitimate rows and lose
    most of their frauds (a fraud rate biased towards zero, in training, early stopping and the holdout
    alike). The window therefore ends `label_maturity_days` before the cutoff: those immature days are
    left out entirely, not just their unlabelled rows. `last_n_days` counts back from that mature end.
    `label_maturity_days=0` turns the rule off: every day up to the requested end, as before.
    """
    if last_n_days is not None and (start_date or end_date):
        raise ValueError("training window: give either last_n_days or start_date/end_date, not both")
    if last_n_days is not None and last_n_days < 1:
        raise ValueError(f"training window: last_n_days must be at least 1, got {last_n_days}")
    if label_maturity_days < 0:
        raise ValueError(
            f"training window: label_maturity_days must be at least 0, got {label_maturity_days}"
        )
    if not present and not (start_date and end_date):
        raise ValueError(
            f"training window: table {VALIDATED_TABLE} has no partitions; materialize it first "
            "or give start_date and end_date"
        )
    requested_end = date.fromisoformat(end_date) if end_date else present[-1] + timedelta(days=1)
    cutoff = datetime.fromisoformat(label_cutoff) if label_cutoff else day_start(requested_end)
    if cutoff.tzinfo is None:
        cutoff = cutoff.replace(tzinfo=UTC)
    end = requested_end
    if label_maturity_days > 0:
        end = min(requested_end, mature_end(cutoff, label_maturity_days))
    if last_n_days is not None:
        start = end - timedelta(days=last_n_days)
    else:
        start = date.fromisoformat(start_date) if start_date else present[0]
    if start >= end:
        if end < requested_end:
            raise ValueError(
                f"training window: no mature day in [{start}, {requested_end}): with labels as of "
                f"{cutoff.isoformat()} and label_maturity_days={label_maturity_days}, only days before "
                f"{end} have had their fraud labels arrive; give an earlier start, a later label_cutoff, "
                "or label_maturity_days=0 to train on immature labels"
            )
        raise ValueError(f"training window: start {start} is not before end {end} (end is exclusive)")
    return DateWindow(
        start=start,
        end=end,
        label_cutoff=cutoff,
        requested_end=requested_end,
        label_maturity_days=label_maturity_days,
    )
