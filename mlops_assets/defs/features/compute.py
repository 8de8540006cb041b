"""Point-in-time correct feature logic: pure polars functions, a frame of transactions in, features out.

What "as of t" means everywhere in this module: a feature row stamped `event_timestamp = t` uses only
transactions with `event_timestamp <= t` (the transaction at `t` itself included, since the scorer sees it)
and only labels with `label_available_at <= t`. Nothing that happens after `t` can change it, which is what
makes these rows safe to join to a label at `t` and to serve online.

Windows are right-closed: "over 1 hour" at `t` means event times in `(t - 1h, t]`. Transactions of the
same customer at the same microsecond are all "as of t" for each other. Every transaction gets its own
feature row, stamped with its own event time, so the point-in-time join to labels is exact.

The functions are lazy: they take a `pl.LazyFrame` (or a `pl.DataFrame`) and return a `pl.LazyFrame`; the
assets decide what to collect. They compute a row for every input transaction: the caller passes the
lookback (`CUSTOMER_LOOKBACK_DAYS`, `MERCHANT_LOOKBACK_DAYS`) before the days it wants and keeps those days.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from mlops_assets.domain import (
    AMOUNT_EUR,
    COUNTRY,
    CUSTOMER_ID,
    EVENT_TIMESTAMP,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
    MERCHANT_ID,
    TRANSACTION_ID,
)
from mlops_assets.feature_catalog import (
    CUSTOMER_FEATURES,
    CUSTOMER_WINDOWS,
    FOREIGN_REFERENCE_COUNTRY,
    MERCHANT_FEATURES,
)

# The longest customer window: a day's customer features need the 30 days before it.
CUSTOMER_LOOKBACK_DAYS: Final[int] = 30
# The merchant fraud rate counts labels that arrived in the last 30 days, and a label arrives at most
# MAX_LABEL_DELAY_DAYS after its transaction: a day's merchant features need 30 + 45 days before it.
MAX_LABEL_DELAY_DAYS: Final[int] = 45
MERCHANT_LOOKBACK_DAYS: Final[int] = 30 + MAX_LABEL_DELAY_DAYS

# A z-score against a history whose standard deviation is below this is undefined (null), not huge.
MIN_STD_EUR: Final[float] = 1e-6
# Windows other than `CUSTOMER_WINDOWS` (polars durations; the feature names carry them). The scoring
# service computes the same windows per request (mlops_assets/serving/features.py) from these constants.
HISTORY_WINDOW: Final[str] = "30d"  # the z-score's history and the foreign share
DISTINCT_MERCHANTS_DAYS: Final[int] = 7
MERCHANT_VOLUME_WINDOWS: Final[tuple[str, ...]] = ("24h", "7d")

CUSTOMER_INPUT_COLUMNS: Final[tuple[str, ...]] = (
    TRANSACTION_ID,
    CUSTOMER_ID,
    MERCHANT_ID,
    EVENT_TIMESTAMP,
    COUNTRY,
    AMOUNT_EUR,
)
MERCHANT_INPUT_COLUMNS: Final[tuple[str, ...]] = (
    TRANSACTION_ID,
    MERCHANT_ID,
    EVENT_TIMESTAMP,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
)


def _lazy(frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def _with_keys(frame: pl.LazyFrame, entity: str) -> pl.LazyFrame:
    """Sort by entity, time and id; add `_row` (the order), `_key` (an integer per entity) and `_one`.

    Grouping and sorting on the integer `_key` instead of the string id is what keeps the sweeps fast.
    """
    return (
        frame.sort(entity, EVENT_TIMESTAMP, TRANSACTION_ID)
        .with_row_index("_row")
        .with_columns(
            (pl.col(entity) != pl.col(entity).shift(1))
            .fill_null(True)
            .cum_sum()
            .cast(pl.UInt32)
            .alias("_key"),
            pl.lit(1.0).alias("_one"),
        )
    )


def _seconds(expr: pl.Expr) -> pl.Expr:
    return expr.dt.total_microseconds().cast(pl.Float64) / 1e6


def rolling_window_stats(period: str, suffix: str, key: str = "_key") -> list[pl.Expr]:
    """Count, sum, mean and sample std of `amount_eur` per `key` over `(t - period, t]`.

    The window includes the row's own transaction and every transaction of the key at the same
    microsecond; so the count is at least 1, and the std of a one-transaction window is 0.0 (not null).
    Expects `_one` (a column of 1.0) and the frame sorted by `key`, `event_timestamp` (see `_with_keys`).
    """
    count = pl.col("_one").rolling_sum_by(EVENT_TIMESTAMP, period, closed="right").over(key)
    total = pl.col(AMOUNT_EUR).rolling_sum_by(EVENT_TIMESTAMP, period, closed="right").over(key)
    std = pl.col(AMOUNT_EUR).rolling_std_by(EVENT_TIMESTAMP, period, closed="right").over(key)
    return [
        count.alias(f"cust_txn_count_{suffix}"),
        total.alias(f"cust_amount_sum_{suffix}"),
        (total / count).alias(f"cust_amount_mean_{suffix}"),
        pl.when(count < 2)
        .then(0.0)
        .otherwise(std.fill_nan(0.0).clip(lower_bound=0.0))
        .alias(f"cust_amount_std_{suffix}"),
    ]


def sweep_counts(events: pl.LazyFrame, reads: pl.LazyFrame, values: list[str]) -> pl.LazyFrame:
    """Sums of the events' `values` at or before each read's time, per `_key`, in the reads' order.

    `events` and `reads` have `_key` and `_t`; events carry `values`. At equal times events sort before
    reads, so an event at exactly t counts at t. The stable sort keeps the reads in their input order,
    so the result lines up row for row with `reads` (no join back needed).
    """
    kinds = pl.concat(
        [
            events.select("_key", "_t", *values, pl.lit(0, pl.Int8).alias("_kind")),
            reads.select(
                "_key",
                "_t",
                *(pl.lit(0, pl.Int64).alias(v) for v in values),
                pl.lit(1, pl.Int8).alias("_kind"),
            ),
        ]
    )
    return (
        kinds.sort("_key", "_t", "_kind", maintain_order=True)
        .select(pl.col("_kind"), *(pl.col(v).cum_sum().over("_key") for v in values))
        .filter(pl.col("_kind") == 1)
        .drop("_kind")
    )


def distinct_merchants(frame: pl.LazyFrame, window_days: int = DISTINCT_MERCHANTS_DAYS) -> pl.LazyFrame:
    """Distinct merchants of each customer over `(t - window_days, t]`, one value per row of `frame`.

    A sweep instead of a per-window set: the occurrence of merchant m at time s counts for the times
    `[s, min(next occurrence of m, s + window))`, so the distinct count at t is the number of such intervals
    containing t: +1 events at their starts, -1 at their ends, a cumulative sum per customer, read at each
    row. O(n log n), exact, and a later payment to the same merchant never counts twice.
    Expects the frame of `_with_keys` (sorted; `_key`), with `merchant_id`.
    """
    window = pl.duration(days=window_days)
    end = pl.min_horizontal(
        # `over` keeps the frame's order inside each group: time order, ties by transaction id.
        pl.col(EVENT_TIMESTAMP).shift(-1).over(["_key", MERCHANT_ID]),
        pl.col(EVENT_TIMESTAMP) + window,
    )
    events = pl.concat(
        [
            frame.select("_key", pl.col(EVENT_TIMESTAMP).alias("_t"), pl.lit(1, pl.Int64).alias("_d")),
            frame.select("_key", end.alias("_t"), pl.lit(-1, pl.Int64).alias("_d")),
        ]
    )
    counts = sweep_counts(events, frame.select("_key", pl.col(EVENT_TIMESTAMP).alias("_t")), ["_d"])
    return counts.select(pl.col("_d").cast(pl.Float64).alias(f"cust_distinct_merchants_{window_days}d"))


def compute_customer_features(transactions: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Per-customer features as of each transaction's time, one row per input transaction.

    Output: `customer_id`, `event_timestamp`, `transaction_id` and `CUSTOMER_FEATURES` (Float64), sorted by
    customer and time. Window semantics (t = the row's event time):

    - `cust_{txn_count,amount_sum,amount_mean,amount_std}_{1h,24h,7d,30d}`: over `(t - w, t]`, the row's
      own transaction included; std is the sample std (ddof=1), 0.0 for a single transaction.
    - `cust_distinct_merchants_7d`: distinct merchants over `(t - 7d, t]`.
    - `cust_seconds_since_prev_txn`: seconds since the customer's previous transaction (0.0 for another
      transaction at the same microsecond); null for the customer's first transaction in the data.
    - `cust_amount_zscore_30d`: `(amount - mean) / std` of the customer's transactions in `[t - 30d, t)`,
      strictly before t ("against the customer's own history"); null with fewer than 2 of them or a std
      below `MIN_STD_EUR`.
    - `cust_foreign_share_30d`: share of transactions over `(t - 30d, t]` in a country other than the
      home country.

    A customer with no history gets count 1, std 0.0, a null gap and a null z-score on the first payment.
    """
    base = _with_keys(_lazy(transactions).select(CUSTOMER_INPUT_COLUMNS), CUSTOMER_ID)
    prior_count = pl.col("_one").rolling_sum_by(EVENT_TIMESTAMP, HISTORY_WINDOW, closed="left").over("_key")
    prior_mean = (
        pl.col(AMOUNT_EUR).rolling_mean_by(EVENT_TIMESTAMP, HISTORY_WINDOW, closed="left").over("_key")
    )
    prior_std = pl.col(AMOUNT_EUR).rolling_std_by(EVENT_TIMESTAMP, HISTORY_WINDOW, closed="left").over("_key")
    rolled = base.select(
        CUSTOMER_ID,
        EVENT_TIMESTAMP,
        TRANSACTION_ID,
        *(expr for suffix, period in CUSTOMER_WINDOWS for expr in rolling_window_stats(period, suffix)),
        _seconds(pl.col(EVENT_TIMESTAMP) - pl.col(EVENT_TIMESTAMP).shift(1).over("_key")).alias(
            "cust_seconds_since_prev_txn"
        ),
        pl.when((prior_count.fill_null(0) >= 2) & (prior_std >= MIN_STD_EUR))
        .then((pl.col(AMOUNT_EUR) - prior_mean) / prior_std)
        .otherwise(None)
        .alias("cust_amount_zscore_30d"),
        (pl.col(COUNTRY) != FOREIGN_REFERENCE_COUNTRY)
        .cast(pl.Float64)
        .rolling_mean_by(EVENT_TIMESTAMP, HISTORY_WINDOW, closed="right")
        .over("_key")
        .alias("cust_foreign_share_30d"),
    )
    return pl.concat([rolled, distinct_merchants(base)], how="horizontal").select(
        CUSTOMER_ID,
        EVENT_TIMESTAMP,
        TRANSACTION_ID,
        *(pl.col(name).cast(pl.Float64) for name in CUSTOMER_FEATURES),
    )


