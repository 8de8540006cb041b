"""The HTTP face of the scoring service (FastAPI): score, health, metrics, and every error as JSON.

Errors answer with a status and a body that says what to fix, never a stack trace: 422 for a body that
is not JSON, a missing or mistyped field, or a transaction off the serving day (`detail` lists each
field and the rule it broke); 503 naming the dependency (`service`) that is down or not ready.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mlops_assets.serving.batching import MicroBatcher
from mlops_assets.serving.dependencies import DependencyUnavailableError
from mlops_assets.serving.request import ScoreBatch, Transaction, WrongDayError
from mlops_assets.serving.service import ScoringService

REQUEST_ID_HEADER = "X-Request-ID"


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # FastAPI's errors carry the input and a docs URL; keep what a client needs: where, which rule, why.
    errors = []
    for error in exc.errors():
        path = [str(p) for p in error["loc"] if p != "body"]
        field = "body" if error["type"] == "json_invalid" or not path else ".".join(path)
        errors.append({"field": field, "rule": error["type"], "message": error["msg"]})
    return errors


def create_app(service: ScoringService, start_service: bool = True) -> FastAPI:
    """The FastAPI app around `service`: it starts the service (unless started already) and closes it.

    Closing belongs to the app's shutdown, whoever started the service: on SIGTERM (every rollout)
    uvicorn shuts the app down gracefully and then re-raises the signal, which ends the process before
    any code after `uvicorn.run`; the shutdown is the last place where the shadow worker can still write
    what it holds to the prediction log.
    """
    batcher = MicroBatcher(service.score, on_batch=service.metrics.batch_transactions.observe)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_service:
            service.start()
        try:
            yield
        finally:
            batcher.close()
            service.close()

    app = FastAPI(
        title="mlops-serve", summary="Online fraud scoring: champion, challenger in shadow", lifespan=lifespan
    )
    metrics = service.metrics

    def _answer(
        endpoint: str, status: int, body: Any, started: float, request_id: str | None = None
    ) -> JSONResponse:
        metrics.requests.labels(endpoint, str(status)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        headers = {REQUEST_ID_HEADER: request_id} if request_id else None
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _answer(request.url.path, 422, {"detail": _field_errors(exc)}, time.perf_counter())

    async def _score(
        endpoint: str, transactions: list[Transaction], request: Request, batch: bool
    ) -> JSONResponse:
        started = time.perf_counter()
        request_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        ids = [f"{request_id}-{i}" for i in range(len(transactions))] if batch else [request_id]
        try:
            service.check(transactions)
            results = await batcher.submit(transactions, ids)
        except WrongDayError as exc:
            field, _, message = str(exc).partition(": ")
            detail = [{"field": field, "rule": "serving_day", "message": message}]
            return _answer(endpoint, 422, {"detail": detail}, started)
        except DependencyUnavailableError as exc:
            return _answer(endpoint, 503, {"service": exc.service, "detail": str(exc)}, started)
        body: Any = {"request_id": request_id, "results": results} if batch else results[0]
        return _answer(endpoint, 200, body, started, request_id)

    @app.post("/score")
    async def score(transaction: Transaction, request: Request) -> JSONResponse:
        """Score one transaction: score, decision at the model's threshold, model name and version."""
        return await _score("/score", [transaction], request, batch=False)

    @app.post("/score/batch")
    async def score_batch(batch: ScoreBatch, request: Request) -> JSONResponse:
        """Score several transactions in order (each sees the ones before it)."""
        return await _score("/score/batch", batch.transactions, request, batch=True)

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        """The process answers (the liveness probe: restart only when this fails)."""
        return {"status": "live"}

    @app.get("/health/ready")
    async def ready() -> JSONResponse:
        """A champion is loaded and the online store answers (the readiness probe)."""
        started = time.perf_counter()
        problems = await service.readiness()
        if problems:
            return _answer("/health/ready", 503, {"status": "not ready", "services": problems}, started)
        current = service.models.current
        assert current is not None and service.serving is not None
        body = {
            "status": "ready",
            "serving_day": service.serving.day.isoformat(),
            "champion": f"{current.champion.model.name} v{current.champion.model.version}",
            "challenger": None
            if current.challenger is None
            else f"{current.challenger.name} v{current.challenger.version}",
        }
        return _answer("/health/ready", 200, body, started)

    @app.get("/metrics")
    async def prometheus() -> Response:
        """Prometheus text format: requests, latency histogram, model versions, shadow errors."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
