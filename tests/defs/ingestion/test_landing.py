"""Landing-zone reading: every kind of bad input gets a clear error or a row-level parse error."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from shared_fixtures import DAY

from mlops_assets.defs.ingestion.landing import LandingFileError, ingest_day, list_landing_files
from mlops_assets.simulator import SimulationConfig, simulate_day


def _day_frame(rows: int = 20) -> pl.DataFrame:
    return simulate_day(DAY, SimulationConfig(start=DAY, days=1, rows_per_day=rows))


def _land(landing: Path, frame: pl.DataFrame, name: str) -> Path:
    path = landing / DAY.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".csv"):
        frame.write_csv(path)
    else:
        frame.write_parquet(path)
    return path


def test_parquet_and_csv_files_of_a_day_are_combined_with_lineage(tmp_path: Path) -> None:
    frame = _day_frame()
    a = _land(tmp_path, frame.head(12), "a.parquet")
    _land(tmp_path, frame.tail(8), "b.csv")
    out = ingest_day(tmp_path, DAY)
    assert out.height == 20
    assert out["transaction_id"].to_list() == frame["transaction_id"].to_list()
    assert out["amount_eur"].to_list() == pytest.approx(frame["amount_eur"].to_list())
    assert out.schema["event_timestamp"] == pl.Datetime("us", "UTC")
    assert out["source_file"].unique().sort().to_list() == ["2026-01-10/a.parquet", "2026-01-10/b.csv"]
    assert out.filter(pl.col("source_file").str.ends_with("a.parquet"))["source_sha256"][0] == (
        hashlib.sha256(a.read_bytes()).hexdigest()
    )
    assert out["source_row"].to_list() == list(range(12)) + list(range(8))
    assert out["parse_error"].null_count() == 20


def test_missing_landing_folder_names_partition_and_folder(tmp_path: Path) -> None:
    with pytest.raises(LandingFileError, match=r"partition 2026-01-10: no landing files in .*2026-01-10"):
        list_landing_files(tmp_path, DAY)


def test_truncated_parquet_names_the_file(tmp_path: Path) -> None:
    path = _land(tmp_path, _day_frame(), "t.parquet")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(
        LandingFileError, match=r"partition 2026-01-10: file 2026-01-10/t.parquet: cannot be read"
    ):
        ingest_day(tmp_path, DAY)


def test_zero_byte_file_is_an_error_but_a_header_only_csv_is_an_empty_day(tmp_path: Path) -> None:
    empty = tmp_path / DAY.isoformat() / "empty.csv"
    empty.parent.mkdir(parents=True)
    empty.write_bytes(b"")
    with pytest.raises(LandingFileError, match=r"file 2026-01-10/empty.csv: empty file \(0 bytes\)"):
        ingest_day(tmp_path, DAY)
    _day_frame().head(0).write_csv(empty)
    assert ingest_day(tmp_path, DAY).height == 0


def test_csv_with_a_wrong_type_keeps_the_row_with_a_parse_error(tmp_path: Path) -> None:
    path = _land(tmp_path, _day_frame(5), "bad.csv")
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index("amount_eur")] = "abc"
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    out = ingest_day(tmp_path, DAY)
    assert out.height == 5
    assert out["parse_error"].to_list()[1] == "column amount_eur: expected Float64, got 'abc'"
    assert out["parse_error"].null_count() == 4


def test_missing_required_column_names_the_column(tmp_path: Path) -> None:
    _land(tmp_path, _day_frame().drop("merchant_id"), "x.parquet")
    with pytest.raises(
        LandingFileError, match=r"file 2026-01-10/x.parquet: column merchant_id: rule 'required column'"
    ):
        ingest_day(tmp_path, DAY)


def test_extra_column_names_the_column(tmp_path: Path) -> None:
    _land(tmp_path, _day_frame().with_columns(pl.lit(1).alias("loyalty_tier")), "x.csv")
    with pytest.raises(LandingFileError, match=r"column loyalty_tier: rule 'no extra columns'"):
        ingest_day(tmp_path, DAY)


def test_reading_never_modifies_landing_files(tmp_path: Path) -> None:
    paths = [_land(tmp_path, _day_frame(), "a.parquet"), _land(tmp_path, _day_frame(), "b.csv")]
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}
    ingest_day(tmp_path, DAY)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths} == before


def test_naive_parquet_timestamps_are_read_as_utc(tmp_path: Path) -> None:
    frame = _day_frame(3)
    naive = frame.with_columns(pl.col("event_timestamp").dt.replace_time_zone(None))
    _land(tmp_path, naive, "naive.parquet")
    out = ingest_day(tmp_path, DAY)
    assert out["event_timestamp"].to_list() == frame["event_timestamp"].to_list()
    assert date(2026, 1, 10) == out["event_timestamp"].dt.date().unique().item()


def test_a_range_of_days_ingested_together_equals_each_day_ingested_alone(tmp_path: Path) -> None:
    """The vectorized backfill path types all days at once; each day must come out as if read alone."""
    from datetime import UTC, datetime, timedelta

    from mlops_assets.defs.ingestion.landing import ingest_days

    config = SimulationConfig(start=DAY, days=3, rows_per_day=15)
    days = [DAY + timedelta(days=i) for i in range(3)]
    for day in days:
        frame = simulate_day(day, config)
        folder = tmp_path / day.isoformat()
        (folder / "nested").mkdir(parents=True)
        frame.head(5).write_parquet(folder / "b.parquet")
        # One file per day as text, with a value that does not parse: typed in the same pass as the rest.
        frame.slice(5, 6).with_columns(pl.lit("abc").alias("amount_eur")).write_csv(folder / "a.csv")
        frame.tail(4).select(reversed(frame.columns)).write_parquet(folder / "nested" / "c.parquet")
    stamp = datetime(2026, 2, 1, tzinfo=UTC)
    together = ingest_days(tmp_path, days, stamp)
    assert list(together) == days
    for day in days:
        alone = ingest_day(tmp_path, day, stamp)
        assert together[day].equals(alone), day
        assert alone.height == 15
        assert alone["parse_error"].drop_nulls().len() == 6
        assert alone["source_file"].unique(maintain_order=True).to_list() == [
            f"{day}/a.csv",
            f"{day}/b.parquet",
            f"{day}/nested/c.parquet",
        ]
