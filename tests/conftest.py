"""Shared fixtures: every test gets its own data folder and Dagster home, and real files in them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import feast  # noqa: F401  (see below)
import pytest
from network_guard import child_process_env, loopback_only

from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings

# Imported here, while pytest collects: feast calls `warnings.simplefilter("once", DeprecationWarning)` at
# import, which would override the warning filters of pyproject.toml for the rest of whichever test
# imported it first. Done at collection, the change is undone before the first test runs.


@pytest.fixture(autouse=True, scope="session")
def _loopback_only_in_child_processes() -> Iterator[None]:
    """Every process a test starts (webserver, daemon, CLI) runs under the same guard."""
    guarded = child_process_env(dict(os.environ))
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "MLOPS_LOOPBACK_ONLY")}
    os.environ.update({name: guarded[name] for name in saved})
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _loopback_only() -> Iterator[None]:
    """Every test: a connection outside 127.0.0.0/8 or ::1 raises before any packet is sent."""
    with loopback_only():
        yield


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
