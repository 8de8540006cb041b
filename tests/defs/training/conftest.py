"""Fixtures for the training tests: synthetic training frames and a real MLflow on temporary SQLite.

Helpers are handed out as fixtures (not imported), because test folders have no `__init__.py` and
another `conftest` module name would clash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from shared_fixtures import FEATURES, synthetic_frame

from mlops_assets.defs.training.data import SplitConfig
from mlops_assets.defs.training.flow import TrainingOutcome, train_and_register
from mlops_assets.defs.training.lightgbm_model import LightGBMParams
from mlops_assets.mlflow_resource import MlflowResource

SMALL_SPLIT = SplitConfig(validation_days=3, holdout_days=3, min_rows=100, min_positives=10)
# One thread: on a shared 2-core machine OpenMP threads spin-wait and train 10x slower.
TINY_LIGHTGBM = LightGBMParams(
    max_rounds=40, early_stopping_rounds=10, num_leaves=7, min_data_in_leaf=20, num_threads=1
)


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
    """A tiny LightGBM trained, logged and registered once per module (fraud_detector v1, a candidate)."""
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