def compute_merchant_features(transactions: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Per-merchant features as of each transaction's time, one row per input transaction.

    Output: `merchant_id`, `event_timestamp`, `transaction_id` and `MERCHANT_FEATURES` (Float64), sorted by
    merchant and time. With t the row's event time:

    - `merch_txn_count_{24h,7d}`: the merchant's transactions over `(t - w, t]` (volume).
    - `merch_labeled_count_30d`: labels of the merchant's transactions that *arrived* in `(t - 30d, t]`,
      i.e. `t - 30d < label_available_at <= t` (the label delay respected: a label not yet arrived at t does
      not exist at t), counting only labels that arrived within `MAX_LABEL_DELAY_DAYS` of their transaction
      so that a fixed lookback makes the value exact, and never a label stamped before its transaction
      (`label_available_at < event_timestamp`: corrupt, it would leak a later payment's outcome).
    - `merch_fraud_rate_30d`: the fraud share of those labels; null when none arrived.
    """
    base = _with_keys(_lazy(transactions).select(MERCHANT_INPUT_COLUMNS), MERCHANT_ID)
    volume = base.select(
        MERCHANT_ID,
        EVENT_TIMESTAMP,
        TRANSACTION_ID,
        *(
            pl.col("_one")
            .rolling_sum_by(EVENT_TIMESTAMP, period, closed="right")
            .over("_key")
            .alias(f"merch_txn_count_{period}")
            for period in MERCHANT_VOLUME_WINDOWS
        ),
    )
    delay = pl.col(LABEL_AVAILABLE_AT) - pl.col(EVENT_TIMESTAMP)
    labels = base.filter(
        pl.col(IS_FRAUD).is_not_null()
        & pl.col(LABEL_AVAILABLE_AT).is_not_null()
        # A label stamped before its own transaction is corrupt (validation quarantines it as
        # `label_after_event`); counted, it would describe a payment that has not happened yet at the
        # label's time. Dropped here too, for callers that bypass validation.
        & (delay >= pl.duration(days=0))
        & (delay <= pl.duration(days=MAX_LABEL_DELAY_DAYS))
    ).select("_key", pl.col(LABEL_AVAILABLE_AT).alias("_t"), pl.col(IS_FRAUD).cast(pl.Int64).alias("_f"))
    # A label enters the window when it arrives and leaves 30 days later ("(t - 30d, t]").
    events = pl.concat(
        [
            labels.select("_key", "_t", pl.lit(1, pl.Int64).alias("_n"), "_f"),
            labels.select(
                "_key",
                (pl.col("_t") + pl.duration(days=30)).alias("_t"),
                pl.lit(-1, pl.Int64).alias("_n"),
                (-pl.col("_f")).alias("_f"),
            ),
        ]
    )
    counts = sweep_counts(
        events, base.select("_key", pl.col(EVENT_TIMESTAMP).alias("_t")), ["_n", "_f"]
    ).select(
        pl.col("_n").cast(pl.Float64).alias("merch_labeled_count_30d"),
        pl.when(pl.col("_n") > 0)
        .then(pl.col("_f") / pl.col("_n"))
        .otherwise(None)
        .cast(pl.Float64)
        .alias("merch_fraud_rate_30d"),
    )
    return pl.concat([volume, counts], how="horizontal").select(
        MERCHANT_ID,
        EVENT_TIMESTAMP,
        TRANSACTION_ID,
        *(pl.col(name).cast(pl.Float64) for name in MERCHANT_FEATURES),
    )
