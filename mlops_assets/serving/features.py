"""The request's feature vector: the offline feature definitions, per request, on the entities' events.

Why hand-written and not the offline functions: `compute_customer_features` and
`compute_merchant_features` (defs/features/compute.py) are polars query plans built for a day of
transactions, and a plan has a fixed cost of milliseconds whatever its size; per request that was most
of the service's latency (about 11 of 18 ms), and it grew with the load. Here the same definitions are
plain Python (numpy for the sums of squares) on one customer's and one merchant's events, kept sorted by
`state.EntityState`: bisection finds each window, so a request costs tens of microseconds.

The offline functions stay the source of truth. tests/serving/test_features.py compares these functions
with them on random histories (ties, exact window boundaries, identical amounts) and on simulated
months; the parity test and the `serving_parity` check compare the served rows with batch's. Every
definition below is the one compute.py documents, for t the transaction's time and its customer's (or
merchant's) events:

- `cust_{txn_count,amount_sum,amount_mean,amount_std}_{w}`: over `(t - w, t]` (same-microsecond events
  included); std is the sample std (ddof=1), 0.0 for a single event. Sums are numpy's (pairwise) and
  the std two-pass around their mean: both agree with polars' far inside the parity tolerance (1e-9).
- `cust_distinct_merchants_7d`: distinct merchants over `(t - 7d, t]`.
- `cust_seconds_since_prev_txn`: seconds since the previous event in (time, transaction id) order; null
  for the customer's first.
- `cust_amount_zscore_30d`: against the events in `[t - 30d, t)`; null with fewer than 2 of them or a std
  below `MIN_STD_EUR`.
- `cust_foreign_share_30d`: share of events over `(t - 30d, t]` outside the reference country.
- `merch_txn_count_{24h,7d}`: the merchant's events over `(t - w, t]`.

Which features are exact and which are not, by design:

- Every customer feature and the merchant volume (`merch_txn_count_24h`, `merch_txn_count_7d`): exact,
  computed on the entities' recent events plus the request (see `state`), so the row is what the
  offline tables hold for the same transaction.
- The merchant label features (`ONLINE_STATE_FEATURES`): read from the Feast online store, i.e. as of
  the merchant's last materialized transaction (the end of the day before). Labels (chargebacks) are not
  part of the request stream, so labels arriving during the serving day, and labels leaving the 30-day
  window during it, are missed until the next materialization. The parity test measures that error.

Cold start (documented answer, not an error): a customer without events in the window is scored as a
first payment, exactly as batch scores one (count 1, std 0, no previous gap, no z-score); a merchant
unknown to the store has no arrived labels (`merch_labeled_count_30d` 0, `merch_fraud_rate_30d` null),
as batch computes for a merchant without labels. The response lists the entities that were cold.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np

from mlops_assets.defs.features.compute import (
    CUSTOMER_LOOKBACK_DAYS,
    DISTINCT_MERCHANTS_DAYS,
    HISTORY_WINDOW,
    MERCHANT_VOLUME_WINDOWS,
    MIN_STD_EUR,
)
from mlops_assets.defs.serving.contract import LABEL_COUNT, ONLINE_STATE_FEATURES
from mlops_assets.feature_catalog import (
    CUSTOMER_FEATURES,
    CUSTOMER_WINDOWS,
    FOREIGN_REFERENCE_COUNTRY,
    MERCHANT_FEATURES,
    MODEL_FEATURES,
)
from mlops_assets.serving.state import (
    DAY_US,
    MERCHANT_VOLUME_DAYS,
    CustomerEvent,
    CustomerEvents,
    RequestEvents,
)

FeatureRow = dict[str, float | None]

# The value of each online-state feature for a merchant the online store does not know.
COLD_MERCHANT: Final[FeatureRow] = {LABEL_COUNT: 0.0, "merch_fraud_rate_30d": None}
_UNIT_US: Final[dict[str, int]] = {"h": 3_600_000_000, "d": DAY_US}


def duration_us(period: str) -> int:
    """A polars duration of whole hours or days (`"1h"`, `"30d"`) in microseconds (UTC: a day is 24 h)."""
    number, unit = period[:-1], period[-1:]
    if unit not in _UNIT_US or not number.isdigit():
        raise ValueError(f"duration {period!r}: expected whole hours or days, e.g. '1h' or '30d'")
    return int(number) * _UNIT_US[unit]


# Longest first: `_WINDOWS[0]` bounds the other windows and what the state must hold.
_WINDOWS: Final = sorted(
    (
        (
            duration_us(period),
            tuple(
                f"cust_{stat}_{suffix}" for stat in ("txn_count", "amount_sum", "amount_mean", "amount_std")
            ),
        )
        for suffix, period in CUSTOMER_WINDOWS
    ),
    reverse=True,
)
_HISTORY_US: Final = duration_us(HISTORY_WINDOW)
_DISTINCT_US: Final = DISTINCT_MERCHANTS_DAYS * DAY_US
_VOLUME: Final = tuple((duration_us(p), f"merch_txn_count_{p}") for p in MERCHANT_VOLUME_WINDOWS)
assert _WINDOWS[0][0] >= max(_HISTORY_US, _DISTINCT_US), "the longest customer window bounds the others"
# The state holds what the longest windows need (it prunes older events).
assert _WINDOWS[0][0] <= CUSTOMER_LOOKBACK_DAYS * DAY_US
assert max(w for w, _ in _VOLUME) <= MERCHANT_VOLUME_DAYS * DAY_US
assert {name for _, names in _WINDOWS for name in names} | {
    f"cust_distinct_merchants_{DISTINCT_MERCHANTS_DAYS}d",
    "cust_seconds_since_prev_txn",
    f"cust_amount_zscore_{HISTORY_WINDOW}",
    f"cust_foreign_share_{HISTORY_WINDOW}",
} == set(CUSTOMER_FEATURES)
assert {name for _, name in _VOLUME} | set(ONLINE_STATE_FEATURES) == set(MERCHANT_FEATURES)


def _sum_mean_std(amounts: np.ndarray) -> tuple[float, float, float]:
    """Sum, mean, and two-pass sample std (0.0 for a single amount)."""
    total = float(amounts.sum())
    mean = total / len(amounts)
    if len(amounts) < 2:
        return total, mean, 0.0
    deviations = amounts - mean
    return total, mean, math.sqrt(float(deviations @ deviations) / (len(amounts) - 1))


def customer_features(events: CustomerEvents, event: CustomerEvent) -> FeatureRow:
    """`CUSTOMER_FEATURES` of `event` among its customer's `events` (`event` among them).

    Events after `event`'s time are ignored, as the windows say; events at the same microsecond count.
    """
    t, times = event.time_us, events.times_us
    end = bisect_right(times, t)
    amounts = np.frombuffer(events.amounts_eur, dtype=np.float64)  # no copy
    row: FeatureRow = {}
    for window_us, names in _WINDOWS:  # each window is `[start, end)`, its start found by bisection
        start = bisect_right(times, t - window_us, hi=end)
        total, mean, std = _sum_mean_std(amounts[start:end])
        row.update(zip(names, (float(end - start), total, mean, std), strict=True))
    start = bisect_right(times, t - _DISTINCT_US, hi=end)
    row[f"cust_distinct_merchants_{DISTINCT_MERCHANTS_DAYS}d"] = float(
        len(set(events.merchant_ids[start:end]))
    )
    position = events.position(t, event.transaction_id)
    row["cust_seconds_since_prev_txn"] = None if position == 0 else (t - times[position - 1]) / 1e6
    # The z-score's history is `[t - 30d, t)`: left-closed, and without the events at t.
    first, before = bisect_left(times, t - _HISTORY_US, hi=end), bisect_left(times, t, hi=end)
    zscore = None
    if before - first >= 2:
        _, mean, std = _sum_mean_std(amounts[first:before])
        if std >= MIN_STD_EUR:
            zscore = (event.amount_eur - mean) / std
    row[f"cust_amount_zscore_{HISTORY_WINDOW}"] = zscore
    start = bisect_right(times, t - _HISTORY_US, hi=end)
    foreign = end - start - events.countries[start:end].count(FOREIGN_REFERENCE_COUNTRY)
    row[f"cust_foreign_share_{HISTORY_WINDOW}"] = foreign / (end - start)
    return row


def merchant_volume(times_us: Sequence[int], time_us: int) -> FeatureRow:
    """`merch_txn_count_{24h,7d}` at `time_us` from the merchant's sorted event times (its own included)."""
    end = bisect_right(times_us, time_us)
    return {name: float(end - bisect_right(times_us, time_us - w, hi=end)) for w, name in _VOLUME}


