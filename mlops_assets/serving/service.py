"""`ScoringService`: state, online store, models and prediction log wired together, HTTP-free.

The request path (`score`) does: the entities' events from the state, online-store read (deadline),
the request-time features (`serving.features`: the offline definitions, per request), champion score,
record the transactions in the state, hand the records to the shadow worker. The challenger is scored
in the shadow worker's own process (`serving.shadow`), after the response is built, and both scores then
go to the prediction log; a challenger that fails or a full shadow queue is counted, never raised.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from mlops_assets.defs.features.compute import CUSTOMER_LOOKBACK_DAYS
from mlops_assets.defs.serving.contract import LABEL_COUNT, read_log_day
from mlops_assets.domain import CUSTOMER_ID, TRANSACTION_ID
from mlops_assets.feast_resource import FeastResource
from mlops_assets.lakehouse import days_between, scan_days
from mlops_assets.mlflow_resource import MlflowResource, redact_uri
from mlops_assets.serving.config import ServeConfig
from mlops_assets.serving.dependencies import Dependency, DependencyUnavailableError
from mlops_assets.serving.features import feature_matrix, request_features
from mlops_assets.serving.log import PredictionLog
from mlops_assets.serving.metrics import ServiceMetrics
from mlops_assets.serving.models import ModelHolder, ServedModels
from mlops_assets.serving.online import OnlineStore
from mlops_assets.serving.request import Transaction, require_day
from mlops_assets.serving.shadow import Challenger, ShadowEvent, ShadowWorker, WorkerConfig
from mlops_assets.serving.state import EntityState
from mlops_assets.tables import VALIDATED_TABLE

log = logging.getLogger(__name__)

FEAST_SERVICE = "feast online store"
REGISTRY_SERVICE = "mlflow registry"
WARM_UP_S = 120.0  # how long start waits for the shadow worker (its imports and the challenger's load)
WARMUP_ENTITY = "__mlops_serve_probe__"  # an id no merchant has: the read answers "unknown"


class NotReadyError(DependencyUnavailableError):
    """The service cannot score yet (no champion loaded, online store never materialized)."""


@dataclass
class ServingDay:
    """The day the state is current for, and the state itself (swapped together when the day moves)."""

    day: date
    state: EntityState
    history_rows: int


def load_state(lakehouse_dir: str, log_root: Path, day: date) -> ServingDay:
    """The entity state for `day`: validated transactions of the lookback, then the day's served ones."""
    state = EntityState()
    history = scan_days(
        Path(lakehouse_dir), VALIDATED_TABLE, days_between(day - timedelta(days=CUSTOMER_LOOKBACK_DAYS), day)
    )
    rows = 0 if history is None else state.record_frame(history.collect())
    # A restart within the day: what was already served today is state too (the log has it).
    state.record_frame(read_log_day(log_root, day))
    return ServingDay(day, state, rows)


