"""Reading a ranged run's partitions in one scan gives each day exactly as it was written."""

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lakehouse import partition_path, read_partitions, write_parquet_atomic

TABLE = "raw_transactions"
DAYS = [date(2026, 2, 1) + timedelta(days=i) for i in range(4)]


def _write(root: Path, day: date, frame: pl.DataFrame) -> None:
    write_parquet_atomic(frame, partition_path(root, TABLE, day))


def test_each_day_is_its_own_rows_in_order_an_empty_day_included(tmp_path: Path) -> None:
    frames = {
        day: pl.DataFrame({"n": list(range(day.day, 0, -1)), "s": [str(day)] * day.day}) for day in DAYS
    }
    frames[DAYS[2]] = frames[DAYS[2]].clear()
    for day, frame in frames.items():
        _write(tmp_path, day, frame)
    read = read_partitions(tmp_path, TABLE, DAYS)
    assert list(read) == DAYS
    for day in DAYS:
        assert read[day].equals(frames[day]), day


def test_days_written_under_another_schema_are_each_read_as_written(tmp_path: Path) -> None:
    """An earlier contract's partitions cannot be scanned together; no column is dropped or cast."""
    frames = {
        DAYS[0]: pl.DataFrame({"n": [1]}),
        DAYS[1]: pl.DataFrame({"n": [2.5], "extra": ["kept"]}),
    }
    for day, frame in frames.items():
        _write(tmp_path, day, frame)
    read = read_partitions(tmp_path, TABLE, DAYS[:2])
    for day, frame in frames.items():
        assert read[day].equals(frame), day


def test_a_missing_day_is_an_error_naming_it_and_the_table(tmp_path: Path) -> None:
    _write(tmp_path, DAYS[0], pl.DataFrame({"n": [1]}))
    with pytest.raises(FileNotFoundError, match=f"partition {DAYS[1]}: table {TABLE} has no file"):
        read_partitions(tmp_path, TABLE, DAYS[:3])


def test_a_relative_root_gives_each_day_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are given to their day by the file polars names: a relative root names them the same way."""
    monkeypatch.chdir(tmp_path)
    root = Path("lake/./")
    frames = {day: pl.DataFrame({"n": [day.day] * 2}) for day in DAYS}
    for day, frame in frames.items():
        _write(root, day, frame)
    read = read_partitions(root, TABLE, DAYS)
    for day, frame in frames.items():
        assert read[day].equals(frame), day
    assert read_partitions(root, TABLE, []) == {}
