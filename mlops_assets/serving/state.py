"""The entities' recent events: what the service needs to compute a request's features exactly.

Design choice (issue 14 offered two): the service keeps each customer's and merchant's recent
transactions in memory instead of pushing rolled-up rows through a Feast `PushSource`. Feast's online
row of an entity is its last transaction's feature vector; a new payment's windows need the individual
events (which ones leave a 1-hour or 30-day window, which merchants were distinct), so a pushed row
could only be rolled forward approximately. With the events, the offline functions
(`compute_customer_features`, `compute_merchant_features`) compute the request's row exactly as batch
computes it.

Where the events come from: the validated transactions of the lookback before the serving day (the
same partitions the offline feature tables read), then every transaction the service scores, then, on a
restart within the day, the day's prediction log (`PredictionLog.served_transactions`). Windows: 30
days for customers (the longest customer window), 7 days for merchant volume; older events are pruned.
One process holds the state of the traffic it serves: scale out by routing on customer id, or move
the events into the online store, when one process is not enough.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import polars as pl

from mlops_assets.defs.features.compute import (
    CUSTOMER_INPUT_COLUMNS,
    CUSTOMER_LOOKBACK_DAYS,
    MERCHANT_INPUT_COLUMNS,
)
from mlops_assets.domain import (
    AMOUNT_EUR,
    CUSTOMER_ID,
    EVENT_TIMESTAMP,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
    MERCHANT_ID,
    TRANSACTION_ID,
)

# Merchant volume windows are 24 h and 7 days; the label features come from Feast (see features.py).
MERCHANT_VOLUME_DAYS: Final[int] = 7
_TS_TYPE = pl.Datetime("us", "UTC")
CUSTOMER_SCHEMA: Final[dict[str, pl.DataType]] = {
    TRANSACTION_ID: pl.String(),
    CUSTOMER_ID: pl.String(),
    MERCHANT_ID: pl.String(),
    EVENT_TIMESTAMP: _TS_TYPE,
    "country": pl.String(),
    AMOUNT_EUR: pl.Float64(),
}
MERCHANT_SCHEMA: Final[dict[str, pl.DataType]] = {
    TRANSACTION_ID: pl.String(),
    MERCHANT_ID: pl.String(),
    EVENT_TIMESTAMP: _TS_TYPE,
    IS_FRAUD: pl.Int8(),
    LABEL_AVAILABLE_AT: _TS_TYPE,
}
assert tuple(CUSTOMER_SCHEMA) == CUSTOMER_INPUT_COLUMNS and tuple(MERCHANT_SCHEMA) == MERCHANT_INPUT_COLUMNS


def _customer_row(tx: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(tx[c] for c in CUSTOMER_INPUT_COLUMNS)


def _merchant_row(tx: dict[str, Any]) -> tuple[Any, ...]:
    # Labels are not part of the request stream: the merchant's label features come from Feast.
    return (tx[TRANSACTION_ID], tx[MERCHANT_ID], tx[EVENT_TIMESTAMP], None, None)


class EntityState:
    """Recent transactions per customer and per merchant, in arrival order; thread-safe."""

    def __init__(
        self,
        customer_days: int = CUSTOMER_LOOKBACK_DAYS,
        merchant_days: int = MERCHANT_VOLUME_DAYS,
    ) -> None:
        self._customer_window = timedelta(days=customer_days)
        self._merchant_window = timedelta(days=merchant_days)
        self._customers: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self._merchants: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def knows_customer(self, customer_id: str) -> bool:
        """Whether the customer has an event in the window (else the request is its cold start)."""
        return bool(self._customers.get(customer_id))

    def knows_merchant(self, merchant_id: str) -> bool:
        """Whether the merchant has an event in the window."""
        return bool(self._merchants.get(merchant_id))

    def record(self, transactions: Iterable[dict[str, Any]]) -> int:
        """Add transactions (dicts with the contract's columns); a transaction id already held is skipped.

        Returns how many were added. Events older than the window before the newest added one are
        pruned from the entities touched.
        """
        added = 0
        with self._lock:
            for tx in transactions:
                if tx[TRANSACTION_ID] in self._seen:
                    continue
                self._seen.add(tx[TRANSACTION_ID])
                customer = self._customers[tx[CUSTOMER_ID]]
                merchant = self._merchants[tx[MERCHANT_ID]]
                customer.append(_customer_row(tx))
                merchant.append(_merchant_row(tx))
                # The customer window is the longer one: an id pruned there is forgotten.
                self._prune(customer, tx[EVENT_TIMESTAMP] - self._customer_window, 3, forget=True)
                self._prune(merchant, tx[EVENT_TIMESTAMP] - self._merchant_window, 2, forget=False)
                added += 1
        return added

    def record_frame(self, frame: pl.DataFrame) -> int:
        """`record` for a frame of transactions (e.g. validated partitions), in time order."""
        columns = sorted({*CUSTOMER_INPUT_COLUMNS, MERCHANT_ID})
        return self.record(frame.select(columns).sort(EVENT_TIMESTAMP, TRANSACTION_ID).iter_rows(named=True))

    def _prune(self, events: list[tuple[Any, ...]], cutoff: datetime, ts_index: int, forget: bool) -> None:
        # Events arrive roughly in time order: drop from the head while it is out of every window.
        # (A day of margin keeps late, out-of-order requests of the same day exact.)
        keep_from = 0
        limit = cutoff - timedelta(days=1)
        while keep_from < len(events) and events[keep_from][ts_index] < limit:
            if forget:
                self._seen.discard(events[keep_from][0])
            keep_from += 1
        if keep_from:
            del events[:keep_from]

    def frames(self, transactions: Sequence[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The customer and merchant event frames for `transactions`: their entities' events plus them.

        The compute functions take these frames as the offline tables take the validated partitions.
        A transaction already held (a retry) is not added twice.
        """
        with self._lock:
            customers = {tx[CUSTOMER_ID] for tx in transactions}
            merchants = {tx[MERCHANT_ID] for tx in transactions}
            customer_rows = [row for c in customers for row in self._customers.get(c, ())]
            merchant_rows = [row for m in merchants for row in self._merchants.get(m, ())]
            # A retry (an id already held, or twice in one batch) adds its event once.
            fresh = {
                tx[TRANSACTION_ID]: tx
                for tx in reversed(transactions)
                if tx[TRANSACTION_ID] not in self._seen
            }
            new = [tx for tx in transactions if fresh.get(tx[TRANSACTION_ID]) is tx]
        customer_rows += [_customer_row(tx) for tx in new]
        merchant_rows += [_merchant_row(tx) for tx in new]
        return (
            pl.DataFrame(customer_rows, schema=CUSTOMER_SCHEMA, orient="row"),
            pl.DataFrame(merchant_rows, schema=MERCHANT_SCHEMA, orient="row"),
        )
