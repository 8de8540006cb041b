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
    from feast.repo_contents import RepoContents

PROJECT = "mlops_fraud"
REDIS_SCHEMES = ("redis", "rediss")
DEFINITIONS_FILE = "fraud_features.py"
CLI_CONFIG_FILE = "feature_store.yaml"
CLI_REDIS_PASSWORD_VARIABLE = "MLOPS_REDIS_PASSWORD"


def redis_connection_string(url: str, password: str | None = None) -> str:
    """Feast's Redis connection string (`host:port,db=N,password=...,ssl=true`) from `MLOPS_REDIS_URL`.

    Read by the production preflight's parser (`services.redis_service_from_url`), so Feast writes to
    the Redis the preflight pinged and both accept the same values: `redis[s]://[:password@]host:port/db`
    or Feast's own `host:port[,password=...][,db=N][,ssl=true]`. `password`, when given, is written
    instead of the URL's own (e.g. a `${VAR}` reference, so a file never holds the secret).
    """
    scheme, has_scheme, _ = url.partition("://")
    if has_scheme and scheme not in REDIS_SCHEMES:
        raise ValueError(f"MLOPS_REDIS_URL: expected redis://host:port/db, got scheme {scheme!r}")
    service = redis_service_from_url("MLOPS_REDIS_URL", url)
    options = dict(service.connect_kwargs)
    if password is not None and options.get("password") is not None:
        options["password"] = password
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

    def repo_contents(self) -> RepoContents:
        """The objects of `definitions()` as the `RepoContents` that `feast apply` parses from a repo."""
        from feast import Entity, FeatureService, FeatureView
        from feast.data_source import DataSource
        from feast.project import Project
        from feast.repo_contents import RepoContents

        objects = list(self.definitions().values())
        views = [o for o in objects if isinstance(o, FeatureView)]
        return RepoContents(
            projects=[Project(name=self.project)],
            # Copies: registering a source stamps `last_updated_timestamp = now` into the object itself
            # (`Registry.apply_data_source`); on the view's own source, that stamp would be stored with the
            # view and `feast plan`, which parses the fixed stamp of `fraud_features.py`, would report the
            # view as updated.
            data_sources=[
                DataSource.from_proto(view.batch_source.to_proto())
                for view in views
                if view.batch_source is not None
            ],
            feature_views=views,
            on_demand_feature_views=[],
            stream_feature_views=[],
            label_views=[],
            entities=[o for o in objects if isinstance(o, Entity)],
            feature_services=[o for o in objects if isinstance(o, FeatureService)],
            permissions=[],
        )

    def apply(self) -> FeatureStore:
        """`feast apply`, through the very function the CLI calls (idempotent); returns the store.

        `FeatureStore.apply` would create the online tables but not record them as the project's
        infrastructure in the registry, so `feast plan` would then report them as still to be created;
        `repo_operations.apply_total_with_repo_instance` plans, applies and records both, as `feast apply`
        does (it also deletes objects no longer defined). Source validation is skipped: the sources are
        globs over the lakehouse partitions, which Feast's path check cannot resolve (it would only warn).

        Also writes the rendered configuration to `cli_config_path()`, so the Feast CLI reads the very
        registry and online store the platform wrote, whatever `MLOPS_DATA_DIR` and profile are set.
        """
        from feast.repo_operations import apply_total_with_repo_instance

        store = self.feature_store()
        apply_total_with_repo_instance(
            store, self.project, store.registry, self.repo_contents(), skip_source_validation=True
        )
        write_text_atomic(self.cli_config_text(), self.cli_config_path())
        return store

    def cli_config_text(self) -> str:
        """The rendered configuration as feature_store.yaml text, with no secret in it.

        A Redis password becomes `${MLOPS_REDIS_PASSWORD}`, which Feast expands when it reads the file:
        the CLI user exports that variable instead of the platform writing the password to disk.
        """
        config = self.repo_config().model_dump(mode="json", by_alias=True, exclude_none=True)
        config.pop("repo_path", None)  # the CLI's repo is `-c feature_repo`
        if self.redis_url:
            config["online_store"]["connection_string"] = redis_connection_string(
                self.redis_url, password=f"${{{CLI_REDIS_PASSWORD_VARIABLE}}}"
            )
        return yaml.safe_dump(config, sort_keys=False)
