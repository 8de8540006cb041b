"""Fixtures of the serving tests: the served world (once per session) and a fresh service per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from serving_world import World, build_world, serving

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
