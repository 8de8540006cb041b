"""`PredictionLogResource`: where the scoring service writes its prediction log (read by `serving_log`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from mlops_assets.serving.log import log_day_dir, read_log_day


class PredictionLogResource(dg.ConfigurableResource):
    """The prediction log folder: `<root>/<YYYY-MM-DD>/<batch>.parquet` (see `serving.log`)."""

    root: str

    def read_day(self, day: date) -> pl.DataFrame:
        """Every record served for `day` (empty, with the log's schema, when nothing was served)."""
        return read_log_day(Path(self.root), day)

    def day_files(self, day: date) -> list[Path]:
        """The day's batch files, oldest first."""
        return sorted(log_day_dir(Path(self.root), day).glob("*.parquet"))
