"""Hive-partitioned Parquet tables on local disk: the one place that knows the layout.

Layout: `<root>/<table>/date=<YYYY-MM-DD>/part-0.parquet`. DuckDB, polars and Feast all read it
without a copy. Writes go to a temporary file in `<root>/_staging/` and are renamed into place, so a
reader never sees half a file and re-materializing a partition replaces it instead of adding to it.

Why a staging folder beside the tables rather than a hidden file beside the target: a write killed
mid-way (SIGKILL, OOM) leaves its temporary file behind, and readers list whole folders (`polars`
`scan_parquet(<table>/)` fails on "different file extensions" if anything but Parquet is inside). Outside
every table's folder, on the same filesystem so the rename stays atomic, no reader can see it; the next
write on the machine removes temporary files whose writing process is gone.
"""

from __future__ import annotations

import io
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from mlops_assets.frames import stack_labelled
from mlops_assets.processes import process_alive

PARTITION_FILE = "part-0.parquet"
# The Hive partition column: the folder `date=YYYY-MM-DD` becomes a `date` column for DuckDB and polars.
PARTITION_COLUMN = "date"
_PARTITION_PREFIX = f"{PARTITION_COLUMN}="
# While many partitions are read in one scan: the file each row came from.
_SOURCE_FILE = "_partition_file"


def partition_dir(root: Path, table: str, day: date) -> Path:
    """The folder of one daily partition of `table`."""
    return root / table / f"{_PARTITION_PREFIX}{day.isoformat()}"


def table_glob(root: Path, table: str) -> Path:
    """A glob over every partition file of `table` (for DuckDB views and Feast's FileSource)."""
    return root / table / f"{_PARTITION_PREFIX}*" / "*.parquet"


def partitioned_tables(root: Path) -> list[str]:
    """Tables under `root` with at least one partition file, in name order."""
    if not root.exists():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and any(p.glob(f"{_PARTITION_PREFIX}*/*.parquet"))
    )


def partition_path(root: Path, table: str, day: date) -> Path:
    """The Parquet file of one daily partition of `table`."""
    return partition_dir(root, table, day) / PARTITION_FILE


STAGING_DIR = "_staging"
TEMP_SUFFIX = ".tmp"


def staging_dir_for(path: Path) -> Path:
    """The staging folder for a write to `path`: beside the folder of its table (or report).

    `<root>/<table>/date=<day>/part-0.parquet` and `<root>/<table>/part-0.parquet` stage in
    `<root>/_staging`; `<reports>/<report>/<day>.html` stages in `<reports>/_staging`.
    """
    folder = path.parent.parent if path.parent.name.startswith(_PARTITION_PREFIX) else path.parent
    return folder.parent / STAGING_DIR


def _temp_name(path: Path) -> str:
    # Host and pid in the name: a later write tells a live writer's file from a dead one's.
    return f"{path.name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex}{TEMP_SUFFIX}"


def remove_stale_temp_files(staging: Path) -> list[Path]:
    """Delete temporary files in `staging` left by writers on this machine that are no longer running."""
    if not staging.is_dir():
        return []
    host = socket.gethostname()
    removed = []
    for temp in staging.glob(f"*{TEMP_SUFFIX}"):
        parts = temp.name.removesuffix(TEMP_SUFFIX).rsplit(".", 3)
        if len(parts) != 4 or parts[1] != host or not parts[2].isdigit() or process_alive(int(parts[2])):
            continue
        temp.unlink(missing_ok=True)
        removed.append(temp)
    return removed


def _prepare_staging(paths: Iterable[Path]) -> None:
    """Create the staging folders of writes to `paths`, without the temporary files of dead writers."""
    for staging in {staging_dir_for(path) for path in paths}:
        staging.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(staging)


