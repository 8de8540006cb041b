"""The MLflow handle the training, promotion and scoring assets share (resource key `mlflow`).

This is the client side: registry, aliases, the preflight check, the experiment with its artifact
location. The *runs* of a training step come from dagster-mlflow (`mlflow_tracking.MlflowTrackingResource`,
resource key `mlflow_tracking`): one parent run per Dagster run, a child run per model family. The steps
that only read the registry (`model_promotion`, `batch_predictions`) require this resource alone, so they
leave no empty run behind. This module imports mlflow only inside methods, so the code location loads fast,
and when the store is down a preflight check fails in seconds (MLflow's SQLAlchemy store retries for about
100 s) with an error that names the (redacted) tracking URI.

Both keep dagster-mlflow's convention: the Dagster run id is the `dagster_run_id` tag on every run.
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
