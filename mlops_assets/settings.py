"""Where things live and which profile runs, read from environment variables in one place.

Every path the platform touches derives from `MLOPS_DATA_DIR`, so a test (or a user) points the whole
platform somewhere else by setting one variable. The daily partitions start at `MLOPS_START_DATE`
(default: the first day folder in the landing zone, see `partitions_start`). The production profile
is chosen by environment variables only: set `MLOPS_REDIS_URL` for the Feast online store on Redis and
`MLOPS_MLFLOW_TRACKING_URI` (e.g. `postgresql+psycopg2://user@host:5432/mlflow`: SQLAlchemy 2.1
reads a bare `postgresql://` as psycopg 3, which is not installed) for a PostgreSQL tracking store;
nothing in code changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Settings that may carry credentials: resources receive them as `dg.EnvVar` (see `resources`).
MLFLOW_TRACKING_URI_VARIABLE = "MLOPS_MLFLOW_TRACKING_URI"
REDIS_URL_VARIABLE = "MLOPS_REDIS_URL"
START_DATE_ENV = "MLOPS_START_DATE"
# Used only when MLOPS_START_DATE is unset and the landing zone holds no day folder yet.
FALLBACK_START = date(2025, 1, 1)


def landing_path(data_dir: Path) -> Path:
    """The landing zone under a data folder."""
    return data_dir / "landing"


def first_landing_day(landing_dir: Path) -> date | None:
    """The oldest `YYYY-MM-DD` day folder in the landing zone: where the data starts."""
    if not landing_dir.is_dir():
        return None
    days = []
    for folder in landing_dir.iterdir():
        try:
            days.append(date.fromisoformat(folder.name))
        except ValueError:
            continue
    return min(days, default=None)


def partitions_start(data_dir: Path) -> date:
    """The first daily partition: `MLOPS_START_DATE`, or the first landed day, or `FALLBACK_START`.

    Partitions start where the data starts, so the UI shows no months of "missing" days that never
    existed. Pin MLOPS_START_DATE in production: the first landed day moves if old landing folders
    are ever removed, and every partition before it would vanish from the UI.
    """
    configured = os.environ.get(START_DATE_ENV)
    if configured:
        try:
            return date.fromisoformat(configured)
        except ValueError as exc:
            raise ValueError(f"{START_DATE_ENV}={configured!r}: expected a date as YYYY-MM-DD") from exc
    return first_landing_day(landing_path(data_dir)) or FALLBACK_START


@dataclass(frozen=True)
class Settings:
    """Typed view of the platform's environment variables."""

    data_dir: Path
    partitions_start: date
    redis_url: str | None = None
    mlflow_tracking_uri_override: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings now (not at import time), so tests can change the environment first."""
        data_dir = Path(os.environ.get("MLOPS_DATA_DIR", REPO_ROOT / ".mlops")).resolve()
        return cls(
            data_dir=data_dir,
            partitions_start=partitions_start(data_dir),
            redis_url=os.environ.get(REDIS_URL_VARIABLE) or None,
            mlflow_tracking_uri_override=os.environ.get(MLFLOW_TRACKING_URI_VARIABLE) or None,
        )

    @property
    def landing_dir(self) -> Path:
        """Where raw files arrive, one folder per day; the platform never modifies them."""
        return landing_path(self.data_dir)

    @property
    def lakehouse_dir(self) -> Path:
        """Hive-partitioned Parquet tables, one folder per asset."""
        return self.data_dir / "lakehouse"

    @property
    def mlflow_dir(self) -> Path:
        """Local MLflow state: the SQLite tracking store and the artifact root."""
        return self.data_dir / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        """SQLite by default (MLflow 3 deprecates the file store); PostgreSQL in production."""
        return self.mlflow_tracking_uri_override or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        """Explicit, or MLflow drops artifacts into `./mlruns` of whatever directory it runs in."""
        return self.mlflow_dir / "artifacts"

    @property
    def feast_dir(self) -> Path:
        """Feast registry and the embedded SQLite online store."""
        return self.data_dir / "feast"

    @property
    def prediction_log_dir(self) -> Path:
        """The scoring service's prediction log: one folder per day of micro-batch Parquet files."""
        return self.data_dir / "serving" / "prediction_log"

    @property
    def reports_dir(self) -> Path:
        """Evidently HTML/JSON reports and model cards."""
        return self.data_dir / "reports"
