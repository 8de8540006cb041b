"""Real PostgreSQL and Redis for the production-profile tests: a fresh database per test, dropped after.

Where the services live (defaults are the development machine's):
MLOPS_TEST_PG_HOST / _PORT / _USER / _PASSWORD / _DB (an existing database to connect to for CREATE
DATABASE) and MLOPS_TEST_REDIS_URL. A service that is down fails the test under CI=true and skips it,
with the reason, elsewhere: never a silent skip in CI.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from shared_fixtures import fail_or_skip

from mlops_assets.production import check_service
from mlops_assets.services import Service, redis_service_from_url


@pytest.fixture(scope="session")
def pg_admin() -> dict[str, Any]:
    """psycopg2 connection parameters of the server's admin database; skips/fails if it is down."""
    params: dict[str, Any] = {
        "host": os.environ.get("MLOPS_TEST_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("MLOPS_TEST_PG_PORT", "5432")),
        "user": os.environ.get("MLOPS_TEST_PG_USER", "postgres"),
        "dbname": os.environ.get("MLOPS_TEST_PG_DB", "test"),
    }
    if os.environ.get("MLOPS_TEST_PG_PASSWORD"):
        params["password"] = os.environ["MLOPS_TEST_PG_PASSWORD"]
    check = check_service(
        Service("PostgreSQL", "postgres", params["host"], params["port"], params), timeout_s=3
    )
    if not check.ok:
        fail_or_skip(f"PostgreSQL is not available: {check.describe()}")
    return params


@pytest.fixture
def fresh_pg_database(pg_admin: dict[str, Any]) -> Iterator[Callable[[str], dict[str, Any]]]:
    """A factory: ``create("dagster")`` makes database ``mlops_test_dagster_<random>``; all dropped after."""
    import psycopg2

    created: list[str] = []

    def create(purpose: str) -> dict[str, Any]:
        name = f"mlops_test_{purpose}_{secrets.token_hex(4)}"
        connection = psycopg2.connect(**pg_admin)
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        created.append(name)
        return {**pg_admin, "dbname": name}

    yield create

    connection = psycopg2.connect(**pg_admin)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for name in created:
                # FORCE (PostgreSQL 13+) ends the pools that Dagster and MLflow keep open.
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()


@pytest.fixture
def dagster_pg_env(
    fresh_pg_database: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A fresh database for a Dagster instance, as the DAGSTER_PG_* variables deploy/dagster.yaml reads."""
    params = fresh_pg_database("dagster")
    monkeypatch.setenv("DAGSTER_PG_HOST", str(params["host"]))
    monkeypatch.setenv("DAGSTER_PG_PORT", str(params["port"]))
    monkeypatch.setenv("DAGSTER_PG_USER", str(params["user"]))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", str(params.get("password", "")))
    monkeypatch.setenv("DAGSTER_PG_DB", str(params["dbname"]))
    return params


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis as a ``redis://`` URL; skips/fails if it is down."""
    url = os.environ.get("MLOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    check = check_service(redis_service_from_url("Redis", url), timeout_s=3)
    if not check.ok:
        fail_or_skip(f"Redis is not available: {check.describe()}")
    return url


@pytest.fixture
def isolated_mlflow_uris(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow keeps the tracking/registry URI process-wide; put them back after the test."""
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
