"""Train one model family on `training_dataset`, evaluate it, log everything to MLflow and register it.

Order matters for failure: data checks (cheap) and the tracking-store check run before training
(expensive), and registration is the last step and all-or-nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from mlops_assets.defs.training import registry
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
from mlops_assets.defs.training.models import LIGHTGBM, REGISTERED_MODEL_NAMES, TORCH, TrainedModel
from mlops_assets.domain import IS_FRAUD
from mlops_assets.partitions import format_day_window

if TYPE_CHECKING:
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
    run_id: str
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
    raise ValueError(f"unknown model family {family!r}; expected one of {sorted(REGISTERED_MODEL_NAMES)}")


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
    model_name: str | None = None,
) -> TrainingOutcome:
    """Train, evaluate, log and register one family; the new version gets the `challenger` alias."""
    import time

    import mlflow
    from mlflow.entities import Metric

    timings: dict[str, float] = {}
    features = tuple(features)
    split_config = split_config or SplitConfig()
    model_name = model_name or REGISTERED_MODEL_NAMES[family]
    split = prepare_splits(dataset, features, split_config, nullable)
    mlflow_resource.check_reachable()  # before the expensive part

    start = time.perf_counter()
    trained = fit_family(family, split, features, params, fill_values)
    timings["train_s"] = time.perf_counter() - start

    x_hold = feature_matrix(split.holdout, features)
    holdout = evaluate(split.holdout, trained.predict(x_hold))
    validation = evaluate(split.validation, trained.predict(feature_matrix(split.validation, features)))
    latency = measure_latency(trained.predict, x_hold, single_rows=latency_rows)

    hashes = partition_hashes(dataset)
    data_hash = combined_hash(hashes)
    windows = split.windows()
    rows = {name: part.height for name, part in split.parts().items()}
    commit = registry.git_commit()
    run_tags = {
        "dagster_run_id": dagster_run_id,
        "git_commit": commit,
        registry.FAMILY_TAG: family,
        registry.FEATURE_SERVICE_TAG: feature_service,
        "training_data_sha256": data_hash,
    }
    x_example = feature_matrix(split.holdout.head(INPUT_EXAMPLE_ROWS), features)

    start = time.perf_counter()
    with mlflow_resource.start_run(run_name=f"{model_name}-{dagster_run_id[:8]}", tags=run_tags) as run:
        run_id = run.info.run_id
        mlflow.log_params(
            {
                **{f"{family}.{k}": v for k, v in trained.params.items()},
                "family": family,
                "feature_service": feature_service,
                "n_features": len(features),
                "best_iteration": trained.best_iteration,
                **{f"{name}_window": format_day_window(lo, hi) for name, (lo, hi) in windows.items()},
                **{f"{name}_rows": n for name, n in rows.items()},
                "validation_days": split_config.validation_days,
                "holdout_days": split_config.holdout_days,
                "training_partitions": f"{min(hashes)}..{max(hashes)} ({len(hashes)} days)",
                "training_data_sha256": data_hash,
            }
        )
        mlflow.log_metrics(
            {
                **holdout.metrics("holdout"),
                **validation.metrics("validation"),
                **latency.metrics(),
                "train_seconds": trained.train_seconds,
                "holdout_threshold_at_precision": holdout.threshold_at_precision,
            }
        )
        # One batch for the learning curves: a call per point costs ~35 ms each on SQLite.
        now_ms = int(time.time() * 1000)
        curve = [
            Metric(f"history.{name}", float(value), now_ms, step)
            for name, values in trained.history.items()
            for step, value in enumerate(values)
        ]
        client = mlflow_resource.client()
        for begin in range(0, len(curve), 1000):  # MLflow takes at most 1000 metrics per batch
            client.log_batch(run_id, metrics=curve[begin : begin + 1000])
        for name, part in split.parts().items():
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
        mlflow.log_dict({"partitions": hashes, "sha256": data_hash}, "training_partitions.json")
        info = registry.log_model(family, trained.model, x_example, features, feature_service)
        timings["log_model_s"] = time.perf_counter() - start

        facts = CardFacts(
            model_name=model_name,
            version="",
            family=family,
            run_id=run_id,
            git_commit=commit,
            feature_service=feature_service,
            features=features,
            windows=windows,
            rows=rows,
            params=trained.params,
            holdout=holdout,
            validation=validation,
            latency=latency,
            training_data_sha256=data_hash,
        )
        cards: list[str] = []

        def log_card(version: str) -> None:
            cards.append(render_model_card(replace(facts, version=version)))
            mlflow.log_text(cards[-1], "model_card.md")

        version_tags = {
            registry.FAMILY_TAG: family,
            registry.FEATURE_SERVICE_TAG: feature_service,
            registry.FEATURES_TAG: json.dumps(list(features)),
            registry.THRESHOLD_TAG: f"{holdout.threshold_at_precision:.6f}",
            "holdout_pr_auc": f"{holdout.pr_auc:.6f}",
            # The gate reads these: the holdout to judge on, and the days this version must not be judged on.
            registry.TRAIN_WINDOW_TAG: format_day_window(*windows["train"]),
            registry.VALIDATION_WINDOW_TAG: format_day_window(*windows["validation"]),
            registry.HOLDOUT_WINDOW_TAG: format_day_window(*windows["holdout"]),
            "training_data_sha256": data_hash,
            "git_commit": commit,
            "dagster_run_id": dagster_run_id,
        }
        start = time.perf_counter()
        version = registry.register_version(
            client,
            model_name,
            info.model_uri,
            run_id,
            version_tags,
            description=(
                f"{family} fraud classifier; holdout PR AUC {holdout.pr_auc:.4f}; "
                f"data {windows['train'][0]}..{windows['holdout'][1]}; card: model_card.md in run {run_id}"
            ),
            model_id=info.model_id,
            on_created=log_card,  # inside the all-or-nothing registration: no version without its card
        )
        timings["register_s"] = time.perf_counter() - start

    return TrainingOutcome(
        family=family,
        model_name=model_name,
        version=str(version.version),
        run_id=run_id,
        model_uri=f"models:/{model_name}/{version.version}",
        logged_model_uri=info.model_uri,
        trained=trained,
        holdout=holdout,
        validation=validation,
        latency=latency,
        windows=windows,
        rows=rows,
        partition_hashes=hashes,
        training_data_sha256=data_hash,
        model_card=cards[-1],
        timings_s=timings,
    )
