"""Helpers shared by tests in several folders (importable: `tests/` is on pytest's pythonpath)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from mlops_assets.settings import Settings
from mlops_assets.simulator import SimulationConfig, write_days

DAY = date(2026, 1, 10)


def land_days(
    settings: Settings, start: date, days: int, rows_per_day: int = 200, **drift: object
) -> list[Path]:
    """Simulate `days` days of landing files starting at `start`."""
    config = SimulationConfig(start=start, days=days, rows_per_day=rows_per_day, **drift)  # type: ignore[arg-type]
    return write_days(config, settings.data_dir, "parquet")


def fail_or_skip(message: str) -> None:
    """A needed service is down: a failure under CI=true (never a silent skip in CI), a skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)
