"""What MLflow recorded about a model version: its run, its day windows, and its baseline.

Monitoring (the drift reference, the performance baseline, which days are unseen) and automation (is
there anything new to retrain on?) both ask MLflow the same questions about the version that serves;
they ask them here, so the registry layout is known in one place. `champion_version` is the one way
anything outside training finds the serving model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.partitions import format_day_window, parse_day_window

# The registered model whose champion scores transactions (batch predictions, monitoring).
SERVING_MODEL = REGISTERED_MODEL_NAME
BASELINE_METRIC = "holdout_pr_auc"

ModelVersionKey = tuple[str, str]


class UnknownTrainingWindowError(LookupError):
    """MLflow does not know the version, its run, or the window the run was trained on."""


@dataclass(frozen=True)
class Champion:
    """The version serving now and the days of data its training run read (training to holdout)."""

    name: str
    version: str
    first_day: date
    last_day: date

    @property
    def window(self) -> str:
        """`<first day>..<last day>`, both inclusive."""
        return format_day_window(self.first_day, self.last_day)


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
    """First and last day (inclusive) the version trained or early-stopped on, from its window tags.

    `UnknownTrainingWindowError` when MLflow does not know the version, or its window tags are missing
    or unreadable (read by `registry.seen_window`, the same reader the promotion gate uses).
    """
    tags = _version_tags(mlflow, name, version)
    try:
        window = registry.seen_window(tags)
    except ValueError as exc:
        raise UnknownTrainingWindowError(f"{name} v{version}: {exc}; its training window is unknown") from exc
    if window is None:
        raise UnknownTrainingWindowError(
            f"{name} v{version} has no window tags; its training window is unknown"
        )
    return window


def data_end(mlflow: MlflowResource, name: str, version: str) -> date:
    """The last day of the data the version's training run read: its holdout's last day if tagged.

    The training dataset ends with the holdout week, which the model never trained on but which is
    part of its data: a retraining whose window ends there reads the very same rows.
    """
    tags = _version_tags(mlflow, name, version)
    holdout = tags.get(registry.HOLDOUT_WINDOW_TAG)
    if holdout:
        try:
            return parse_day_window(holdout)[1]
        except ValueError as exc:
            raise UnknownTrainingWindowError(f"{name} v{version}: {exc}") from exc
    return training_window(mlflow, name, version)[1]


def _version_tags(mlflow: MlflowResource, name: str, version: str) -> dict[str, str]:
    try:
        return dict(mlflow.client().get_model_version(name, version).tags)
    except Exception as exc:
        if _is_not_found(exc):
            raise UnknownTrainingWindowError(f"MLflow knows no model version {name} v{version}") from exc
        raise


def seen_until(mlflow: MlflowResource, name: str, version: str) -> date | None:
    """The last day the version trained or early-stopped on (None when nothing records it)."""
    try:
        return training_window(mlflow, name, version)[1]
    except UnknownTrainingWindowError:
        return None


def champion_version(mlflow: MlflowResource, name: str = SERVING_MODEL) -> Champion | None:
    """The serving champion and its training window; None while there is no champion.

    `UnknownTrainingWindowError` when the champion exists but carries no readable window tags.
    """
    mv = registry.alias_version(mlflow.client(), name, registry.CHAMPION)
    if mv is None:
        return None
    first, _ = training_window(mlflow, name, str(mv.version))
    return Champion(name, str(mv.version), first, data_end(mlflow, name, str(mv.version)))
