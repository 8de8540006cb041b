"""What MLflow recorded about a model version: its run, training window, last seen day and baseline.

Monitoring (the drift reference, the performance baseline, which days are unseen) and automation (is
there anything new to retrain on?) both ask MLflow the same questions about the version that serves;
they ask them here, so the registry layout is known in one place. `champion_version` is the one way
anything outside training finds the serving model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.mlflow_resource import MlflowResource
from mlops_assets.defs.training.models import LIGHTGBM, REGISTERED_MODEL_NAMES
from mlops_assets.defs.training.promotion import last_seen_day

if TYPE_CHECKING:
    from mlflow import MlflowClient

# The registered model whose champion scores transactions (batch predictions, monitoring).
SERVING_MODEL = REGISTERED_MODEL_NAMES[LIGHTGBM]
# What `training.flow` logs on each model's run: "<first day>..<last day> (<n> days)".
TRAINING_PARTITIONS_PARAM = "training_partitions"
BASELINE_METRIC = "holdout_pr_auc"
_DAY_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")

ModelVersionKey = tuple[str, str]


class UnknownTrainingWindowError(LookupError):
    """MLflow does not know the version, its run, or the window the run was trained on."""


@dataclass(frozen=True)
class Champion:
    """The version serving now and the days it learned from."""

    name: str
    version: str
    first_day: date
    last_day: date

    @property
    def window(self) -> str:
        """`<first day>..<last day>`, both inclusive."""
        return f"{self.first_day}..{self.last_day}"


def _is_not_found(exc: Exception) -> bool:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    return isinstance(exc, MlflowException) and exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


def model_run(mlflow: MlflowResource, name: str, version: str) -> Any | None:
    """The MLflow run that produced a model version; None when MLflow knows no such version or run.

    Only "does not exist" is an answer: any other error (the store is down, a permission is missing)
    propagates, so an outage fails the run instead of reading as "no baseline" forever.
    """
    client = mlflow.client()
    try:
        run_id = client.get_model_version(name, version).run_id
        return None if run_id is None else client.get_run(run_id)
    except Exception as exc:
        if _is_not_found(exc):
            return None
        raise


def model_baseline(mlflow: MlflowResource, name: str, version: str) -> float | None:
    """The holdout PR AUC MLflow recorded for the model version that scored the rows (None if unknown)."""
    run = model_run(mlflow, name, version)
    value = None if run is None else run.data.metrics.get(BASELINE_METRIC)
    return None if value is None else float(value)


def training_window(mlflow: MlflowResource, name: str, version: str) -> tuple[date, date]:
    """First and last day (inclusive) of the data the version was trained on, from its MLflow run.

    `UnknownTrainingWindowError` when MLflow does not know the version or its run, or the run logged
    no readable `training_partitions` param.
    """
    run = model_run(mlflow, name, version)
    if run is None:
        raise UnknownTrainingWindowError(f"MLflow knows no model version {name} v{version} or its run")
    logged = run.data.params.get(TRAINING_PARTITIONS_PARAM)
    match = _DAY_RANGE.match(logged or "")
    if match is None:
        raise UnknownTrainingWindowError(
            f"{name} v{version}: run {run.info.run_id} logged no readable {TRAINING_PARTITIONS_PARAM} param "
            f"({logged!r}); its training window is unknown"
        )
    return date.fromisoformat(match.group(1)), date.fromisoformat(match.group(2))


def seen_until(mlflow: MlflowResource, name: str, version: str) -> date | None:
    """The last day the version was trained or early-stopped on (None when nothing records it)."""
    client: MlflowClient = mlflow.client()
    try:
        mv = client.get_model_version(name, version)
    except Exception as exc:
        if _is_not_found(exc):
            return None
        raise
    return last_seen_day(client, mv)


def champion_version(mlflow: MlflowResource, name: str = SERVING_MODEL) -> Champion | None:
    """The serving champion and its training window; None while there is no champion.

    `UnknownTrainingWindowError` when the champion exists but its run recorded no readable window.
    """
    mv = registry.alias_version(mlflow.client(), name, registry.CHAMPION)
    if mv is None:
        return None
    first, last = training_window(mlflow, name, str(mv.version))
    return Champion(name, str(mv.version), first, last)
