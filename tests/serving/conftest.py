"""Fixtures of the serving tests: the served world (once per session) and a fresh service per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from serving_world import World, build_world, serving

from mlops_assets.production import check_service
from mlops_assets.services import redis_service_from_url
from mlops_assets.serving.service import ScoringService


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Simulated days, feature tables, online store to the day before, champion + challenger, batch."""
    return build_world(tmp_path_factory.mktemp("served_world"))


@pytest.fixture
def serve(world: World, tmp_path: Path) -> Callable[..., object]:
    """`with serve(**config) as (url, service):` a fresh service (own state and log) on loopback."""

    @contextmanager
    def _serve(**config: object) -> Iterator[tuple[str, ScoringService]]:
        service = world.service(tmp_path / "prediction_log", **config)
        with serving(service) as url:
            yield url, service

    return _serve


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis (`MLOPS_TEST_REDIS_URL`, default 127.0.0.1:6379/0); fails under CI=true if down."""
    url = os.environ.get("MLOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    check = check_service(redis_service_from_url("Redis", url), timeout_s=3)
    if not check.ok:
        message = f"Redis is not available: {check.describe()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    return url
