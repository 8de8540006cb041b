"""Bad input for the production profile: unreachable services, malformed or misspelt config files.

Each failure must arrive within seconds and name the thing to fix: the service and its address, or the
file and the key. No service is needed: closed ports and temporary files stand in for broken setups.
"""

from __future__ import annotations

import socket
from datetime import date
from pathlib import Path

import pytest

from mlops_assets.production import (
    ConfigFileError,
    ServiceUnavailableError,
    configuration_problems,
    preflight,
    production_services,
    validate_dagster_yaml,
    validate_feature_store_yaml,
)
from mlops_assets.services import redis_service_from_url
from mlops_assets.settings import REPO_ROOT, Settings

CLOSED = "127.0.0.1:1"  # nothing listens on port 1: connection refused at once


def _settings(redis_url: str | None = None, mlflow_uri: str | None = None) -> Settings:
    return Settings(Path("/tmp/unused"), date(2026, 1, 1), redis_url, mlflow_uri)


def test_local_profile_checks_nothing() -> None:
    assert preflight(_settings(), env={}) == []
    assert production_services(_settings(), env={}) == []


def test_unreachable_services_fail_within_seconds_naming_service_and_address() -> None:
    env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "1",
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_DB": "d",
    }
    settings = _settings(
        redis_url=f"redis://{CLOSED}/0", mlflow_uri=f"postgresql+psycopg2://u:s3cret@{CLOSED}/mlflow"
    )
    with pytest.raises(ServiceUnavailableError) as raised:
        preflight(settings, env=env, timeout_s=3)
    message = str(raised.value)
    # Refused at once by the closed port, not left to time out: one "refused" per service.
    assert message.count("Connection refused") == 3, message
    for service in (
        "Dagster instance storage (PostgreSQL)",
        "MLflow tracking store (PostgreSQL)",
        "Feast online store (Redis)",
    ):
        assert f"{service} at {CLOSED}: UNREACHABLE" in message
    assert "s3cret" not in message  # addresses only, never credentials


def test_a_silent_service_times_out_instead_of_hanging() -> None:
    # A loopback listener that accepts (through its backlog) and never answers stands in for a filtered or
    # hung service: the TCP connect succeeds, the Redis PING must give up after the timeout given.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        settings = _settings(redis_url=f"redis://{address}/0")
        with pytest.raises(ServiceUnavailableError) as raised:
            preflight(settings, env={}, timeout_s=0.5)
    message = str(raised.value)
    assert f"Feast online store (Redis) at {address}: UNREACHABLE" in message
    assert "Timeout" in message


def test_production_profile_names_missing_variables() -> None:
    with pytest.raises(ServiceUnavailableError) as raised:
        preflight(_settings(), env={"MLOPS_PROFILE": "production"})
    assert "DAGSTER_PG_HOST" in str(raised.value)
    assert "MLOPS_MLFLOW_TRACKING_URI" in str(raised.value)
    assert "MLOPS_REDIS_URL" in str(raised.value)


def test_bare_postgres_scheme_is_a_configuration_problem() -> None:
    problems = configuration_problems(_settings(mlflow_uri="postgres://u@db:5432/mlflow"), env={})
    assert len(problems) == 1
    assert problems[0].startswith("MLOPS_MLFLOW_TRACKING_URI: scheme postgres://")
    assert "postgresql+psycopg2://" in problems[0]


def test_redis_addresses_in_url_and_feast_form() -> None:
    url = redis_service_from_url("r", "redis://:pw@cache.internal:6380/2")
    assert (url.host, url.port, url.address) == ("cache.internal", 6380, "cache.internal:6380")
    feast_form = redis_service_from_url("r", "cache.internal:6381,password=pw,db=3,ssl=true")
    assert feast_form.address == "cache.internal:6381"
    assert dict(feast_form.connect_kwargs) == {
        "host": "cache.internal",
        "port": 6381,
        "password": "pw",
        "db": 3,
        "ssl": True,
    }


def test_redis_url_form_breaks_out_what_a_feast_connection_string_needs() -> None:
    """db, user, password (percent-decoded) and TLS, so Feast's string is built without parsing again."""
    service = redis_service_from_url("MLOPS_REDIS_URL", "rediss://app:p%40ss%2Cw@cache.internal:6380/2")
    kwargs = dict(service.connect_kwargs)
    assert kwargs.pop("url") == "rediss://app:p%40ss%2Cw@cache.internal:6380/2"  # redis-py's own parser
    assert kwargs == {
        "host": "cache.internal",
        "port": 6380,
        "db": 2,
        "username": "app",
        "password": "p@ss,w",
        "ssl": True,
    }
    plain = redis_service_from_url("MLOPS_REDIS_URL", "redis://cache.internal")
    assert dict(plain.connect_kwargs) == {
        "url": "redis://cache.internal",
        "host": "cache.internal",
        "port": 6379,
    }
    assert "secret" not in repr(redis_service_from_url("r", "redis://:secret@h:1/0"))


