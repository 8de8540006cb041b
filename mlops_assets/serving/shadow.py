"""The challenger's scoring and the prediction log's writes, in a process of their own.

Why a process and not a thread: every line of Python run beside the request path holds the GIL, and the
event loop then waits up to a switch interval (5 ms) each time it wants the GIL back. Building the
challenger's matrix, and turning a second of records into a Parquet batch, is such Python. Measured at
200 req/s on the 2-core machine, with the load generator on it: a p99 of 4-10 ms with that work switched
off, 11-18 ms with it on threads of the service (`benchmarks/bench_serving.py`). In its own process the
work competes for a core, never for the service's GIL.

The request path only hands each scored batch's records to a `multiprocessing` queue: its feeder thread
pickles them, the worker unpickles them. The worker loads the challenger version it is told (by name and
version, from the same registry, with its own MLflow client), scores the records with it, and appends
them to the prediction log (`serving.log`), which writes micro-batches atomically. What failed is sent
back as counts (`ShadowEvent`) for the service's metrics. A challenger that fails is counted and logged;
it never reaches the service.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from mlops_assets.defs.serving.contract import CHALLENGER_FLAG, CHALLENGER_SCORE

log = logging.getLogger(__name__)

SHADOW_BATCH_S = 0.05  # the worker wakes at most this often (its records reach the log this late)
# Nothing in the worker is waited on: on a busy node the scheduler gives the request path the core first.
WORKER_NICENESS = 10
PARENT_CHECK_S = 1.0  # an idle worker checks this often that the service still runs
CLOSE_TIMEOUT_S = 120.0
# The worker's answer to an empty batch: its imports are done and the batch's challenger is loaded.
WARMED = "warmed"  # the worker's start (imports) plus scoring and writing what is queued
# `spawn`: a forked child would inherit polars' and OpenMP's thread pools without their threads.
_CONTEXT = multiprocessing.get_context("spawn")


class Challenger(NamedTuple):
    """Which registered version scores in shadow, and its decision threshold (read by the service)."""

    name: str
    version: str
    threshold: float


class ShadowEvent(NamedTuple):
    """Transactions whose shadow scoring failed, by reason (the worker's report to the service)."""

    reason: str
    transactions: int


@dataclass(frozen=True)
class WorkerConfig:
    """What the worker process needs: the log folder, how often it writes, and the registry to load from."""

    log_root: Path
    flush_interval_s: float
    tracking_uri: str


class ShadowWorker:
    """The service's handle on the worker process: submit batches, receive failure counts, close."""

    def __init__(
        self,
        config: WorkerConfig,
        on_event: Callable[[ShadowEvent], None],
        queue_size: int,
    ) -> None:
        self.config = config
        self._on_event = on_event
        self._queue_size = queue_size
        self._inbox: Any = None
        self._events: Any = None
        self._process: Any = None
        self._collector: threading.Thread | None = None
        self._warmed = threading.Event()

    def start(self) -> None:
        """Start the worker process (it imports and loads in the background) and the event collector."""
        self._inbox = _CONTEXT.Queue(maxsize=self._queue_size)
        self._events = _CONTEXT.Queue()
        self._process = _CONTEXT.Process(
            target=run_worker,
            args=(self.config, self._inbox, self._events),
            name="mlops-serve-shadow",
            daemon=True,
        )
        self._process.start()
        self._collector = threading.Thread(
            target=self._collect, args=(self._events,), name="shadow-events", daemon=True
        )
        self._collector.start()

    @property
    def pid(self) -> int | None:
        """The worker process's id (None before `start`)."""
        return None if self._process is None else int(self._process.pid)

    @property
    def warmed(self) -> bool:
        """Whether the worker answered the last `warm_up`."""
        return self._warmed.is_set()

    @property
    def alive(self) -> bool:
        """Whether the worker process runs."""
        return self._process is not None and self._process.is_alive()

    def restart_if_dead(self) -> bool:
        """Start a new worker when the old one died; True when it did.

        The batches still in the old queue go to the new worker; what the dead one held in memory (at
        most one flush interval of records) is lost, and the restart is counted by the service.
        """
        if self._process is None or self.alive:
            return False
        log.error("shadow worker exited with code %s: starting a new one", self._process.exitcode)
        old_inbox = self._inbox
        waiting = []
        with contextlib.suppress(queue.Empty):
            while True:
                waiting.append(old_inbox.get_nowait())
        old_inbox.cancel_join_thread()  # what its feeder still holds is not worth hanging the exit on
        self._events.put(None)
        self.start()
        for item in waiting:
            if item is not None:
                self._inbox.put(item)
        return True

    def warm_up(self, challenger: Challenger | None, timeout_s: float) -> bool:
        """Wait until the worker has imported what it needs and loaded `challenger`; False after `timeout_s`.

        Called before traffic: a worker that is still importing, or loading the challenger, when the
        first requests arrive competes with them for the CPU (seconds of it, at start).
        """
        self._warmed.clear()
        return self.submit([], challenger) and self._warmed.wait(timeout_s)

    def submit(self, records: list[dict[str, Any]], challenger: Challenger | None) -> bool:
        """Queue scored records for the shadow and the log; False (nothing queued) when the queue is full."""
        try:
            self._inbox.put_nowait((records, challenger))
        except queue.Full:
            return False
        return True

    def close(self) -> None:
        """Let the worker score and write what is queued, then stop it and the collector."""
        if self._process is None:
            return
        self._inbox.put(None)
        self._process.join(CLOSE_TIMEOUT_S)
        if self._process.is_alive():
            log.error("shadow worker did not finish within %.0f s: terminated", CLOSE_TIMEOUT_S)
            self._process.terminate()
            self._process.join()
        self._events.put(None)
        if self._collector is not None:
            self._collector.join(timeout=10)
        self._process = None

    def _collect(self, events: Any) -> None:
        while (event := events.get()) is not None:
            if event.reason == WARMED:
                self._warmed.set()
            else:
                self._on_event(event)


# --- the worker process ------------------------------------------------------------------------------------


def run_worker(config: WorkerConfig, inbox: Any, events: Any) -> None:
    """The worker's main loop: batches from the inbox scored and logged until the `None` that ends it."""
    from mlops_assets.serving.log import PredictionLog

    os.nice(WORKER_NICENESS)

    prediction_log = PredictionLog(config.log_root, flush_interval_s=config.flush_interval_s)
    prediction_log.start()
    scorer = ChallengerScorer(config.tracking_uri)
    service = multiprocessing.parent_process()
    try:
        while True:
            try:
                items = [inbox.get(timeout=PARENT_CHECK_S)]
            except queue.Empty:
                # A service killed without closing (SIGKILL, OOM) sends no `None`: write what is held, end.
                if service is not None and not service.is_alive():
                    return
                continue
            time.sleep(SHADOW_BATCH_S)  # gather what arrives meanwhile into the same scoring call
            with contextlib.suppress(queue.Empty):
                while items[-1] is not None:
                    items.append(inbox.get_nowait())
            for event in score_batches([i for i in items if i is not None], scorer, prediction_log.append):
                events.put(event)
            if items[-1] is None:
                return
    finally:
        prediction_log.close()


class ChallengerScorer:
    """Loads challenger versions on first use (the last one kept) and scores records with them."""

    def __init__(self, tracking_uri: str) -> None:
        self._tracking_uri = tracking_uri
        self._loaded: dict[Challenger, Any] = {}

    def model(self, challenger: Challenger) -> Any:
        """The loaded version (`registry.LoadedModel`), loaded from the registry the first time."""
        if challenger not in self._loaded:
            from mlops_assets.defs.training.registry import load_version
            from mlops_assets.mlflow_resource import MlflowResource

            client = MlflowResource(tracking_uri=self._tracking_uri).client()
            self._loaded = {
                challenger: load_version(client, challenger.name, challenger.version, num_threads=1)
            }
        return self._loaded[challenger]


def score_batches(
    items: Sequence[tuple[list[dict[str, Any]], Challenger | None]],
    scorer: ChallengerScorer,
    append: Callable[[list[dict[str, Any]]], None],
) -> list[ShadowEvent]:
    """Score each challenger's records in one call, append every record to the log; the failures.

    An empty batch (`ShadowWorker.warm_up`) loads its challenger and is answered with `WARMED`.
    """
    by_challenger: dict[Challenger | None, list[dict[str, Any]]] = {}
    for records, challenger in items:
        by_challenger.setdefault(challenger, []).extend(records)
    events = []
    for challenger, records in by_challenger.items():
        if challenger is not None and (error := _score(scorer, challenger, records)) is not None:
            events.append(ShadowEvent("challenger_error", len(records)))
            log.warning("challenger %s v%s failed: %s", challenger.name, challenger.version, error)
        if records:
            append(records)
    if any(not records for records, _ in items):
        events.append(ShadowEvent(WARMED, 0))
    return events


def _score(scorer: ChallengerScorer, challenger: Challenger, records: list[dict[str, Any]]) -> str | None:
    """Put the challenger's score and decision on each record; the error text when it failed."""
    from mlops_assets.serving.features import feature_matrix

    identity = {
        "challenger_model": challenger.name,
        "challenger_version": challenger.version,
        "challenger_threshold": challenger.threshold,
    }
    try:
        model = scorer.model(challenger)
        if not records:
            return None
        scores = model.predict(feature_matrix(records, model.features))
    except Exception as exc:  # the challenger must never fail serving: counted and logged
        error = f"{type(exc).__name__}: {exc}"[:500]
        for record in records:
            record.update(identity, shadow_error=error)
        return error
    for record, score in zip(records, scores, strict=True):
        record.update(
            identity, **{CHALLENGER_SCORE: float(score), CHALLENGER_FLAG: bool(score >= challenger.threshold)}
        )
    return None
