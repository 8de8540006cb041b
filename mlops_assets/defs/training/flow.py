"""Train one model family on `training_dataset` in three steps: fit, log, register.

- **fit** (`fit_candidate`): split, train, evaluate on validation and holdout, time the predictor; no
  MLflow involved.
- **log** (`log_candidate`): parameters, metrics, learning curves, datasets and the model into the
  active MLflow run (the family's child run under the Dagster run's parent run).
- **register** (`register_candidate`): a new version of the one registered model, tagged with its
  family and windows, behind the family's `challenger_<family>` alias, with its model card.

Order matters for failure: data checks (cheap) and the tracking-store check run before training
(expensive), and registration is the last step and all-or-nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.calibration import Calibration, fit_calibration
from mlops_assets.defs.training.data import (
    SplitConfig,
    TimeSplit,
    combined_hash,
    feature_matrix,
    labels,
    partition_hashes,
    prepare_splits,
)
from mlops_assets.defs.training.evaluation import Evaluation, Latency, evaluate, measure_latency
from mlops_assets.defs.training.model_card import CardFacts, render_model_card
from mlops_assets.defs.training.models import FAMILIES, LIGHTGBM, REGISTERED_MODEL_NAME, TORCH, TrainedModel
from mlops_assets.domain import IS_FRAUD
from mlops_assets.partitions import format_day_window

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_assets.defs.training.lightgbm_model import LightGBMParams
    from mlops_assets.defs.training.torch_model import TorchParams
    from mlops_assets.mlflow_resource import MlflowResource

INPUT_EXAMPLE_ROWS = 5


@dataclass
class TrainingOutcome:
    """What one family's training produced, for asset metadata, tests and the benchmark."""

    family: str
    model_name: str
    version: str
    run_id: str  # the family's child run
    parent_run_id: str | None  # the Dagster run's parent run, None outside Dagster
    model_uri: str
    logged_model_uri: str  # models:/<model_id>, the artifact any further version can be registered from
    trained: TrainedModel
    holdout: Evaluation
    validation: Evaluation
    latency: Latency
    windows: dict[str, tuple[Any, Any]]
    rows: dict[str, int]
    partition_hashes: dict[str, str]
    training_data_sha256: str
    model_card: str
    timings_s: dict[str, float] = field(default_factory=dict)


def fit_family(
    family: str,
    split: TimeSplit,
    features: Sequence[str],
    params: LightGBMParams | TorchParams | None = None,
    fill_values: Mapping[str, float] | None = None,
) -> TrainedModel:
    """Fit one family on the train part, early-stopping on the validation part (no MLflow involved)."""
    x_train, y_train = feature_matrix(split.train, features), labels(split.train)
    x_valid, y_valid = feature_matrix(split.validation, features), labels(split.validation)
    if family == LIGHTGBM:
        from mlops_assets.defs.training.lightgbm_model import train_lightgbm

        return train_lightgbm(x_train, y_train, x_valid, y_valid, features, params)  # type: ignore[arg-type]
    if family == TORCH:
        from mlops_assets.defs.training.torch_model import train_torch

        return train_torch(x_train, y_train, x_valid, y_valid, features, params, fill_values)  # type: ignore[arg-type]
    raise ValueError(f"unknown model family {family!r}; expected one of {list(FAMILIES)}")


@dataclass
class FittedCandidate:
    """What the fit step produced: the model, its split and its quality, not yet in MLflow."""

    family: str
    features: tuple[str, ...]
    split: TimeSplit
    split_config: SplitConfig
    trained: TrainedModel
    holdout: Evaluation
    validation: Evaluation
    latency: Latency
    partition_hashes: dict[str, str]
    calibration: Calibration  # validation scores -> P(fraud), for label-free estimates in monitoring
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def windows(self) -> dict[str, tuple[Any, Any]]:
        """First and last day of train, validation and holdout."""
        return self.split.windows()

    @property
    def rows(self) -> dict[str, int]:
        """Rows of each part."""
        return {name: part.height for name, part in self.split.parts().items()}

    @property
    def data_hash(self) -> str:
        """One hash over every training partition's content hash."""
        return combined_hash(self.partition_hashes)


