"""Hive-partitioned Parquet tables on local disk: the one place that knows the layout.

Layout: `<root>/<table>/date=<YYYY-MM-DD>/part-0.parquet`. DuckDB, polars and Feast all read it
without a copy. Writes go to a hidden temporary file in the same folder and are renamed into place,
so a reader never sees half a file and re-materializing a partition replaces it instead of adding to it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path

import polars as pl

PARTITION_FILE = "part-0.parquet"


def partition_dir(root: Path, table: str, day: date) -> Path:
    """The folder of one daily partition of `table`."""
    return root / table / f"date={day.isoformat()}"


def partition_path(root: Path, table: str, day: date) -> Path:
    """The Parquet file of one daily partition of `table`."""
    return partition_dir(root, table, day) / PARTITION_FILE


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it into place atomically.

    The temporary name starts with a dot so that glob readers (`*/*.parquet`, `*.html`) never pick it
    up, and a failed write leaves the previous file untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> Path:
    """Write `frame` to `path` as zstd Parquet, atomically."""
    return write_atomic(path, lambda tmp: frame.write_parquet(tmp, compression="zstd", statistics=True))


def write_text_atomic(text: str, path: Path) -> Path:
    """Write a text file (a report, a JSON summary) atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def days_between(start: date, end: date) -> list[date]:
    """Days in the half-open range [start, end), the way Dagster's time windows are expressed."""
    return [start + timedelta(days=i) for i in range((end - start).days)]


def existing_partitions(root: Path, table: str, days: Iterable[date]) -> list[Path]:
    """Partition files of `table` that exist for the given days, in day order."""
    return [p for p in (partition_path(root, table, d) for d in days) if p.exists()]


def scan_days(root: Path, table: str, days: Iterable[date]) -> pl.LazyFrame | None:
    """Lazily scan the partitions of `table` that exist for `days`; None when none exist."""
    files = existing_partitions(root, table, days)
    if not files:
        return None
    return pl.scan_parquet(files)