def _write_then_replace(path: Path, write: Callable[[Path], object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir_for(path) / _temp_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` on a temporary file in the staging folder, then rename it into place atomically.

    A failed write leaves the previous file untouched; stale temporary files of killed writers are
    removed first.
    """
    _prepare_staging([path])
    return _write_then_replace(path, write)


# How every lakehouse file is encoded, by one write or many.
_COMPRESSION: Final = "zstd"
# While many frames are encoded in one sink: the index of the file each row goes to.
_FILE_INDEX = "__lakehouse_file_index"


def _parquet_writer(frame: pl.DataFrame) -> Callable[[Path], object]:
    return lambda tmp: frame.write_parquet(tmp, compression=_COMPRESSION, statistics=True)


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> Path:
    """Write `frame` to `path` as zstd Parquet, atomically."""
    return write_atomic(path, _parquet_writer(frame))


def write_parquet_files_atomic(frames: Mapping[Path, pl.DataFrame]) -> None:
    """Write each frame to its path as `write_parquet_atomic` does, many files at a time.

    A ranged run writes hundreds of small partitions, and a polars write costs about 1 ms per file
    whatever its size. So every temporary file is written first, in as few passes as the frames have
    schemas (`_encode_all`), and only then is each renamed into place: a write that fails leaves every
    file as it was. The staging folders are cleaned once for all of them.
    """
    _prepare_staging(frames)
    temps = {path: staging_dir_for(path) / _temp_name(path) for path in frames}
    try:
        _encode_all({temps[path]: frame for path, frame in frames.items()})
        for path, temp in temps.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, path)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)


def _encode_all(frames: Mapping[Path, pl.DataFrame]) -> None:
    """Write each frame to its (temporary) path, with one polars sink per schema.

    The frames of one schema are stacked with their file's index and written by one sink partitioned
    on it, which encodes the files on every core at about half the cost of a write each. Frames
    without rows have no partition in a sink: the empty file of their schema is encoded once and
    copied to each.
    """
    by_schema: dict[tuple[tuple[str, pl.DataType], ...], list[tuple[Path, pl.DataFrame]]] = defaultdict(list)
    for path, frame in frames.items():
        by_schema[tuple(frame.schema.items())].append((path, frame))
    for group in by_schema.values():
        with_rows = [(path, frame) for path, frame in group if frame.height]
        empty = [path for path, frame in group if not frame.height]
        if empty:
            content = io.BytesIO()
            group[0][1].clear().write_parquet(content, compression=_COMPRESSION, statistics=True)
            for path in empty:
                path.write_bytes(content.getvalue())
        if with_rows:
            _sink_files(with_rows)


def _sink_files(frames: list[tuple[Path, pl.DataFrame]]) -> None:
    """Write frames of one schema, each with rows, to their paths in one partitioned polars sink."""
    paths = [path for path, _ in frames]
    stacked = stack_labelled(
        [frame for _, frame in frames], pl.Series(_FILE_INDEX, range(len(frames)), pl.UInt32)
    )
    stacked.lazy().sink_parquet(
        pl.PartitionBy(
            paths[0].parent,
            key=_FILE_INDEX,
            include_key=False,
            # One file per frame, however large: a second file of a frame would get the same path.
            approximate_bytes_per_file=None,
            file_path_provider=lambda file: paths[file.partition_keys[_FILE_INDEX][0]],
        ),
        compression=_COMPRESSION,
        statistics=True,
    )


def write_text_atomic(text: str, path: Path) -> Path:
    """Write a text file (a report, a JSON summary) atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def days_between(start: date, end: date) -> list[date]:
    """Days in the half-open range [start, end), the way Dagster's time windows are expressed."""
    return [start + timedelta(days=i) for i in range((end - start).days)]


def existing_days(root: Path, table: str, days: Iterable[date] | None = None) -> list[date]:
    """The days, in order, that have a partition file of `table`: among `days`, or all of them if None."""
    if days is not None:
        return [d for d in days if partition_path(root, table, d).exists()]
    folder = root / table
    if not folder.exists():
        return []
    return sorted(
        date.fromisoformat(p.parent.name.removeprefix(_PARTITION_PREFIX))
        for p in folder.glob(f"{_PARTITION_PREFIX}*/{PARTITION_FILE}")
    )


def missing_partitions_error(root: Path, table: str, days: list[date]) -> FileNotFoundError | None:
    """An error naming the first of `days` without a partition of `table` (and how many), or None."""
    missing = [d for d in days if not partition_path(root, table, d).exists()]
    if not missing:
        return None
    return FileNotFoundError(
        f"partition {missing[0].isoformat()}: table {table} has no file at "
        f"{partition_path(root, table, missing[0])} "
        f"({len(missing)} of {len(days)} days missing); materialize {table} for these partitions first"
    )


def read_partitions(root: Path, table: str, days: Sequence[date]) -> dict[date, pl.DataFrame]:
    """Each of `days`' partitions of `table`, read in one scan; a missing day is an error naming it.

    One `read_parquet` over all the files rather than one per day: a year's ranged run read its 365
    files in 0.3 s one by one, 0.06 s in one scan. Partitions written under different schemas (an
    earlier contract) cannot be scanned together, and polars says so (it never drops or casts a
    column); they are then read one by one, each as it was written.
    """
    if not days:
        return {}
    error = missing_partitions_error(root, table, list(days))
    if error is not None:
        raise error
    paths = {day: partition_path(root, table, day) for day in days}
    try:
        rows = pl.read_parquet(list(paths.values()), include_file_paths=_SOURCE_FILE)
    except (pl.exceptions.SchemaError, pl.exceptions.ColumnNotFoundError):
        return {day: pl.read_parquet(path) for day, path in paths.items()}
    by_file = rows.partition_by(_SOURCE_FILE, as_dict=True, include_key=False, maintain_order=True)
    # Each row is given to its day by the file polars says it came from. A name that is none of the files
    # read (a polars that spells paths otherwise) would leave days empty: an error, never a silent loss.
    unknown = sorted({str(name) for (name,) in by_file} - {str(path) for path in paths.values()})
    if unknown:
        raise RuntimeError(
            f"table {table}: polars read rows from {unknown[0]!r}, which is none of its partitions"
        )
    empty = rows.drop(_SOURCE_FILE).clear()
    return {day: by_file.get((str(path),), empty) for day, path in paths.items()}


def scan_days(root: Path, table: str, days: Iterable[date]) -> pl.LazyFrame | None:
    """Lazily scan the partitions of `table` that exist for `days`; None when none exist."""
    present = existing_days(root, table, days)
    if not present:
        return None
    return pl.scan_parquet([partition_path(root, table, d) for d in present])
