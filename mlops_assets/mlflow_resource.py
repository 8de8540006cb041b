"""The MLflow handle the training, promotion and scoring assets share (resource key `mlflow`).

Why a small `ConfigurableResource` instead of dagster-mlflow's `mlflow_tracking`: that resource does not
serve this platform, for five reasons.

1. It opens exactly one MLflow run per Dagster run (found again by a `dagster_run_id` tag), but one
   `fraud_model` step trains two model families and needs one MLflow run each.
2. It has no setting for the experiment's artifact location; with a SQLite store MLflow then writes
   artifacts into `./mlruns` of whatever directory the process runs in.
3. It starts an MLflow run as soon as a step requires it, so `model_promotion` and `batch_predictions`,
   which only read the registry, would each leave an empty run behind.
4. It imports mlflow at module import time (dagster_mlflow + mlflow: about 3 s), which would make the
   code location load slowly; this module imports mlflow only inside methods.
5. When the store is down, MLflow's SQLAlchemy store retries for about 100 s before failing; here a
   preflight check fails in seconds with an error that names the (redacted) tracking URI.

We keep its conventions: the Dagster run id is the `dagster_run_id` tag on every run, so runs logged
either way are found by the same search.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dagster as dg

from mlops_assets.services import redact_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

DEFAULT_EXPERIMENT = "fraud_detection"
CONNECT_TIMEOUT_S = 5


class TrackingStoreUnavailableError(RuntimeError):
    """The MLflow tracking store cannot be reached; nothing was logged or registered."""


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


def check_tracking_store(uri: str, timeout_s: int = CONNECT_TIMEOUT_S) -> None:
    """Fail fast with a clear error when the tracking store cannot be reached.

    MLflow's own SQLAlchemy store retries a dead database for about 100 s; a training run that would
    only fail at the end should fail before it trains. HTTP stores are probed at `/health`.
    """
    shown = redact_uri(uri)
    scheme = urlsplit(uri).scheme.split("+", 1)[0]
    try:
        if scheme in {"http", "https"}:
            import requests

            requests.get(uri.rstrip("/") + "/health", timeout=timeout_s).raise_for_status()
            return
        if scheme not in {"sqlite", "postgresql", "mysql", "mssql"}:
            return  # databricks, file stores, plugins: MLflow's own errors are all we can offer
        import sqlalchemy

        sqlite_path = _sqlite_path(uri)
        connect_args: dict[str, Any] = {}
        if sqlite_path is not None:
            sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        elif scheme in {"postgresql", "mysql"}:
            connect_args["connect_timeout"] = timeout_s
        engine = sqlalchemy.create_engine(uri, connect_args=connect_args)
        try:
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:
        raise TrackingStoreUnavailableError(
            f"MLflow tracking store {shown} is unreachable ({type(exc).__name__}: "
            f"{redact_uri(str(exc)).splitlines()[0] if str(exc) else 'no detail'}); "
            "nothing was logged or registered. Check MLOPS_MLFLOW_TRACKING_URI and that the store is up."
        ) from exc


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking and registry, configured once from `Settings` (SQLite + local artifacts by default)."""

    tracking_uri: str
    artifact_root: str | None = None
    experiment_name: str = DEFAULT_EXPERIMENT

    def check_reachable(self) -> None:
        """Raise `TrackingStoreUnavailableError` within seconds if the store is down."""
        check_tracking_store(self.tracking_uri)

    def _activate(self) -> None:
        # The fluent API (log_model, log_input) reads these process-wide settings.
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    def client(self) -> MlflowClient:
        """A client bound to this store (tracking and registry)."""
        from mlflow import MlflowClient

        self._activate()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        """The experiment's id, creating it with an explicit artifact location the first time."""
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        location = None
        if self.artifact_root:
            path = Path(self.artifact_root) / self.experiment_name
            path.mkdir(parents=True, exist_ok=True)
            location = path.resolve().as_uri()
        return client.create_experiment(self.experiment_name, artifact_location=location)

    @contextlib.contextmanager
    def start_run(self, run_name: str, tags: dict[str, str]) -> Iterator[Run]:
        """An active MLflow run in this experiment; it ends FAILED if the block raises."""
        import mlflow

        self.check_reachable()
        experiment_id = self.experiment_id()
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
            yield run