def request_features(
    requests: Sequence[RequestEvents], merchant_state: Mapping[str, Mapping[str, float | None]]
) -> list[FeatureRow]:
    """`MODEL_FEATURES` of each transaction (`EntityState.request_events`), in the given order.

    `merchant_state` maps merchant id to its online-state features (from Feast); a merchant missing
    from it, or with null values, gets `COLD_MERCHANT`.
    """
    rows = []
    for request in requests:
        values = customer_features(request.customer_events, request.event)
        values.update(merchant_volume(request.merchant_times_us, request.event.time_us))
        online = merchant_state.get(request.merchant_id)
        values.update({f: _online_value(online, f) for f in ONLINE_STATE_FEATURES})
        rows.append({f: values[f] for f in MODEL_FEATURES})
    return rows


def feature_matrix(rows: Sequence[FeatureRow], features: Sequence[str]) -> np.ndarray:
    """The rows as a model's input: float32, columns in `features` order, nulls as NaN.

    The same matrix `defs.training.data.feature_matrix` builds from a frame of the same values (float64
    rounded to float32, null to NaN), without building a frame per request.
    """
    matrix = np.array([[row[f] for f in features] for row in rows], dtype=np.float64)
    return np.ascontiguousarray(matrix.astype(np.float32))


def _online_value(values: Mapping[str, float | None] | None, feature: str) -> float | None:
    if values is None or values.get(LABEL_COUNT) is None:
        return COLD_MERCHANT[feature]
    return values.get(feature)
