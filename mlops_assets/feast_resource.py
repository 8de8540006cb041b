"""`FeastResource`: the fraud feature store, configured in Python from the platform's settings.

The configuration is rendered here rather than read from `feature_repo/feature_store.yaml` because Feast
expands `${VAR}` in the yaml without defaults: the platform needs "SQLite under `$MLOPS_DATA_DIR/feast`
unless `MLOPS_REDIS_URL` names a Redis", which only code can say. The objects (entities, feature views,
feature service) are defined once, in `feature_repo/fraud_features.py`, and applied through Feast's
Python API (`FeatureStore.apply`): the CLI costs seconds per call and is never run by hand.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import yaml

from mlops_assets.lakehouse import write_text_atomic
from mlops_assets.services import redis_service_from_url

if TYPE_CHECKING:  # feast takes seconds to import: only inside the methods that use it.
    from feast import FeatureStore, RepoConfig

PROJECT = "mlops_fraud"
REDIS_SCHEMES = ("redis", "rediss")
DEFINITIONS_FILE = "fraud_features.py"
CLI_CONFIG_FILE = "feature_store.yaml"


def redis_connection_string(url: str) -> str:
    """Feast's Redis connection string (`host:port,db=N,password=...,ssl=true`) from `MLOPS_REDIS_URL`.

    Read by the production preflight's parser (`services.redis_service_from_url`), so Feast writes to
    the Redis the preflight pinged and both accept the same values: `redis[s]://[:password@]host:port/db`
    or Feast's own `host:port[,password=...][,db=N][,ssl=true]`.
    """
    scheme, has_scheme, _ = url.partition("://")
    if has_scheme and scheme not in REDIS_SCHEMES:
        raise ValueError(f"MLOPS_REDIS_URL: expected redis://host:port/db, got scheme {scheme!r}")
    service = redis_service_from_url("MLOPS_REDIS_URL", url)
    options = service.connect_kwargs
    parts = [service.address]
    parts += [
        f"{key}={options[key]}" for key in ("db", "username", "password") if options.get(key) is not None
    ]
    if options.get("ssl"):
        parts.append("ssl=true")
    return ",".join(parts)


class FeastResource(dg.ConfigurableResource):
    """The Feast feature store of the fraud model.

    Local provider, duckdb offline store over the lakehouse Parquet, SQLite online store under
    `feast_dir` (or Redis when `redis_url` is set).
    """

    repo_path: str
    feast_dir: str
    lakehouse_dir: str
    redis_url: str | None = None
    project: str = PROJECT

    @property
    def online_store_type(self) -> str:
        """`redis` or `sqlite`."""
        return "redis" if self.redis_url else "sqlite"

    def repo_config(self) -> RepoConfig:
        """The Feast configuration, rendered from this resource's fields."""
        from feast import RepoConfig
        from feast.repo_config import RegistryConfig

        feast_dir = Path(self.feast_dir)
        online: dict[str, Any]
        if self.redis_url:
            online = {"type": "redis", "connection_string": redis_connection_string(self.redis_url)}
        else:
            online = {"type": "sqlite", "path": str(feast_dir / "online_store.db")}
        return RepoConfig(
            project=self.project,
            provider="local",
            registry=RegistryConfig(path=str(feast_dir / "registry.db"), cache_ttl_seconds=60),
            offline_store={"type": "duckdb"},
            online_store=online,
            entity_key_serialization_version=3,
            repo_path=Path(self.repo_path),
        )

    def feature_store(self) -> FeatureStore:
        """A `FeatureStore` on the rendered configuration (creates `feast_dir` if needed)."""
        from feast import FeatureStore

        Path(self.feast_dir).mkdir(parents=True, exist_ok=True)
        return FeatureStore(repo_path=self.repo_path, config=self.repo_config())

    def definitions(self) -> dict[str, object]:
        """The Feast objects from `feature_repo/fraud_features.py`, reading this lakehouse."""
        path = Path(self.repo_path) / DEFINITIONS_FILE
        # Loaded by path under a private name: `feature_repo` is a Feast repo, not a Python package.
        spec = importlib.util.spec_from_file_location("_mlops_feature_repo_definitions", path)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(f"feature repo: no definitions at {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.build_objects(Path(self.lakehouse_dir))

    def cli_config_path(self) -> Path:
        """Where `apply` leaves this configuration as a feature_store.yaml, for the Feast CLI (`feast -f`)."""
        return Path(self.feast_dir) / CLI_CONFIG_FILE

    def apply(self) -> FeatureStore:
        """`feast apply` through the Python API (idempotent); returns the store.

        Also writes the rendered configuration to `cli_config_path()`, so the Feast CLI reads the very
        registry and online store the platform wrote, whatever `MLOPS_DATA_DIR` and profile are set.
        """
        store = self.feature_store()
        store.apply(list(self.definitions().values()))  # type: ignore[arg-type]
        config = self.repo_config().model_dump(mode="json", by_alias=True, exclude_none=True)
        config.pop("repo_path", None)  # the CLI's repo is `-c feature_repo`
        write_text_atomic(yaml.safe_dump(config, sort_keys=False), self.cli_config_path())
        return store
