"""Calls to the service's dependencies (Feast online store, MLflow registry) with a deadline each.

Neither Feast's online read nor MLflow's client takes a per-call timeout for every backend (SQLite has
none; MLflow's SQLAlchemy store retries a dead database for about 100 s), so each call runs on a worker
thread and the caller stops waiting at the deadline: a thread (`call`) or the event loop (`acall`,
which keeps serving other requests meanwhile). A dependency that fails or times out raises
`DependencyUnavailableError` naming the service, which the app turns into a 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from mlops_assets.mlflow_resource import redact_uri

T = TypeVar("T")


class DependencyUnavailableError(RuntimeError):
    """A dependency failed or did not answer in time; `service` names it (e.g. `feast online store`)."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service
        self.detail = detail


class Dependency:
    """One named dependency with its deadline and its own worker threads (a hung call blocks only it)."""

    def __init__(self, service: str, timeout_s: float, workers: int = 4) -> None:
        self.service = service
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=service.replace(" ", "-"))

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` on a worker thread; `DependencyUnavailableError` on an exception or past the deadline."""
        future = self._pool.submit(fn)
        with self._answered(future):
            return future.result(timeout=self.timeout_s)

    async def acall(self, fn: Callable[[], T]) -> T:
        """`call` awaited: the event loop runs other tasks while `fn()` runs on a worker thread."""
        future = self._pool.submit(fn)
        with self._answered(future):
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)

    @contextmanager
    def _answered(self, future: Future[T]) -> Iterator[None]:
        """Past the deadline or failed: `DependencyUnavailableError` naming the service, the rest redacted."""
        try:
            yield
        except TimeoutError:
            future.cancel()
            raise self._late() from None
        except DependencyUnavailableError:
            raise
        except Exception as exc:
            raise self._failed(exc) from exc

    def _late(self) -> DependencyUnavailableError:
        return DependencyUnavailableError(self.service, f"no answer within {self.timeout_s:g} s")

    def _failed(self, exc: Exception) -> DependencyUnavailableError:
        # Redacted: a driver's message may carry the connection URI, password included.
        first_line = redact_uri(str(exc).splitlines()[0]) if str(exc) else "no detail"
        return DependencyUnavailableError(self.service, f"{type(exc).__name__}: {first_line}")

    def close(self) -> None:
        """Stop the worker threads without waiting for a hung call."""
        self._pool.shutdown(wait=False, cancel_futures=True)
