"""Fixtures for the training tests: synthetic training frames and a real MLflow on temporary SQLite.

Helpers are handed out as fixtures (not imported), because test folders have no `__init__.py` and
another `conftest` module name would clash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlops_assets.defs.training.data import SplitConfig
from mlops_assets.defs.training.flow import TrainingOutcome, train_and_register
from mlops_assets.defs.training.lightgbm_model import LightGBMParams
from mlops_assets.mlflow_resource import MlflowResource

FEATURES: tuple[str, ...] = ("f_amount_z", "f_velocity", "f_foreign", "f_noise", "f_night")
START = datetime(2025, 3, 1, tzinfo=UTC)
COUNTRIES = ("DE", "FR", "AT")
CATEGORIES = ("grocery", "electronics")
SMALL_SPLIT = SplitConfig(validation_days=3, holdout_days=3, min_rows=100, min_positives=10)
# One thread: on a shared 2-core machine OpenMP threads spin-wait and train 10x slower.
TINY_LIGHTGBM = LightGBMParams(
    max_rounds=40, early_stopping_rounds=10, num_leaves=7, min_data_in_leaf=20, num_threads=1
)


def synthetic_frame(
    days: int = 12,
    rows_per_day: int = 500,
    seed: int = 0,
    features: tuple[str, ...] = FEATURES,
    base_logit: float = -3.0,
) -> pl.DataFrame:
    """Rows shaped like `training_dataset`: id columns + numeric features, fraud learnable from 3 of them."""
    rng = np.random.default_rng(seed)
    n = days * rows_per_day
    x = rng.normal(size=(n, len(features)))
    logit = base_logit + 1.6 * x[:, 0] + 1.0 * x[:, 1] + 0.8 * (x[:, 2] > 0.5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    seconds = np.sort(rng.integers(0, days * 86_400, size=n))
    ts = pl.Series([START + timedelta(seconds=int(s)) for s in seconds], dtype=pl.Datetime("us", "UTC"))
    frame = pl.DataFrame(
        {
            "transaction_id": [f"tx-{i:07d}" for i in range(n)],
            "customer_id": [f"c{i % 97:04d}" for i in range(n)],
            "merchant_id": [f"m{i % 31:03d}" for i in range(n)],
            "event_timestamp": ts,
            "label_available_at": ts + timedelta(days=1),
            "is_fraud": y,
            "country": [COUNTRIES[i % 3] for i in range(n)],
            "merchant_category": [CATEGORIES[i % 2] for i in range(n)],
            "device": ["web"] * n,
            "amount_eur": np.round(np.exp(rng.normal(3, 1, size=n)), 2),
        }
    )
    return frame.with_columns([pl.Series(name, x[:, i]) for i, name in enumerate(features)])


@pytest.fixture(scope="session")
def make_frame() -> Callable[..., pl.DataFrame]:
    """The synthetic `training_dataset` factory."""
    return synthetic_frame


@pytest.fixture(scope="session")
def training_frame() -> pl.DataFrame:
    """12 days x 500 rows, about 8 % fraud."""
    return synthetic_frame()


def make_resource(root: Path, experiment: str = "test_fraud") -> MlflowResource:
    """A real MLflow tracking store and registry on SQLite under `root`."""
    return MlflowResource(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_root=str(root / "artifacts"),
        experiment_name=experiment,
    )


@pytest.fixture
def mlflow_resource(tmp_path: Path) -> MlflowResource:
    """A fresh, empty MLflow store for one test."""
    return make_resource(tmp_path / "mlflow")


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory) -> MlflowResource:
    """One MLflow store shared by a test module (each test uses its own registered model names)."""
    return make_resource(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(scope="module")
def trained_lightgbm(module_store: MlflowResource) -> TrainingOutcome:
    """A tiny LightGBM trained, logged and registered once per module (fraud_lightgbm v1, challenger)."""
    return train_and_register(
        synthetic_frame(),
        "lightgbm",
        FEATURES,
        module_store,
        feature_service="test_service",
        split_config=SMALL_SPLIT,
        params=TINY_LIGHTGBM,
        dagster_run_id="test-run",
        latency_rows=20,
    )


@pytest.fixture(scope="session")
def small_split() -> SplitConfig:
    return SMALL_SPLIT


@pytest.fixture(scope="session")
def tiny_lightgbm() -> LightGBMParams:
    return TINY_LIGHTGBM


@pytest.fixture(scope="session")
def features() -> tuple[str, ...]:
    return FEATURES
