"""Write simulated days into the landing zone: one file per day, atomic and byte-reproducible.

Layout: ``<data_dir>/landing/<YYYY-MM-DD>/transactions.<parquet|csv>``, the folder-per-day contract the
ingestion stage reads. Three properties matter downstream:

- **Atomic**: each file is written to a hidden temporary file in the same folder and moved into place with
  ``os.replace``, so a reader (or a sensor) never sees half a file.
- **Reproducible**: the same configuration gives byte-identical files (fixed compression, statistics and
  float/datetime formats; polars writes no timestamps into Parquet metadata), so a re-run is a no-op for
  content hashes and lineage.
- **Replacing**: re-running a day replaces its file, and removes the simulator's file of the other format
  for that day so that switching formats never makes ingestion read a day twice.

With ``bad_row_share`` above 0, a seeded share of each day's rows is broken before writing (see
``corruption.py``), so the quarantine downstream has real work; the default writes only valid rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Final

import polars as pl

from mlops_assets.lakehouse import write_atomic
from mlops_assets.simulator.corruption import corrupt_rows
from mlops_assets.simulator.model import SimulationConfig, simulate_day

FORMATS: Final[tuple[str, ...]] = ("parquet", "csv")
FILE_STEM: Final[str] = "transactions"
LANDING_DIR: Final[str] = "landing"
# ISO 8601 with an explicit offset: pandas, DuckDB and polars all parse it back as UTC.
CSV_DATETIME_FORMAT: Final[str] = "%Y-%m-%dT%H:%M:%S%.6f%:z"
PARQUET_COMPRESSION: Final = "zstd"
PARQUET_COMPRESSION_LEVEL: Final[int] = 3
# One row group per 256k rows: large enough to compress well, small enough for readers to skip by stats.
PARQUET_ROW_GROUP_SIZE: Final[int] = 262_144


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def landing_path(data_dir: Path, day: dt.date, fmt: str) -> Path:
    """Where the simulator puts ``day``'s file: ``<data_dir>/landing/<YYYY-MM-DD>/transactions.<fmt>``."""
    return Path(data_dir) / LANDING_DIR / day.isoformat() / f"{FILE_STEM}.{_check_format(fmt)}"


def write_frame(frame: pl.DataFrame, path: Path, fmt: str) -> Path:
    """Write ``frame`` to ``path`` atomically in a reproducible encoding; returns ``path``."""
    _check_format(fmt)

    def encode(temp_path: Path) -> None:
        if fmt == "parquet":
            frame.write_parquet(
                temp_path,
                compression=PARQUET_COMPRESSION,
                compression_level=PARQUET_COMPRESSION_LEVEL,
                statistics=True,
                row_group_size=PARQUET_ROW_GROUP_SIZE,
            )
        else:
            frame.write_csv(temp_path, float_precision=2, datetime_format=CSV_DATETIME_FORMAT)

    return write_atomic(path, encode)


def write_day(
    day: dt.date, config: SimulationConfig, data_dir: Path, fmt: str, bad_row_share: float = 0.0
) -> tuple[Path, int]:
    """Simulate ``day`` and write it to the landing zone; returns the path and the number of rows.

    ``bad_row_share`` of the rows (seeded by ``config.seed`` and the day) are broken as in
    ``corruption.corrupt_rows``; the file keeps every row, broken or not.
    """
    path = landing_path(data_dir, day, fmt)
    frame = simulate_day(day, config)
    if bad_row_share > 0:
        frame, _ = corrupt_rows(frame, bad_row_share, config.seed, day)
    write_frame(frame, path, fmt)
    for other in FORMATS:
        if other != fmt:
            path.with_suffix(f".{other}").unlink(missing_ok=True)
    return path, frame.height


def write_days(
    config: SimulationConfig,
    data_dir: Path,
    fmt: str = "parquet",
    on_day: Callable[[dt.date, Path, int], None] | None = None,
    bad_row_share: float = 0.0,
) -> list[Path]:
    """Simulate and write every day of ``config``, one at a time so memory stays at one day's worth.

    Args:
        config: what to simulate.
        data_dir: the root under which ``landing/`` lives (usually ``$MLOPS_DATA_DIR``).
        fmt: ``"parquet"`` or ``"csv"``.
        on_day: called after each day with ``(day, path, rows)``, e.g. to report progress.
        bad_row_share: the share of rows to break (see ``corruption.py``); 0 writes only valid rows.

    Returns:
        The written paths, in day order.

    """
    _check_format(fmt)
    paths: list[Path] = []
    for day in config.dates:
        path, rows = write_day(day, config, data_dir, fmt, bad_row_share)
        paths.append(path)
        if on_day is not None:
            on_day(day, path, rows)
    return paths
