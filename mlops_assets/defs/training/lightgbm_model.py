"""The gradient-boosted trees family: LightGBM's native API, deterministic and early-stopped."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlops_assets.defs.training.models import (
    LIGHTGBM,
    SERVING_THREADS,
    TrainedModel,
    feature_tuple,
    positive_weight,
)


@dataclass(frozen=True)
class LightGBMParams:
    """Hyperparameters; defaults suit a few hundred thousand to a few million rows."""

    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_rounds: int = 1_000
    early_stopping_rounds: int = 50
    class_weighting: str = "sqrt"
    seed: int = 42
    num_threads: int = 2


def train_lightgbm(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    features: Sequence[str],
    params: LightGBMParams | None = None,
) -> TrainedModel:
    """Fit a binary LightGBM booster, stopping when validation PR AUC stops improving."""
    import lightgbm as lgb

    params = params or LightGBMParams()
    features = feature_tuple(features)
    pos_weight = positive_weight(y_train, params.class_weighting)
    booster_params: dict[str, Any] = {
        "objective": "binary",
        "metric": ["average_precision", "binary_logloss"],
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "min_data_in_leaf": params.min_data_in_leaf,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": params.lambda_l2,
        "scale_pos_weight": pos_weight,
        # Same seed, same data, same machine -> the same trees.
        "seed": params.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": params.num_threads,
        "verbosity": -1,
    }
    train_set = lgb.Dataset(x_train, label=y_train, feature_name=list(features), free_raw_data=False)
    valid_set = lgb.Dataset(x_valid, label=y_valid, reference=train_set, free_raw_data=False)
    history: dict[str, Any] = {}
    start = time.perf_counter()
    booster = lgb.train(
        booster_params,
        train_set,
        num_boost_round=params.max_rounds,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[
            lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True, verbose=False),
            lgb.record_evaluation(history),
        ],
    )
    seconds = time.perf_counter() - start
    best = booster.best_iteration or booster.current_iteration()
    # Keep only the trees up to the best round, so every later predict (and the saved model) uses them.
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))

    return TrainedModel(
        family=LIGHTGBM,
        model=booster,
        features=features,
        params={**asdict(params), "scale_pos_weight": round(pos_weight, 4)},
        predict=booster_predictor(booster),
        best_iteration=int(best),
        train_seconds=seconds,
        history={k: list(v) for k, v in history.get("validation", {}).items()},
    )


def booster_predictor(booster: Any, num_threads: int = SERVING_THREADS) -> Callable[[np.ndarray], np.ndarray]:
    """A predict function for a booster loaded from the registry."""

    def predict(x: np.ndarray) -> np.ndarray:
        return booster.predict(x, num_threads=num_threads)

    return predict
