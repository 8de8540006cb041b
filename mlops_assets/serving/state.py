"""The entities' recent events: what the service needs to compute a request's features exactly.

Design choice (issue 14 offered two): the service keeps each customer's and merchant's recent
transactions in memory instead of pushing rolled-up rows through a Feast `PushSource`. Feast's online
row of an entity is its last transaction's feature vector; a new payment's windows need the individual
events (which ones leave a 1-hour or 30-day window, which merchants were distinct), so a pushed row
could only be rolled forward approximately. With the events, `serving.features` computes the request's
row exactly as batch computes it.

Where the events come from: the validated transactions of the lookback before the serving day (the
same partitions the offline feature tables read), then every transaction the service scores, then, on a
restart within the day, the day's prediction log (`service.load_state`). Windows: 30
days for customers (the longest customer window), 7 days for merchant volume; older events are pruned.
Each entity's events are kept sorted (by time, then transaction id: batch's order), so a request finds
its windows by bisection instead of scanning, and a late, out-of-order request is simply inserted.
One process holds the state of the traffic it serves: scale out by routing on customer id, or move
the events into the online store, when one process is not enough.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import polars as pl

from mlops_assets.defs.features.compute import CUSTOMER_LOOKBACK_DAYS
from mlops_assets.domain import AMOUNT_EUR, COUNTRY, CUSTOMER_ID, EVENT_TIMESTAMP, MERCHANT_ID, TRANSACTION_ID

# Merchant volume windows are 24 h and 7 days; the label features come from Feast (see features.py).
MERCHANT_VOLUME_DAYS: Final[int] = 7
DAY_US: Final[int] = 86_400_000_000
# A day of margin before pruning keeps late, out-of-order requests of the same day exact.
_PRUNE_MARGIN_US: Final[int] = DAY_US
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def micros(timestamp: datetime) -> int:
    """Microseconds since the epoch of an aware timestamp (exact: the contract's unit is microseconds)."""
    return (timestamp - _EPOCH) // _MICROSECOND


class CustomerEvent(NamedTuple):
    """One payment as the customer features see it; tuples order by time, then transaction id."""

    time_us: int
    transaction_id: str
    merchant_id: str
    country: str
    amount_eur: float


def event_of(transaction: dict[str, Any]) -> CustomerEvent:
    """The event of a transaction dict with the contract's columns."""
    return CustomerEvent(
        micros(transaction[EVENT_TIMESTAMP]),
        transaction[TRANSACTION_ID],
        transaction[MERCHANT_ID],
        transaction[COUNTRY],
        transaction[AMOUNT_EUR],
    )


class CustomerEvents:
    """One customer's events as columns, sorted by time, then transaction id (batch's order).

    Columns, not a list of events: a request's features read slices of them (times to bisect, amounts
    as a float buffer numpy reads without a copy), with no per-request transposition.
    """

    __slots__ = ("amounts_eur", "countries", "merchant_ids", "times_us", "transaction_ids")

    def __init__(self) -> None:
        self.times_us = array("q")
        self.transaction_ids: list[str] = []
        self.merchant_ids: list[str] = []
        self.countries: list[str] = []
        self.amounts_eur = array("d")

    @classmethod
    def of(cls, events: Iterable[CustomerEvent]) -> CustomerEvents:
        """The columns of `events` (in any order)."""
        columns = cls()
        for event in events:
            columns.insert(event)
        return columns

    def __len__(self) -> int:
        return len(self.times_us)

    def copy(self) -> CustomerEvents:
        """An independent copy (the caller may read it while the state changes)."""
        other = CustomerEvents()
        other.times_us, other.transaction_ids = self.times_us[:], self.transaction_ids[:]
        other.merchant_ids, other.countries = self.merchant_ids[:], self.countries[:]
        other.amounts_eur = self.amounts_eur[:]
        return other

    def position(self, time_us: int, transaction_id: str) -> int:
        """Where the event `(time_us, transaction_id)` is, or would be inserted, in the sort order."""
        i = bisect_left(self.times_us, time_us)
        while (
            i < len(self.times_us)
            and self.times_us[i] == time_us
            and self.transaction_ids[i] < transaction_id
        ):
            i += 1
        return i

    def insert(self, event: CustomerEvent) -> None:
        """Add `event` at its place in the sort order."""
        i = self.position(event.time_us, event.transaction_id)
        self.times_us.insert(i, event.time_us)
        self.transaction_ids.insert(i, event.transaction_id)
        self.merchant_ids.insert(i, event.merchant_id)
        self.countries.insert(i, event.country)
        self.amounts_eur.insert(i, event.amount_eur)

    def prune(self, before_us: int) -> list[str]:
        """Drop the events before `before_us`; their transaction ids."""
        cut = bisect_left(self.times_us, before_us)
        dropped = self.transaction_ids[:cut]
        for column in (
            self.times_us,
            self.transaction_ids,
            self.merchant_ids,
            self.countries,
            self.amounts_eur,
        ):
            del column[:cut]
        return dropped


@dataclass(frozen=True)
class RequestEvents:
    """A transaction's event with its customer's and its merchant's events (sorted, the event included)."""

    customer_id: str
    merchant_id: str
    event: CustomerEvent
    customer_events: CustomerEvents
    merchant_times_us: Sequence[int]


class EntityState:
    """Recent transactions per customer (events) and per merchant (times), each sorted; thread-safe."""

    def __init__(
        self,
        customer_days: int = CUSTOMER_LOOKBACK_DAYS,
        merchant_days: int = MERCHANT_VOLUME_DAYS,
    ) -> None:
        self._customer_window_us = customer_days * DAY_US
        self._merchant_window_us = merchant_days * DAY_US
        self._customers: dict[str, CustomerEvents] = {}
        self._merchants: dict[str, list[int]] = {}
        # Every held transaction id: its customer, its merchant and its event (a retry is scored as it).
        self._held: dict[str, tuple[str, str, CustomerEvent]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def knows_customer(self, customer_id: str) -> bool:
        """Whether the customer has an event in the window (else the request is its cold start)."""
        return bool(self._customers.get(customer_id))

    def record(self, transactions: Iterable[dict[str, Any]]) -> int:
        """Add transactions (dicts with the contract's columns); a transaction id already held is skipped.

        Returns how many were added. Events older than the window (plus a day) before the added one are
        pruned from the entities it touched.
        """
        added = 0
        with self._lock:
            for tx in transactions:
                if tx[TRANSACTION_ID] in self._held:
                    continue
                event = event_of(tx)
                self._held[event.transaction_id] = (tx[CUSTOMER_ID], tx[MERCHANT_ID], event)
                customer = self._customers.setdefault(tx[CUSTOMER_ID], CustomerEvents())
                merchant = self._merchants.setdefault(tx[MERCHANT_ID], [])
                customer.insert(event)
                insort(merchant, event.time_us)
                # The customer window is the longer one: an id pruned there is forgotten.
                for old in customer.prune(event.time_us - self._customer_window_us - _PRUNE_MARGIN_US):
                    del self._held[old]
                del merchant[
                    : bisect_left(merchant, event.time_us - self._merchant_window_us - _PRUNE_MARGIN_US)
                ]
                added += 1
        return added

    def record_frame(self, frame: pl.DataFrame) -> int:
        """`record` for a frame of transactions (e.g. validated partitions), in time order."""
        columns = [TRANSACTION_ID, CUSTOMER_ID, MERCHANT_ID, EVENT_TIMESTAMP, COUNTRY, AMOUNT_EUR]
        return self.record(frame.select(columns).sort(EVENT_TIMESTAMP, TRANSACTION_ID).iter_rows(named=True))

    def request_events(self, transactions: Sequence[dict[str, Any]]) -> list[RequestEvents]:
        """Each transaction's event with its entities' held events plus the request's new ones.

        Every transaction of the request sees the others, as batch sees a day's transactions (only
        those at or before its time count, by the windows). A transaction id already held (a retry), or
        twice in one request, adds its event once and is scored as the event first seen. The state is
        not changed: `record` the transactions once they are scored.
        """
        with self._lock:
            resolved: list[tuple[str, str, CustomerEvent]] = []
            new_customers: dict[str, list[CustomerEvent]] = {}
            new_merchants: dict[str, list[int]] = {}
            first: dict[str, tuple[str, str, CustomerEvent]] = {}
            for tx in transactions:
                entry = self._held.get(tx[TRANSACTION_ID]) or first.get(tx[TRANSACTION_ID])
                if entry is None:
                    entry = first[tx[TRANSACTION_ID]] = (tx[CUSTOMER_ID], tx[MERCHANT_ID], event_of(tx))
                    new_customers.setdefault(entry[0], []).append(entry[2])
                    new_merchants.setdefault(entry[1], []).append(entry[2].time_us)
                resolved.append(entry)
            customers = {c: self._customer_events(c, new_customers.get(c, ())) for c, _, _ in resolved}
            merchants = {
                m: _merged(self._merchants.get(m, []), new_merchants.get(m, ())) for _, m, _ in resolved
            }
        return [RequestEvents(c, m, event, customers[c], merchants[m]) for c, m, event in resolved]

    def _customer_events(self, customer_id: str, new: Iterable[CustomerEvent]) -> CustomerEvents:
        held = self._customers.get(customer_id)
        events = CustomerEvents() if held is None else held.copy()
        for event in new:
            events.insert(event)
        return events


def _merged(held: list[int], new: Iterable[int]) -> list[int]:
    """A sorted copy of `held` with `new` inserted in order (the caller may keep it past the lock)."""
    merged = list(held)
    for item in new:
        insort(merged, item)
    return merged