class ScoringService:
    """The scoring service without HTTP: the app calls `score`, `readiness`, `start`, `close`."""

    def __init__(
        self,
        config: ServeConfig,
        feast: FeastResource,
        mlflow: MlflowResource,
        log_root: Path,
    ) -> None:
        self.config = config
        self.metrics = ServiceMetrics()
        self.online = OnlineStore(feast)
        self.feast_dep = Dependency(FEAST_SERVICE, config.feast_timeout_s)
        # Off the request path (registry refresh, the first read that loads Feast): the longer deadline.
        self.feast_background = Dependency(FEAST_SERVICE, config.registry_timeout_s, workers=1)
        self.registry_dep = Dependency(REGISTRY_SERVICE, config.registry_timeout_s, workers=2)
        self.models = ModelHolder(
            mlflow, self.registry_dep, config.model_name, on_change=self._models_changed
        )
        self.shadow = ShadowWorker(
            WorkerConfig(log_root, config.log_flush_interval_s, mlflow.tracking_uri),
            self._shadow_failed,
            config.shadow_queue_size,
        )
        # Written by the service itself only when the worker's queue is full: the records still reach the log.
        self.overflow_log = PredictionLog(log_root, flush_interval_s=config.log_flush_interval_s)
        self.log_root = log_root
        self.lakehouse_dir = feast.lakehouse_dir
        self.tracking_uri = redact_uri(mlflow.tracking_uri)
        self.serving: ServingDay | None = None
        self.state_error: str | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the shadow worker, load the state and the models once, then start the reload thread.

        A dependency that is down at start does not stop the service: it starts not ready and the
        reload thread keeps trying every `reload_interval_s`.
        """
        self.shadow.start()  # first: its imports run while the state loads
        self.refresh()
        # Once more before traffic: the first polls run cold code paths (registry and Feast clients'
        # caches; measured 170, 20, then 9 ms), and a poll holds the GIL the requests need.
        self.refresh()
        current = self.models.current
        if not self.shadow.warm_up(None if current is None else self._shadow_challenger(current), WARM_UP_S):
            log.warning("shadow worker not warmed up within %.0f s: serving anyway", WARM_UP_S)
        self.overflow_log.start()
        thread = threading.Thread(target=self._reload_loop, name="model-reload", daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        """Stop the reload thread, let the shadow worker score and log what is queued, flush the log.

        Idempotent: the app's shutdown closes the service, and `mlops-serve` closes it again on its way out.
        """
        if self._stop.is_set():
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.shadow.close()
        self.overflow_log.close()
        self.feast_dep.close()
        self.feast_background.close()
        self.registry_dep.close()

    def refresh(self) -> None:
        """Follow the aliases; move the serving day when the online store was materialized further."""
        self.models.refresh()
        try:
            until = self.feast_background.call(self.online.materialized_until)
            if until is None:
                raise NotReadyError(FEAST_SERVICE, "never materialized: materialize online_features first")
            day = until.astimezone(UTC).date()
            if self.serving is None or self.serving.day != day:
                self._warm_up()
                self.serving = load_state(self.lakehouse_dir, self.log_root, day)
                log.info("serving day %s: %d events of history", day, self.serving.history_rows)
            self.state_error = None
        except DependencyUnavailableError as exc:
            self.metrics.dependency_errors.labels(exc.service).inc()
            self.state_error = exc.detail

    def _warm_up(self) -> None:
        # The first online read loads Feast's registry and connections: not on a request's clock. Best
        # effort: a store that is down now is the requests' (and readiness') 503, not a reason to stop.
        try:
            self.feast_background.call(lambda: self.online.merchant_state([WARMUP_ENTITY]))
        except DependencyUnavailableError as exc:
            self.metrics.dependency_errors.labels(exc.service).inc()
            log.warning("online store warm-up failed: %s", exc)

    def _reload_loop(self) -> None:
        while not self._stop.wait(self.config.reload_interval_s):
            if self.shadow.restart_if_dead():
                self.metrics.shadow_worker_restarts.inc()
            self.refresh()

    def _shadow_challenger(self, models: ServedModels) -> Challenger | None:
        """What the shadow worker scores with: the challenger, unless there is none or shadow is off."""
        return models.challenger if self.config.shadow else None

    def _shadow_failed(self, event: ShadowEvent) -> None:
        self.metrics.shadow_errors.labels(event.reason).inc(event.transactions)

    def _models_changed(self, models: ServedModels) -> None:
        with warnings.catch_warnings():
            # It warns whenever PROMETHEUS_MULTIPROCESS_DIR is set (feast sets it); our values are in memory.
            warnings.filterwarnings("ignore", message="Clearing labels has not been implemented")
            self.metrics.model_info.clear()
        self.metrics.reloads.inc()
        champion, challenger = models.champion.model, models.challenger
        roles = {"champion": (champion.name, champion.version)}
        if challenger is not None:
            roles["challenger"] = (challenger.name, challenger.version)
        for role, (name, version) in roles.items():
            self.metrics.model_info.labels(role, name, version).set(1)
        log.info("serving %s", {role: version for role, (_, version) in roles.items()})

    # --- readiness ---------------------------------------------------------------------------------

    async def readiness(self) -> dict[str, str]:
        """Problems by service; empty when ready (a champion loaded and the online store answering).

        Awaited, like scoring's read: a store that hangs holds the probe, not the event loop.
        """
        problems: dict[str, str] = {}
        if self.models.current is None:
            problems[REGISTRY_SERVICE] = (
                self.models.last_error or f"no champion loaded from {self.tracking_uri}"
            )
        if self.serving is None:
            problems[FEAST_SERVICE] = self.state_error or "no serving day yet"
        else:
            try:
                await self.feast_dep.acall(lambda: self.online.merchant_state([WARMUP_ENTITY]))
            except DependencyUnavailableError as exc:
                problems[exc.service] = exc.detail
        return problems

    # --- scoring -----------------------------------------------------------------------------------

    def check(self, transactions: Sequence[Transaction]) -> None:
        """Refuse before queueing: `NotReadyError` (a 503) or `WrongDayError` (a 422) for the request."""
        if self.models.current is None:
            raise NotReadyError(REGISTRY_SERVICE, self.models.last_error or "no champion loaded yet")
        serving = self.serving
        if serving is None:
            raise NotReadyError(FEAST_SERVICE, self.state_error or "no serving day yet")
        for i, tx in enumerate(transactions):
            require_day(tx, serving.day, None if len(transactions) == 1 else i)

    async def score(
        self, transactions: Sequence[Transaction], request_ids: Sequence[str], received: Sequence[float]
    ) -> list[dict[str, Any]]:
        """Score transactions in order (each sees the ones before it); one response dict each.

        `request_ids` and `received` (perf_counter at arrival, for the logged latency) go with each
        transaction. Raises `DependencyUnavailableError` (a 503 naming the service) when a model or the
        online store is missing; a transaction off the serving day is scored only if `check` let it in.
        Runs on the event loop: only the online-store read leaves it (awaited, on its worker thread with
        its deadline); the rest is a fraction of a millisecond of Python and one LightGBM call.
        """
        models, serving = self.models.current, self.serving
        if models is None:
            raise NotReadyError(REGISTRY_SERVICE, self.models.last_error or "no champion loaded yet")
        if serving is None:
            raise NotReadyError(FEAST_SERVICE, self.state_error or "no serving day yet")
        rows = [tx.row() for tx in transactions]
        requests = serving.state.request_events(rows)
        try:
            merchant_state = await self.feast_dep.acall(
                lambda: self.online.merchant_state([r.merchant_id for r in requests])
            )
        except DependencyUnavailableError as exc:
            self.metrics.dependency_errors.labels(exc.service).inc()
            raise
        cold = [
            [
                entity
                for entity, known in (
                    ("customer", serving.state.knows_customer(r[CUSTOMER_ID])),
                    ("merchant", merchant_state.get(e.merchant_id, {}).get(LABEL_COUNT) is not None),
                )
                if not known
            ]
            for r, e in zip(rows, requests, strict=True)
        ]
        features = request_features(requests, merchant_state)
        champion = models.champion
        scores = champion.model.predict(feature_matrix(features, champion.model.features)).astype(np.float64)
        serving.state.record(rows)
        done = time.perf_counter()
        served_at = datetime.now(UTC)
        responses, records = [], []
        for i, (row, score) in enumerate(zip(rows, scores, strict=True)):
            flagged = bool(score >= champion.threshold)
            for entity in cold[i]:
                self.metrics.cold_starts.labels(entity).inc()
            responses.append(
                {
                    "request_id": request_ids[i],
                    "transaction_id": row[TRANSACTION_ID],
                    "score": float(score),
                    "decision": "decline" if flagged else "approve",
                    "is_flagged": flagged,
                    "threshold": champion.threshold,
                    "model_name": champion.model.name,
                    "model_version": champion.model.version,
                    "cold_start": cold[i],
                }
            )
            records.append(
                {
                    "request_id": request_ids[i],
                    "served_at": served_at,
                    **row,
                    **features[i],
                    "cold_start": ",".join(cold[i]),
                    "champion_model": champion.model.name,
                    "champion_version": champion.model.version,
                    "champion_threshold": champion.threshold,
                    "champion_score": float(score),
                    "champion_flagged": flagged,
                    "latency_ms": (done - received[i]) * 1000,
                }
            )
        if not self.shadow.submit(records, self._shadow_challenger(models)):
            self.metrics.shadow_errors.labels("queue_full").inc(len(records))
            self.overflow_log.append({**r, "shadow_error": "shadow queue full"} for r in records)
        return responses
