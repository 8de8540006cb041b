"""The drift reference: the training rows of the model version that scored a day, profiled once.

The rows are `model_inputs` over the version's training window as MLflow logged it: every validated
transaction of those days with its point-in-time features, exactly as training built them. So
rebuilding `training_dataset` (every retraining run does, even when the gate then rejects the new
model) never moves the reference away from the data the serving champion learned from. Training keeps
only rows labelled by its cutoff; the reference keeps them all, as the scored days it is compared with
do (drift is about the inputs, and labels never feed a model input). Warming-up days of the window
(`features.warmup`) are left out: their half-filled aggregates are not what a mature day should match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from mlops_assets.defs.features.model_inputs import model_inputs
from mlops_assets.defs.features.warmup import warm_up_end
from mlops_assets.defs.monitoring.drift import (
    DriftConfig,
    ReferenceProfile,
    ReferenceWindowError,
    profile_reference,
)
from mlops_assets.defs.training.lineage import ModelVersionKey, UnknownTrainingWindowError, training_window
from mlops_assets.feature_catalog import MODEL_FEATURES
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.resources import LakehouseResource

# Model inputs plus the raw columns they derive from: a new country shows here before in any feature.
NUMERIC_MONITORED: tuple[str, ...] = (*MODEL_FEATURES, "amount_eur")
CATEGORICAL_MONITORED: tuple[str, ...] = ("merchant_category", "country", "device")


@dataclass(frozen=True)
class Reference:
    """The training rows of one model version (warm-up days left out) and their profile."""

    model: ModelVersionKey
    first_day: date
    last_day: date
    frame: pl.DataFrame
    profile: ReferenceProfile

    @property
    def window(self) -> str:
        """`<first day>..<last day>`, both inclusive."""
        return f"{self.first_day}..{self.last_day}"

    @property
    def label(self) -> str:
        """`<name> v<version>`."""
        return f"{self.model[0]} v{self.model[1]}"


def reference_days(first: date, last: date, first_data: date | None) -> tuple[date, date]:
    """The training window without its warming-up days; `ReferenceWindowError` when nothing is left."""
    start = max(first, warm_up_end(first_data)) if first_data else first
    if start > last:
        raise ReferenceWindowError(
            f"every day of the training window {first}..{last} is warming up (the data starts on "
            f"{first_data}; days from {start} on have their full feature lookback)"
        )
    return start, last


def load_reference(
    lakehouse: LakehouseResource,
    mlflow: MlflowResource,
    model: ModelVersionKey,
    config: DriftConfig,
    first_data: date | None,
) -> Reference:
    """The reference of `model`; `ReferenceWindowError` (with the reason) when it is unusable."""
    try:
        first, last = reference_days(*training_window(mlflow, *model), first_data)
    except UnknownTrainingWindowError as exc:
        raise ReferenceWindowError(str(exc)) from exc
    try:
        frame = model_inputs(lakehouse, first, last + timedelta(days=1))
    except FileNotFoundError as exc:  # e.g. feature partitions of the window removed by retention
        raise ReferenceWindowError(f"{model[0]} v{model[1]} training window {first}..{last}: {exc}") from exc
    profile = profile_reference(frame, NUMERIC_MONITORED, CATEGORICAL_MONITORED, config)
    return Reference(model, first, last, frame, profile)
