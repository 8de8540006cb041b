"""Dagster resources: the handles assets use to reach storage and services.

Assets never build paths themselves; they ask these resources, which are configured once from
`Settings` in `definitions.py` (or directly by tests pointing at temporary folders).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from mlops_assets import lakehouse
from mlops_assets.settings import Settings


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

    def read_partition(self, table: str, day: date) -> pl.DataFrame:
        """Read one partition; a missing partition is an error naming the table, day and file."""
        path = self.partition_path(table, day)
        if not path.exists():
            raise FileNotFoundError(
                f"partition {day.isoformat()}: table {table} has no file at {path}; "
                f"materialize {table} for this partition first"
            )
        return pl.read_parquet(path)

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


class DuckDBLakehouseResource(dg.ConfigurableResource):
    """DuckDB views over the lakehouse tables, for analysts and SQL-shaped logic.

    Each connection is in-memory and the views read the Parquet files in place, so there is no copy
    and no database file whose write lock would block a notebook while a run writes.
    """

    lakehouse_root: str

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A fresh in-memory connection with one view per lakehouse table."""
        return connect_lakehouse(Path(self.lakehouse_root))


def connect_lakehouse(root: Path) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB with a view per table folder under `root`.

    A plain function as well as a resource, so notebooks can call it without Dagster.
    """
    con = duckdb.connect(":memory:")
    if root.exists():
        for table_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            if not any(table_dir.glob("date=*/*.parquet")):
                continue
            pattern = (table_dir / "date=*" / "*.parquet").as_posix().replace("'", "''")
            con.execute(
                f'CREATE VIEW "{table_dir.name}" AS SELECT * FROM '
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


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource the code location binds, configured from the settings."""
    return {
        "landing": LandingZoneResource(root=str(settings.landing_dir)),
        "lakehouse": LakehouseResource(root=str(settings.lakehouse_dir)),
        "duckdb": DuckDBLakehouseResource(lakehouse_root=str(settings.lakehouse_dir)),
        "reports": ReportsResource(root=str(settings.reports_dir)),
        "feast": _feast_resource(settings),
        "mlflow": _mlflow_resource(settings),
        "prediction_log": _prediction_log_resource(settings),
    }


def _mlflow_resource(settings: Settings) -> dg.ConfigurableResource:
    # Imported here: the MLflow resource lives with the training stage (see why it is not dagster-mlflow's).
    from mlops_assets.defs.training.mlflow_resource import MlflowResource

    return MlflowResource(
        tracking_uri=settings.mlflow_tracking_uri, artifact_root=str(settings.mlflow_artifact_root)
    )


def _feast_resource(settings: Settings) -> dg.ConfigurableResource:
    # Imported here: the Feast resource lives with the feature stage that owns the feature repo.
    from mlops_assets.defs.features.feast_resource import FeastResource
    from mlops_assets.settings import REPO_ROOT

    return FeastResource(
        repo_path=str(REPO_ROOT / "feature_repo"),
        feast_dir=str(settings.feast_dir),
        lakehouse_dir=str(settings.lakehouse_dir),
        redis_url=settings.redis_url,
    )


def _prediction_log_resource(settings: Settings) -> dg.ConfigurableResource:
    # Imported here: the prediction log belongs to the serving stage that writes and reads it.
    from mlops_assets.defs.serving.resources import PredictionLogResource

    return PredictionLogResource(root=str(settings.prediction_log_dir))
