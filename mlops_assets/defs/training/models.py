"""What every model family shares: the trained-model record and the imbalance weighting."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LIGHTGBM = "lightgbm"
TORCH = "torch"
FAMILIES: tuple[str, ...] = (LIGHTGBM, TORCH)
# One registered model serves, whatever family its champion is; each family registers candidates in it.
REGISTERED_MODEL_NAME = "fraud_detector"
# Scoring threads: single-row latency is best without thread hand-offs, and on a shared machine OpenMP
# threads that spin-wait for a busy core make training and scoring 10x slower (measured on 2 cores).
SERVING_THREADS = 1


@dataclass
class TrainedModel:
    """A fitted model of one family, with what it took to fit it."""

    family: str
    model: Any  # lightgbm.Booster or torch_model.FraudMLP
    features: tuple[str, ...]
    params: dict[str, Any]
    predict: Callable[[np.ndarray], np.ndarray]  # float32 matrix in feature order -> P(fraud)
    best_iteration: int
    train_seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)


def positive_weight(y: np.ndarray, mode: str) -> float:
    """How much more a fraud row weighs than a legitimate one.

    `sqrt` (default) lifts the rare class enough to shape the trees and the MLP's gradients while keeping
    probabilities close enough to calibrated for log loss and Brier score to stay meaningful; `balanced`
    uses the full negative/positive ratio; `none` leaves the classes as they are.
    """
    positives = float(np.sum(y))
    negatives = float(len(y) - positives)
    if positives == 0:
        raise ValueError("no positive rows to weight")
    ratio = negatives / positives
    if mode == "balanced":
        return ratio
    if mode == "sqrt":
        return math.sqrt(ratio)
    if mode == "none":
        return 1.0
    raise ValueError(f"unknown class weighting {mode!r}; expected balanced, sqrt or none")


def feature_tuple(features: Sequence[str]) -> tuple[str, ...]:
    """Features as a tuple, refusing duplicates (they would silently shift matrix columns)."""
    seen = tuple(features)
    duplicates = sorted({f for f in seen if seen.count(f) > 1})
    if duplicates:
        raise ValueError(f"duplicate feature names: {duplicates}")
    if not seen:
        raise ValueError("no features given")
    return seen