def test_redis_feast_form_with_ipv6_host_and_spaces() -> None:
    service = redis_service_from_url("r", "[::1]:6390, db=4 ,password=pw")
    assert (service.host, service.port) == ("::1", 6390)
    assert dict(service.connect_kwargs) == {"host": "::1", "port": 6390, "db": 4, "password": "pw"}
    assert redis_service_from_url("r", "cache.internal").address == "cache.internal:6379"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:secret@cache.internal:63x9/0", r"^MLOPS_REDIS_URL: expected redis://host:port/db"),
        ("redis://:secret@cache.internal:6379/zero", r"^MLOPS_REDIS_URL: expected redis://host:port/db"),
        ("cache.internal:6379,db=zero,password=secret", r"^MLOPS_REDIS_URL: expected host:port\[,db=N"),
        ("cache.internal:port,password=secret", r"^MLOPS_REDIS_URL: expected host:port\[,db=N"),
    ],
)
def test_bad_redis_values_are_named_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        redis_service_from_url("MLOPS_REDIS_URL", url)
    assert "secret" not in str(error.value)


# --- dagster.yaml -------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_deploy_dagster_yaml_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    ):
        monkeypatch.setenv(var, "5432" if var.endswith("PORT") else "x")
    data = validate_dagster_yaml(REPO_ROOT / "deploy" / "dagster.yaml")
    assert data["storage"]["postgres"]["postgres_db"]["db_name"] == {"env": "DAGSTER_PG_DB"}
    validate_dagster_yaml(REPO_ROOT / "dagster.yaml", check_env=False)  # the local default too


def test_malformed_dagster_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "dagster.yaml", "storage:\n  postgres:\n    postgres_db: [unclosed\n")
    with pytest.raises(ConfigFileError, match=rf"{path}: malformed YAML at line \d+"):
        validate_dagster_yaml(path)


def test_unknown_and_missing_dagster_yaml_keys_are_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "dagster.yaml",
        "storage:\n  postgres:\n    postgres_db:\n      hostnam: db\n      username: u\n      db_name: d\n"
        "run_coordinatr:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n",
    )
    with pytest.raises(ConfigFileError) as raised:
        validate_dagster_yaml(path)
    lines = str(raised.value).splitlines()[1:]
    assert sorted(line.strip() for line in lines) == [
        f"{path}: key run_coordinatr: unknown key",
        f"{path}: key storage.postgres.postgres_db.hostnam: unknown key",
        f"{path}: key storage.postgres.postgres_db.hostname: missing required key",
    ]


def test_unset_environment_variable_in_dagster_yaml_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOPS_TEST_UNSET_HOST", raising=False)
    path = _write(
        tmp_path,
        "dagster.yaml",
        "storage:\n  postgres:\n    postgres_db:\n      hostname: {env: MLOPS_TEST_UNSET_HOST}\n"
        "      username: u\n      db_name: d\n",
    )
    with pytest.raises(
        ConfigFileError,
        match=rf"{path}: key storage.postgres.postgres_db.hostname: "
        "environment variable MLOPS_TEST_UNSET_HOST is not set",
    ):
        validate_dagster_yaml(path)


# --- feature_store.yaml -------------------------------------------------------------------------------

FEAST_OK = "project: p\nprovider: local\nregistry: data/registry.db\n"


def test_malformed_feature_store_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "feature_store.yaml", FEAST_OK + "online_store:\n  type: redis\n   connection_string: x\n"
    )
    with pytest.raises(
        ConfigFileError,
        match=rf"{path}: malformed YAML at line 6, column 21: mapping values are not allowed here",
    ):
        validate_feature_store_yaml(path)


def test_feature_store_yaml_unknown_nested_key_is_named_with_its_section(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "feature_store.yaml",
        FEAST_OK + "online_store:\n  type: redis\n  connection_strin: h:6379\n",
    )
    with pytest.raises(
        ConfigFileError, match=rf"{path}: key online_store.connection_strin: Extra inputs are not permitted"
    ):
        validate_feature_store_yaml(path)


def test_feature_store_yaml_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    # Feast itself would silently ignore the misspelt section and fall back to a SQLite online store.
    path = _write(tmp_path, "feature_store.yaml", FEAST_OK + "online_stor:\n  type: redis\n")
    with pytest.raises(ConfigFileError, match=rf"{path}: key online_stor: unknown key"):
        validate_feature_store_yaml(path)


def test_feature_store_yaml_wrong_type_and_missing_registry_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "feature_store.yaml", "project: p\nentity_key_serialization_version: three\n")
    with pytest.raises(ConfigFileError, match=rf"{path}: key registry: missing required key"):
        validate_feature_store_yaml(path)
    path = _write(tmp_path, "feature_store.yaml", FEAST_OK + "entity_key_serialization_version: three\n")
    with pytest.raises(
        ConfigFileError,
        match=rf"{path}: key entity_key_serialization_version: Input should be a valid integer",
    ):
        validate_feature_store_yaml(path)


def test_valid_feature_store_yaml_on_redis_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "feature_store.yaml",
        FEAST_OK + "online_store:\n  type: redis\n  connection_string: h:6379\n",
    )
    config = validate_feature_store_yaml(path)
    assert (config.online_store.type, config.online_store.connection_string) == ("redis", "h:6379")