def fit_candidate(
    dataset: pl.DataFrame,
    family: str,
    features: Sequence[str],
    *,
    split_config: SplitConfig | None = None,
    params: LightGBMParams | TorchParams | None = None,
    nullable: Sequence[str] = (),
    fill_values: Mapping[str, float] | None = None,
    latency_rows: int = 200,
    before_training: Callable[[], None] | None = None,
) -> FittedCandidate:
    """Step 1: split by day, fit, and evaluate on validation and holdout (no MLflow involved).

    `before_training` runs after the cheap data checks and before the expensive fit (the tracking-store
    check, so that a dead store fails the step before it trains, not after).
    """
    import time

    features = tuple(features)
    split_config = split_config or SplitConfig()
    split = prepare_splits(dataset, features, split_config, nullable)
    if before_training is not None:
        before_training()
    start = time.perf_counter()
    trained = fit_family(family, split, features, params, fill_values)
    train_s = time.perf_counter() - start
    x_hold = feature_matrix(split.holdout, features)
    validation_scores = trained.predict(feature_matrix(split.validation, features))
    return FittedCandidate(
        family=family,
        features=features,
        split=split,
        split_config=split_config,
        trained=trained,
        holdout=evaluate(split.holdout, trained.predict(x_hold)),
        validation=evaluate(split.validation, validation_scores),
        latency=measure_latency(trained.predict, x_hold, single_rows=latency_rows),
        partition_hashes=partition_hashes(dataset),
        calibration=fit_calibration(validation_scores, labels(split.validation)),
        timings_s={"train_s": train_s},
    )


def log_candidate(
    client: MlflowClient,
    run_id: str,
    fitted: FittedCandidate,
    *,
    feature_service: str,
    dataset_source: str | None = None,
) -> Any:
    """Step 2: log parameters, metrics, curves, datasets and the model into the active run `run_id`.

    Returns MLflow's `ModelInfo` of the logged model.
    """
    import time

    import mlflow
    from mlflow.entities import Metric

    family, trained, features = fitted.family, fitted.trained, fitted.features
    hashes, windows, rows = fitted.partition_hashes, fitted.windows, fitted.rows
    mlflow.log_params(
        {
            **{f"{family}.{k}": v for k, v in trained.params.items()},
            "family": family,
            "feature_service": feature_service,
            "n_features": len(features),
            "best_iteration": trained.best_iteration,
            **{f"{name}_window": format_day_window(lo, hi) for name, (lo, hi) in windows.items()},
            **{f"{name}_rows": n for name, n in rows.items()},
            "validation_days": fitted.split_config.validation_days,
            "holdout_days": fitted.split_config.holdout_days,
            "training_partitions": f"{min(hashes)}..{max(hashes)} ({len(hashes)} days)",
            "training_data_sha256": fitted.data_hash,
        }
    )
    mlflow.log_metrics(
        {
            **fitted.holdout.metrics("holdout"),
            **fitted.validation.metrics("validation"),
            **fitted.latency.metrics(),
            "train_seconds": trained.train_seconds,
            "holdout_threshold_at_precision": fitted.holdout.threshold_at_precision,
        }
    )
    # One batch for the learning curves: a call per point costs ~35 ms each on SQLite.
    now_ms = int(time.time() * 1000)
    curve = [
        Metric(f"history.{name}", float(value), now_ms, step)
        for name, values in trained.history.items()
        for step, value in enumerate(values)
    ]
    for begin in range(0, len(curve), 1000):  # MLflow takes at most 1000 metrics per batch
        client.log_batch(run_id, metrics=curve[begin : begin + 1000])
    for name, part in fitted.split.parts().items():
        mlflow.log_input(
            mlflow.data.from_polars(  # type: ignore[attr-defined]  # defined at import time
                part.select(*features, IS_FRAUD),
                source=dataset_source,
                targets=IS_FRAUD,
                name=f"training_dataset.{name}",
            ),
            context=name,
        )
    mlflow.log_dict({"feature_service": feature_service, "features": list(features)}, "features.json")
    mlflow.log_dict({"partitions": hashes, "sha256": fitted.data_hash}, "training_partitions.json")
    mlflow.log_text(fitted.calibration.to_json(), "calibration.json")
    x_example = feature_matrix(fitted.split.holdout.head(INPUT_EXAMPLE_ROWS), features)
    return registry.log_model(family, trained.model, x_example, features, feature_service)


def register_candidate(
    client: MlflowClient,
    fitted: FittedCandidate,
    model_info: Any,
    run_id: str,
    *,
    model_name: str,
    feature_service: str,
    commit: str,
    dagster_run_id: str,
    parent_run_id: str | None,
) -> tuple[str, str]:
    """Step 3: register the logged model as a candidate of its family, with its card; (version, card)."""
    import mlflow

    family, holdout, windows = fitted.family, fitted.holdout, fitted.windows
    facts = CardFacts(
        model_name=model_name,
        version="",
        family=family,
        run_id=run_id,
        git_commit=commit,
        feature_service=feature_service,
        features=fitted.features,
        windows=windows,
        rows=fitted.rows,
        params=fitted.trained.params,
        holdout=holdout,
        validation=fitted.validation,
        latency=fitted.latency,
        training_data_sha256=fitted.data_hash,
    )
    cards: list[str] = []

    def log_card(version: str) -> None:
        cards.append(render_model_card(replace(facts, version=version)))
        mlflow.log_text(cards[-1], "model_card.md")

    version_tags = {
        registry.FAMILY_TAG: family,
        registry.FEATURE_SERVICE_TAG: feature_service,
        registry.FEATURES_TAG: json.dumps(list(fitted.features)),
        registry.THRESHOLD_TAG: f"{holdout.threshold_at_precision:.6f}",
        registry.CALIBRATION_TAG: fitted.calibration.to_json(),
        "holdout_pr_auc": f"{holdout.pr_auc:.6f}",
        # The gate reads these: the holdout to judge on, and the days this version must not be judged on.
        registry.TRAIN_WINDOW_TAG: format_day_window(*windows["train"]),
        registry.VALIDATION_WINDOW_TAG: format_day_window(*windows["validation"]),
        registry.HOLDOUT_WINDOW_TAG: format_day_window(*windows["holdout"]),
        registry.TRAINING_DATA_HASH_TAG: fitted.data_hash,
        "git_commit": commit,
        "dagster_run_id": dagster_run_id,
        **({registry.PARENT_RUN_TAG: parent_run_id} if parent_run_id else {}),
    }
    version = registry.register_version(
        client,
        model_name,
        model_info.model_uri,
        run_id,
        version_tags,
        description=(
            f"{family} fraud classifier; holdout PR AUC {holdout.pr_auc:.4f}; "
            f"data {windows['train'][0]}..{windows['holdout'][1]}; card: model_card.md in run {run_id}"
        ),
        aliases=(registry.candidate_alias(family),),
        model_id=model_info.model_id,
        on_created=log_card,  # inside the all-or-nothing registration: no version without its card
    )
    return str(version.version), cards[-1]


def train_and_register(
    dataset: pl.DataFrame,
    family: str,
    features: Sequence[str],
    mlflow_resource: MlflowResource,
    *,
    feature_service: str,
    split_config: SplitConfig | None = None,
    params: LightGBMParams | TorchParams | None = None,
    nullable: Sequence[str] = (),
    fill_values: Mapping[str, float] | None = None,
    dagster_run_id: str = "none",
    dataset_source: str | None = None,
    latency_rows: int = 200,
    model_name: str = REGISTERED_MODEL_NAME,
    parent_run_id: str | None = None,
) -> TrainingOutcome:
    """Fit, log and register one family; its child run nests under `parent_run_id` when given."""
    import time

    import mlflow

    fitted = fit_candidate(
        dataset,
        family,
        features,
        split_config=split_config,
        params=params,
        nullable=nullable,
        fill_values=fill_values,
        latency_rows=latency_rows,
        before_training=mlflow_resource.check_reachable,
    )
    client = mlflow_resource.client()
    commit = registry.git_commit()
    run_tags = {
        "dagster_run_id": dagster_run_id,
        "git_commit": commit,
        registry.FAMILY_TAG: family,
        registry.FEATURE_SERVICE_TAG: feature_service,
        "training_data_sha256": fitted.data_hash,
    }
    start = time.perf_counter()
    with mlflow.start_run(
        experiment_id=mlflow_resource.experiment_id(),
        run_name=f"{family}-{dagster_run_id[:8]}",
        tags=run_tags,
        nested=parent_run_id is not None,
        parent_run_id=parent_run_id,
    ) as run:
        run_id = run.info.run_id
        info = log_candidate(
            client, run_id, fitted, feature_service=feature_service, dataset_source=dataset_source
        )
        fitted.timings_s["log_model_s"] = time.perf_counter() - start
        start = time.perf_counter()
        version, card = register_candidate(
            client,
            fitted,
            info,
            run_id,
            model_name=model_name,
            feature_service=feature_service,
            commit=commit,
            dagster_run_id=dagster_run_id,
            parent_run_id=parent_run_id,
        )
        fitted.timings_s["register_s"] = time.perf_counter() - start

    return TrainingOutcome(
        family=family,
        model_name=model_name,
        version=version,
        run_id=run_id,
        parent_run_id=parent_run_id,
        model_uri=f"models:/{model_name}/{version}",
        logged_model_uri=info.model_uri,
        trained=fitted.trained,
        holdout=fitted.holdout,
        validation=fitted.validation,
        latency=fitted.latency,
        windows=fitted.windows,
        rows=fitted.rows,
        partition_hashes=fitted.partition_hashes,
        training_data_sha256=fitted.data_hash,
        model_card=card,
        timings_s=fitted.timings_s,
    )
