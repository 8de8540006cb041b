"""A password in the tracking URI reaches MLflow's connection and nowhere else.

The pipeline's MLflow assets run with `MLOPS_MLFLOW_TRACKING_URI=postgresql+psycopg2://user:<password>@...`
(the test server trusts loopback, so the password is accepted and ignored), on the local SQLite instance
and on the production PostgreSQL instance from deploy/dagster.yaml. Then every place Dagster and MLflow
keep things is searched for the password: run storage (job snapshots decompressed), the event log,
compute logs and every file under the temporary folders, and MLflow's database and artifacts.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
import pytest
from psycopg2 import sql
from shared_fixtures import synthetic_frame

from mlops_assets.defs.training.assets import fraud_model, model_promotion
from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME
from mlops_assets.feature_catalog import MODEL_FEATURES
from mlops_assets.instance import prepare_instance
from mlops_assets.resources import build_resources
from mlops_assets.services import redact_uri
from mlops_assets.settings import MLFLOW_TRACKING_URI_VARIABLE, REPO_ROOT, Settings

TRAIN_CONFIG = {
    "validation_days": 3,
    "holdout_days": 3,
    "min_rows": 100,
    "min_positives": 10,
    "lightgbm_max_rounds": 20,
    "torch_max_epochs": 10,
    "num_threads": 1,
}


def _texts(value: Any) -> Iterator[str]:
    """A stored value as text: bytes are tried as zlib (Dagster compresses snapshots) and as UTF-8."""
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        with contextlib.suppress(zlib.error):
            yield zlib.decompress(value).decode("utf-8", "replace")
        yield value.decode("utf-8", "replace")
    elif value is not None:
        yield str(value)


def _sqlite_text(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(
            text
            for table in tables
            for row in connection.execute(f'SELECT * FROM "{table}"')
            for value in row
            for text in _texts(value)
        )
    finally:
        connection.close()


def _postgres_text(params: dict[str, Any]) -> str:
    connection = psycopg2.connect(**params)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = [r[0] for r in cursor.fetchall()]
            chunks = []
            for table in tables:
                cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
                chunks += [text for row in cursor.fetchall() for value in row for text in _texts(value)]
            return "\n".join(chunks)
    finally:
        connection.close()


def _files_text(root: Path) -> str:
    """Every file under `root`; SQLite databases read table by table (snapshots decompressed)."""
    chunks = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        content = path.read_bytes()
        chunks.append(_sqlite_text(path) if content.startswith(b"SQLite format 3") else "")
        chunks += list(_texts(content))
    return "\n".join(chunks)


def _instance_home(tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> dict[str, Any] | None:
    """DAGSTER_HOME with the repository's (SQLite) or the production (PostgreSQL) dagster.yaml."""
    home = tmp_path / "dagster_home_secrets"
    home.mkdir()
    if kind == "sqlite":
        shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
        pg = None
    else:
        pg = request.getfixturevalue("dagster_pg_env")
        shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    prepare_instance()
    return pg


@pytest.mark.slow
@pytest.mark.parametrize("instance_kind", ["sqlite", "postgres"])
def test_a_password_in_the_tracking_uri_is_stored_nowhere(
    instance_kind: str,
    fresh_pg_database: Callable[[str], dict[str, Any]],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    isolated_mlflow_uris: None,
) -> None:
    mlflow_db = fresh_pg_database("mlflow_secret")
    # Trust authentication ignores a password; a server that checks them gets its real one.
    password = mlflow_db.get("password") or f"Sw0rdf1sh{secrets.token_hex(8)}"
    uri = (
        f"postgresql+psycopg2://{mlflow_db['user']}:{password}@{mlflow_db['host']}:{mlflow_db['port']}"
        f"/{mlflow_db['dbname']}"
    )
    monkeypatch.setenv(MLFLOW_TRACKING_URI_VARIABLE, uri)
    dagster_pg = _instance_home(tmp_path, instance_kind, request)
    settings = Settings.from_env()
    resources = build_resources(settings)
    resources["lakehouse"].write_table("training_dataset", synthetic_frame(features=MODEL_FEATURES))

    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            [fraud_model, model_promotion],
            resources=resources,
            run_config={"ops": {"fraud_model": {"config": TRAIN_CONFIG}}},
            instance=instance,
        )
        assert result.success
        run_storage = type(instance.run_storage).__name__
    assert run_storage == {"sqlite": "SqliteRunStorage", "postgres": "PostgresRunStorage"}[instance_kind]

    # The steps' stdout/stderr were captured (and are searched below with every other file).
    assert list((tmp_path / "dagster_home_secrets" / "storage").rglob("compute_logs/*.err"))
    # The runs went through the URI with the password: MLflow's records are in that database.
    mlflow_text = _postgres_text(mlflow_db)
    assert REGISTERED_MODEL_NAME in mlflow_text and result.run_id in mlflow_text

    stored = {
        "files under the temporary folders (runs.db, event logs, compute logs, lakehouse, artifacts)": (
            _files_text(tmp_path)
        ),
        "MLflow's database": mlflow_text,
    }
    if dagster_pg is not None:
        stored["the PostgreSQL run storage and event log"] = _postgres_text(dagster_pg)
    leaks = [where for where, text in stored.items() if password in text]
    assert leaks == []
    run_storage_text = stored.get("the PostgreSQL run storage and event log") or stored[next(iter(stored))]
    # What the job snapshot keeps instead: the variable's name (so we searched the right place).
    assert re.search(
        rf'tracking_uri\\?": {{\\?"env\\?": \\?"{MLFLOW_TRACKING_URI_VARIABLE}', run_storage_text
    )


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("postgresql://u:pw@db:5432/m", "postgresql://u:***@db:5432/m"),
        ("postgresql+psycopg2://user:pa/ss@host/db", "postgresql+psycopg2://user:***@host/db"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "postgresql://u@h/db?password=pw&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("cache:6379,password=pw,ssl=true", "cache:6379,password=***,ssl=true"),
        ("https://h/api?api_key=K&x=1", "https://h/api?api_key=***&x=1"),
        (
            "could not connect to postgresql://app:s3/cr@db.internal:5432/x: timeout",
            "could not connect to postgresql://app:***@db.internal:5432/x: timeout",
        ),
        ("sqlite:////tmp/m.db", "sqlite:////tmp/m.db"),
        ("postgresql://u@h:5432/db", "postgresql://u@h:5432/db"),
    ],
)
def test_redact_uri_hides_every_password_shape(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown
