"""MLflow on PostgreSQL and Feast on Redis, through the platform's own resources, against real services.

Each test gets a fresh PostgreSQL database (dropped after) or a Feast project of its own in Redis (torn
down after), so it can run beside anything else using the same servers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psycopg2
import pytest

from mlops_assets.lakehouse import partition_path
from mlops_assets.production import preflight
from mlops_assets.settings import REPO_ROOT, Settings


def _pg_url(params: dict[str, Any]) -> str:
    # The explicit driver: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg v3 (see production.py).
    auth = params["user"] + (f":{params['password']}" if params.get("password") else "")
    return f"postgresql+psycopg2://{auth}@{params['host']}:{params['port']}/{params['dbname']}"


def test_mlflow_logs_and_registers_a_champion_on_postgres(
    fresh_pg_database: Callable[[str], dict[str, Any]],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    isolated_mlflow_uris: None,
) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from mlops_assets.mlflow_resource import MlflowResource

    params = fresh_pg_database("mlflow")
    monkeypatch.setenv("MLOPS_MLFLOW_TRACKING_URI", _pg_url(params))
    settings = Settings.from_env()
    assert settings.mlflow_tracking_uri == _pg_url(params)
    assert [line.split(" at ")[0] for line in preflight(settings)] == ["MLflow tracking store (PostgreSQL)"]

    resource = MlflowResource(
        tracking_uri=settings.mlflow_tracking_uri, artifact_root=str(tmp_path / "artifacts")
    )
    features = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(features, [0, 0, 1, 1])
    name = "fraud_test_model"
    with resource.start_run("postgres-smoke", tags={"dagster_run_id": "test"}) as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("pr_auc", 0.875)
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name, pip_requirements=["scikit-learn"]
        )
    client = resource.client()
    version = info.registered_model_version
    client.set_registered_model_alias(name, "champion", version)

    champion = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert champion.predict(np.array([[0.0], [3.0]])).tolist() == [0, 1]
    assert client.get_model_version_by_alias(name, "champion").run_id == run.info.run_id

    # The records are in Postgres itself, not in a SQLite file that happened to be the default.
    connection = psycopg2.connect(**params)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT key, value FROM metrics WHERE run_uuid = %s", (run.info.run_id,))
            assert cursor.fetchall() == [("pr_auc", 0.875)]
            cursor.execute("SELECT name, alias, version FROM registered_model_aliases")
            assert cursor.fetchall() == [(name, "champion", int(version))]
    finally:
        connection.close()


def test_feast_online_store_on_redis_through_the_platform_resource(
    redis_url: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The features stage's FeastResource, switched to Redis by MLOPS_REDIS_URL: apply, materialize, read."""
    from mlops_assets.feature_catalog import CUSTOMER_FEATURE_VIEW, CUSTOMER_FEATURES
    from mlops_assets.resources import build_resources

    monkeypatch.setenv("MLOPS_REDIS_URL", redis_url)
    settings = Settings.from_env()
    assert [line.split(" at ")[0] for line in preflight(settings)] == ["Feast online store (Redis)"]
    from mlops_assets.feast_resource import FeastResource

    # Initialised, as in a run: the Redis URL reaches the resource as dg.EnvVar("MLOPS_REDIS_URL").
    feast_resource = build_resources(settings)["feast"].process_config_and_initialize()
    assert isinstance(feast_resource, FeastResource)
    assert feast_resource.online_store_type == "redis"
    # A project of its own, so the test never touches (or is touched by) anything else in this Redis.
    feast_resource = feast_resource.model_copy(update={"project": f"mlops_test_{secrets.token_hex(4)}"})

    # Two customers' feature rows in the lakehouse layout the feature view reads.
    day = datetime(2026, 1, 5, tzinfo=UTC)
    customer = pl.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "event_timestamp": [day + timedelta(hours=1), day + timedelta(hours=2)],
            **{f: [1.5, 2.5] for f in CUSTOMER_FEATURES},
        }
    ).with_columns(pl.col("event_timestamp").dt.cast_time_unit("us"))
    path = partition_path(settings.lakehouse_dir, CUSTOMER_FEATURE_VIEW, date(2026, 1, 5))
    path.parent.mkdir(parents=True)
    customer.write_parquet(path)

    store = feast_resource.apply()
    try:
        store.materialize(day, day + timedelta(days=1), feature_views=[CUSTOMER_FEATURE_VIEW])
        feature = CUSTOMER_FEATURES[0]
        online = store.get_online_features(
            features=[f"{CUSTOMER_FEATURE_VIEW}:{feature}"],
            entity_rows=[{"customer_id": "c1"}, {"customer_id": "c2"}, {"customer_id": "nobody"}],
        ).to_dict()
        assert online[feature] == [1.5, 2.5, None]
    finally:
        store.teardown()  # deletes this project's keys from Redis


def test_feature_repo_yaml_is_valid_for_feast(monkeypatch: pytest.MonkeyPatch) -> None:
    """feature_store.yaml (the CLI's profile) loads as a Feast RepoConfig on the default data folder."""
    from mlops_assets.production import validate_feature_store_yaml

    path = REPO_ROOT / "feature_repo" / "feature_store.yaml"
    monkeypatch.delenv("MLOPS_DATA_DIR", raising=False)  # no variable needed
    config = validate_feature_store_yaml(path)
    assert config.project == "mlops_fraud"
    assert config.online_store.type == "sqlite"
    default_feast_dir = Settings.from_env().feast_dir
    # Feast reads relative paths from the repo folder: both land in the platform's default data folder.
    assert (path.parent / config.online_store.path).resolve() == default_feast_dir / "online_store.db"
    assert (path.parent / config.registry.path).resolve() == default_feast_dir / "registry.db"
