"""Dynamic micro-batching: requests that arrive while a batch is being scored are scored together next.

Scoring one transaction costs mostly fixed overhead (one online-store read, one model call), so scoring
the requests that queued up meanwhile in one call keeps the service ahead of its load instead of
falling behind it. Nothing waits on purpose: an idle service scores a lone request at once (a batch of
one). One task scores the batches in arrival order, so the entity state sees the transactions in the
order they came. It scores on the event loop itself: the Python of a batch is short, and a thread per
batch would only trade the GIL back and forth (each handover can wait a whole switch interval, 5 ms,
on 2 busy cores); while the batch awaits the online store, the loop keeps accepting and parsing
requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_assets.serving.request import Transaction

ScoreFn = Callable[[Sequence[Transaction], Sequence[str], Sequence[float]], Awaitable[list[dict[str, Any]]]]


@dataclass
class _Unit:
    """One HTTP request's transactions, scored together and answered together."""

    transactions: Sequence[Transaction]
    request_ids: Sequence[str]
    future: asyncio.Future[list[dict[str, Any]]]
    received: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Queue of requests in front of `score`; at most `max_transactions` per scoring call."""

    def __init__(
        self, score: ScoreFn, max_transactions: int = 256, on_batch: Callable[[int], None] | None = None
    ) -> None:
        self._score = score
        self._on_batch = on_batch
        self.max_transactions = max_transactions
        self._queue: asyncio.Queue[_Unit] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(
        self, transactions: Sequence[Transaction], request_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Score `transactions` (one request) with whatever else is queued; their responses, in order."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        unit = _Unit(transactions, request_ids, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(unit)
        return await unit.future

    async def _run(self) -> None:
        while True:
            units = [await self._queue.get()]
            size = len(units[0].transactions)
            while not self._queue.empty() and size < self.max_transactions:
                unit = self._queue.get_nowait()
                units.append(unit)
                size += len(unit.transactions)
            transactions = [tx for u in units for tx in u.transactions]
            ids = [rid for u in units for rid in u.request_ids]
            received = [u.received for u in units for _ in u.transactions]
            try:
                results = await self._score(transactions, ids, received)
            except Exception as exc:  # every request of the batch gets the same answer (e.g. a 503)
                for unit in units:
                    if not unit.future.done():
                        unit.future.set_exception(exc)
                continue
            if self._on_batch is not None:
                self._on_batch(len(transactions))
            start = 0
            for unit in units:
                if not unit.future.done():
                    unit.future.set_result(results[start : start + len(unit.transactions)])
                start += len(unit.transactions)

    def close(self) -> None:
        """Stop taking batches (the app is shutting down)."""
        if self._task is not None:
            self._task.cancel()
