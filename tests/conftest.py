"""Shared fixtures: every test gets its own data folder and Dagster home, and real files in them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings
from mlops_assets.simulator import SimulationConfig, write_days

DAY = date(2026, 1, 10)


def require_service(name: str, reason: str) -> None:
    """Fail loudly in CI (a missing service is a broken pipeline), skip with the reason elsewhere."""
    message = f"{name} is not available: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the whole platform at a temporary data folder and Dagster home."""
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("MLOPS_REDIS_URL", raising=False)
    monkeypatch.delenv("MLOPS_MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "dagster_home").mkdir()
    return Settings.from_env()


@pytest.fixture
def resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The code location's resources, configured for the temporary folders."""
    return build_resources(settings)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A real, throwaway Dagster instance (in-memory storage)."""
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def land_days(
    settings: Settings, start: date, days: int, rows_per_day: int = 200, **drift: object
) -> list[Path]:
    """Simulate `days` days of landing files starting at `start`."""
    config = SimulationConfig(start=start, days=days, rows_per_day=rows_per_day, **drift)  # type: ignore[arg-type]
    return write_days(config, settings.data_dir, "parquet")
