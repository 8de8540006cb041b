"""Helpers of the feature tests: validated partitions of simulated transactions in a temporary lakehouse.

A plain module, not a conftest: other test folders import the root conftest as `conftest`.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import polars as pl

from mlops_assets.resources import LakehouseResource
from mlops_assets.settings import Settings
from mlops_assets.simulator import SimulationConfig, simulate_day
from mlops_assets.tables import VALIDATED_TABLE

VALIDATED = VALIDATED_TABLE
START = date(2025, 3, 1)


def write_validated(
    settings: Settings, start: date = START, days: int = 4, rows_per_day: int = 150
) -> pl.DataFrame:
    """Simulate `days` days and write them as validated partitions; returns all rows."""
    config = SimulationConfig(start=start, days=days, rows_per_day=rows_per_day)
    lakehouse = LakehouseResource(root=str(settings.lakehouse_dir))
    frames = []
    for i in range(days):
        frame = simulate_day(start + timedelta(days=i), config)
        lakehouse.write_partition(VALIDATED, start + timedelta(days=i), frame)
        frames.append(frame)
    return pl.concat(frames)


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags of a single-run backfill over [first, last] (inclusive, as Dagster's ranges are)."""
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def materialized_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    """The metadata values of the asset's last materialization in `result`.

    A ranged run puts its run-wide summary on its last day (`metadata.run_summary`).
    """
    *_, event = (e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def partition_metadata(result: dg.ExecuteInProcessResult, asset: str, day: date) -> dict[str, object]:
    """The metadata values of one partition's materialization of the asset in `result`."""
    event = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == asset and e.partition == day.isoformat()
    )
    return {k: v.value for k, v in event.materialization.metadata.items()}
