"""Dagster resources: the handles assets use to reach storage and services.

Assets never build paths themselves; they ask these resources, which are configured once from
`Settings` in `definitions.py` (or directly by tests pointing at temporary folders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from mlops_assets import lakehouse
from mlops_assets.feast_resource import FeastResource
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.settings import MLFLOW_TRACKING_URI_VARIABLE, REDIS_URL_VARIABLE, REPO_ROOT, Settings


class LakehouseResource(dg.ConfigurableResource):
    """Read and write daily partitions of lakehouse tables (Hive-style Parquet)."""

    root: str

    @property
    def root_path(self) -> Path:
        """The lakehouse root as a path."""
        return Path(self.root)

    def partition_path(self, table: str, day: date) -> Path:
        """The Parquet file of one partition."""
        return lakehouse.partition_path(self.root_path, table, day)

    def write_partition(self, table: str, day: date, frame: pl.DataFrame) -> Path:
        """Atomically replace one partition of `table` with `frame`."""
        return lakehouse.write_parquet_atomic(frame, self.partition_path(table, day))

    def write_partitions(self, table: str, frames: Mapping[date, pl.DataFrame]) -> dict[date, Path]:
        """Atomically replace each day's partition of `table` (a ranged run's days, written in parallel)."""
        paths = {day: self.partition_path(table, day) for day in frames}
        lakehouse.write_parquet_files_atomic({paths[day]: frame for day, frame in frames.items()})
        return paths

    def read_partition(self, table: str, day: date) -> pl.DataFrame:
        """Read one partition; a missing partition is an error naming the table, day and file."""
        path = self.partition_path(table, day)
        if not path.exists():
            raise FileNotFoundError(
                f"partition {day.isoformat()}: table {table} has no file at {path}; "
                f"materialize {table} for this partition first"
            )
        return pl.read_parquet(path)

    def read_partitions(self, table: str, days: Sequence[date]) -> dict[date, pl.DataFrame]:
        """Read many days' partitions at once (a ranged run's); a missing day is an error naming it."""
        return lakehouse.read_partitions(self.root_path, table, days)

    def read_partition_row_count(self, table: str, day: date) -> int | None:
        """Rows in one partition from the Parquet footer (no data read); None if it does not exist."""
        path = self.partition_path(table, day)
        if not path.exists():
            return None
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())

    def trailing_row_counts(self, table: str, day: date, days: int) -> list[int]:
        """Row counts of the partitions in the `days` days before `day` that exist (for volume checks)."""
        counts = (self.read_partition_row_count(table, day - timedelta(days=i)) for i in range(1, days + 1))
        return [n for n in counts if n is not None]

    def table_path(self, table: str) -> Path:
        """The single Parquet file of an unpartitioned table (e.g. `training_dataset`)."""
        return self.root_path / table / lakehouse.PARTITION_FILE

    def write_table(self, table: str, frame: pl.DataFrame) -> Path:
        """Atomically replace an unpartitioned table."""
        return lakehouse.write_parquet_atomic(frame, self.table_path(table))

    def read_table(self, table: str) -> pl.DataFrame:
        """Read an unpartitioned table; missing is an error naming the table and file."""
        path = self.table_path(table)
        if not path.exists():
            raise FileNotFoundError(f"table {table} has no file at {path}; materialize {table} first")
        return pl.read_parquet(path)

    def existing_days(self, table: str, start: date | None = None, end: date | None = None) -> list[date]:
        """Days with a partition of `table`: in [start, end) when given, else every day on disk."""
        days = None if start is None or end is None else lakehouse.days_between(start, end)
        return lakehouse.existing_days(self.root_path, table, days)

    def require_partitions(self, table: str, days: list[date]) -> None:
        """Raise naming the first missing partition of `table` among `days`, and how many are missing."""
        error = lakehouse.missing_partitions_error(self.root_path, table, days)
        if error is not None:
            raise error

    def scan_range(self, table: str, start: date, end: date) -> pl.LazyFrame | None:
        """Lazily scan the partitions of `table` in [start, end) that exist; None when none do."""
        return lakehouse.scan_days(self.root_path, table, lakehouse.days_between(start, end))


class LandingZoneResource(dg.ConfigurableResource):
    """The folder where raw files arrive, one sub-folder per day; read-only for the platform."""

    root: str

    @property
    def root_path(self) -> Path:
        """The landing zone as a path."""
        return Path(self.root)


class PredictionLogResource(dg.ConfigurableResource):
    """The scoring service's prediction log: `<root>/<YYYY-MM-DD>/<batch>.parquet`, files only added.

    The service writes it (`serving.log`), the `serving_log` asset reads it; this handle only knows the
    layout, the serving stage knows the schema.
    """

    root: str

    def day_dir(self, day: date) -> Path:
        """The folder of one day's batch files."""
        return Path(self.root) / day.isoformat()

    def day_files(self, day: date) -> list[Path]:
        """The day's batch files, in the order they were written."""
        return sorted(self.day_dir(day).glob("*.parquet"))


