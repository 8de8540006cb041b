"""Temporary files of killed writes never bother readers, and the next write removes them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lakehouse import (
    STAGING_DIR,
    partition_dir,
    partition_path,
    write_parquet_atomic,
    write_parquet_files_atomic,
)

DAY = date(2026, 1, 10)
TABLE = "raw_transactions"
# A writer killed (SIGKILL: no cleanup runs) after it wrote half of its temporary file.
KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from mlops_assets import lakehouse

def half_written(tmp):
    tmp.write_bytes(b"PAR1 half a parquet file")
    os.kill(os.getpid(), signal.SIGKILL)

lakehouse.write_atomic(Path(sys.argv[1]), half_written)
"""


def _kill_a_write(path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL


def test_a_killed_write_leaves_nothing_a_reader_sees_and_the_next_write_removes_it(tmp_path: Path) -> None:
    frame = pl.DataFrame({"transaction_id": ["a", "b"], "amount_eur": [1.0, 2.0]})
    target = partition_path(tmp_path, TABLE, DAY)
    write_parquet_atomic(frame, target)
    _kill_a_write(target)

    staging = tmp_path / STAGING_DIR
    stale = list(staging.iterdir())
    assert len(stale) == 1 and stale[0].stat().st_size > 0  # the killed write's half file
    # Nothing but the complete partition inside the table's folder: readers scan it whole.
    assert sorted((tmp_path / TABLE).rglob("*")) == [partition_dir(tmp_path, TABLE, DAY), target]
    scanned = pl.scan_parquet(tmp_path / TABLE, hive_partitioning=True).collect()
    assert scanned["transaction_id"].to_list() == ["a", "b"]
    assert pl.read_parquet(target).equals(frame)  # the previous partition is untouched

    # The next write on this machine (any table, any day) removes the dead writer's file.
    write_parquet_atomic(frame, partition_path(tmp_path, "other_table", date(2026, 1, 11)))
    assert list(staging.iterdir()) == []


def test_a_live_writers_temp_file_is_left_alone(tmp_path: Path) -> None:
    staging = tmp_path / STAGING_DIR
    staging.mkdir()
    live = staging / f"part-0.parquet.{socket.gethostname()}.{os.getpid()}.abc.tmp"
    foreign = staging / "part-0.parquet.another-host.1.abc.tmp"
    live.write_bytes(b"in progress")
    foreign.write_bytes(b"someone else's")
    write_parquet_atomic(pl.DataFrame({"x": [1]}), partition_path(tmp_path, TABLE, DAY))
    assert sorted(p.name for p in staging.iterdir()) == sorted([live.name, foreign.name])


def test_many_partitions_written_at_once_replace_each_file_and_clean_up_once(tmp_path: Path) -> None:
    """A ranged run's writes: every day replaced whole, whatever its schema or size, dead writers' files
    gone, none left."""
    days = [date(2026, 1, d) for d in range(1, 11)]
    write_parquet_atomic(pl.DataFrame({"x": [-1]}), partition_path(tmp_path, TABLE, days[0]))
    write_parquet_atomic(pl.DataFrame({"x": [-1]}), partition_path(tmp_path, TABLE, days[3]))
    _kill_a_write(partition_path(tmp_path, TABLE, days[1]))
    expected = {
        partition_path(tmp_path, TABLE, day): pl.DataFrame({"x": [day.day] * (day.day % 4)}) for day in days
    } | {
        partition_path(tmp_path, "other_table", day): pl.DataFrame({"s": [str(day)] * (day.day % 3)})
        for day in days
    }
    assert sum(frame.is_empty() for frame in expected.values()) == 5  # days 4 and 8; 3, 6 and 9
    write_parquet_files_atomic(expected)
    for path, frame in expected.items():
        assert pl.read_parquet(path).equals(frame), path
    assert list((tmp_path / STAGING_DIR).iterdir()) == []


def test_a_failed_write_among_many_raises_and_leaves_every_day_as_it_was(tmp_path: Path) -> None:
    """Every file is written before any is renamed into place: one that fails replaces none."""
    day = date(2026, 1, 1)
    target = partition_path(tmp_path, TABLE, day)
    write_parquet_atomic(pl.DataFrame({"x": [1]}), target)
    # A column of Python objects cannot be written as Parquet: that day's write fails.
    unwritable = pl.DataFrame({"x": pl.Series([object()], dtype=pl.Object)})
    with pytest.raises(pl.exceptions.PolarsError, match="Object"):
        write_parquet_files_atomic(
            {partition_path(tmp_path, TABLE, DAY): pl.DataFrame({"x": [2]}), target: unwritable}
        )
    assert pl.read_parquet(target)["x"].to_list() == [1]
    assert not partition_path(tmp_path, TABLE, DAY).exists()
    assert list((tmp_path / STAGING_DIR).iterdir()) == []
