"""One MLflow parent run per Dagster run, opened by dagster-mlflow, with one child run per model family.

`MlflowTrackingResource` (resource key `mlflow_tracking`) is a `ConfigurableResource` built on
dagster-mlflow's `MlFlow`, the object its `mlflow_tracking` resource returns: `setup_for_execution` hands
it the init context exactly as `mlflow_tracking` does, so dagster-mlflow opens (or, on a step retry,
finds again) the run tagged with the Dagster run id and sets its tags. Why not `mlflow_tracking` itself:

1. The platform configures every resource from `Settings` as a `ConfigurableResource`;
   `mlflow_tracking` is an old-style resource configured through run config, which would put the
   tracking URI into every launched run's config.
2. `mlflow_tracking` lets MLflow create the experiment, and with a SQLite store MLflow then writes
   artifacts into `./mlruns` of whatever directory the process runs in. Here the experiment is created
   first, with the configured artifact location.
3. Only the training step (`fraud_model`) requires this resource, so the registry-only steps (promotion,
   batch scoring) open no empty run; they keep `MlflowClient` through the `mlflow` resource.

It lives in the platform beside `MlflowResource` because it knows no stage: any step that logs to MLflow
could require it.

Known pitfalls, handled:

- dagster#21872: the `end_mlflow_on_run_finished` hook ends the run after the first step of a
  multi-asset job. It is not used; `fraud_model` ends the parent explicitly (FINISHED, or FAILED when
  a family fails).
- dagster#22633: dagster-mlflow searches runs by tag in every process that initialises it, which floods
  a tracking server. Only the one training step initialises it here, and the children get the parent's
  id passed on (`parent_run_id`), never searched for.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import PrivateAttr

from mlops_assets.mlflow_resource import DEFAULT_EXPERIMENT, MlflowResource, redact_uri


class MlflowTrackingResource(dg.ConfigurableResource):
    """dagster-mlflow's parent run for the Dagster run; field names follow `mlflow_tracking`'s config."""

    mlflow_tracking_uri: str
    experiment_name: str = DEFAULT_EXPERIMENT
    artifact_root: str | None = None
    _tracking: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Create the experiment with its artifact location, then let dagster-mlflow open the run."""
        from dagster_mlflow.resources import MlFlow

        MlflowResource(
            tracking_uri=self.mlflow_tracking_uri,
            artifact_root=self.artifact_root,
            experiment_name=self.experiment_name,
        ).experiment_id()
        self._tracking = MlFlow(context)

    @property
    def parent_run_id(self) -> str:
        """The id of this Dagster run's MLflow parent run."""
        if self._tracking is None:
            raise RuntimeError("mlflow_tracking is used outside a Dagster step (no parent run was opened)")
        return str(self._tracking.mlflow_run_id or self._tracking.active_run().info.run_id)

    @property
    def experiment_id(self) -> str:
        """The experiment the parent and its children are logged in."""
        return str(self._tracking.experiment.experiment_id)

    def end_parent(self, status: str) -> None:
        """End the parent run explicitly (`FINISHED` or `FAILED`): no hook ends it for us (dagster#21872)."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.mlflow_tracking_uri)
        active = self._tracking.active_run()
        if active is not None and active.info.run_id == self.parent_run_id:
            self._tracking.end_run(status=status)
        else:  # a failing child left its own run active, or a retry found the parent in another process
            client.set_terminated(self.parent_run_id, status=status)

    def run_url(self, run_id: str) -> str | None:
        """A link to `run_id` in the MLflow UI when the tracking URI is a tracking server, else None."""
        if urlsplit(self.mlflow_tracking_uri).scheme not in {"http", "https"}:
            return None
        base = redact_uri(self.mlflow_tracking_uri).rstrip("/")
        return f"{base}/#/experiments/{self.experiment_id}/runs/{run_id}"