def connect_lakehouse(root: Path) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB with a view per table folder under `root`.

    A plain function as well as a resource, so notebooks can call it without Dagster.
    """
    con = duckdb.connect(":memory:")
    for table in lakehouse.partitioned_tables(root):
        pattern = lakehouse.table_glob(root, table).as_posix().replace("'", "''")
        con.execute(
            f'CREATE VIEW "{table}" AS SELECT * FROM '
            f"read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)"
        )
    return con


class ReportsResource(dg.ConfigurableResource):
    """The folder for Evidently reports (HTML + JSON) and other human-facing documents."""

    root: str

    def report_path(self, report: str, day: date, suffix: str = ".html") -> Path:
        """`<root>/<report>/<YYYY-MM-DD><suffix>`; the folder is created."""
        folder = Path(self.root) / report
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{day.isoformat()}{suffix}"


def secret_setting(variable: str, value: str | None) -> str | None:
    """`dg.EnvVar(variable)` when the setting is given, so Dagster stores the name, never the value.

    A resource field set to a plain string is part of every job snapshot in run storage (as the config
    default) and readable from the UI; an `EnvVar` is stored as `{"env": "NAME"}` and read from the
    environment only when the resource is initialised in a run. Outside a run, use
    `resource.process_config_and_initialize()` to get the resolved values.
    """
    return dg.EnvVar(variable) if value else None


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource the code location binds, configured from the settings."""
    return {
        "landing": LandingZoneResource(root=str(settings.landing_dir)),
        "lakehouse": LakehouseResource(root=str(settings.lakehouse_dir)),
        "reports": ReportsResource(root=str(settings.reports_dir)),
        "feast": _feast_resource(settings),
        "mlflow": _mlflow_resource(settings),
        "mlflow_tracking": _mlflow_tracking_resource(settings),
        "prediction_log": PredictionLogResource(root=str(settings.prediction_log_dir)),
    }


def _mlflow_resource(settings: Settings) -> dg.ConfigurableResource:
    return MlflowResource(
        tracking_uri=secret_setting(MLFLOW_TRACKING_URI_VARIABLE, settings.mlflow_tracking_uri_override)
        or settings.mlflow_tracking_uri,
        artifact_root=str(settings.mlflow_artifact_root),
    )


def _mlflow_tracking_resource(settings: Settings) -> dg.ConfigurableResource:
    # Imported here: dagster-mlflow and mlflow take seconds to import (only `fraud_model` requires it).
    from mlops_assets.mlflow_tracking import MlflowTrackingResource

    return MlflowTrackingResource(
        mlflow_tracking_uri=secret_setting(
            MLFLOW_TRACKING_URI_VARIABLE, settings.mlflow_tracking_uri_override
        )
        or settings.mlflow_tracking_uri,
        artifact_root=str(settings.mlflow_artifact_root),
    )


def _feast_resource(settings: Settings) -> dg.ConfigurableResource:
    return FeastResource(
        repo_path=str(REPO_ROOT / "feature_repo"),
        feast_dir=str(settings.feast_dir),
        lakehouse_dir=str(settings.lakehouse_dir),
        redis_url=secret_setting(REDIS_URL_VARIABLE, settings.redis_url),
    )
