"""Reading a day's landing files into one frame in the contract's types, with lineage columns.

Choices for bad input (each is a test):
- no landing folder / no files for the day, a zero-byte file, an unreadable (corrupt or truncated)
  file, a missing contract column, an extra column: the run fails with `LandingFileError`, naming the
  partition, the file and the column. The file as a whole cannot be trusted, and nothing is written.
- a value that cannot be read as its contract type (e.g. "abc" in `amount_eur`): the row is kept,
  with `parse_error` saying which column held which value; validation quarantines it with that
  reason. One bad cell never costs the valid rows around it.
- a file with a header and no rows: zero rows from that file (the volume check judges the day).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from mlops_assets.domain import PARSE_ERROR_COLUMN, TRANSACTION_COLUMNS, TRANSACTION_DTYPES

LANDING_SUFFIXES = (".parquet", ".csv")


class LandingFileError(ValueError):
    """A landing file (or day) that cannot be ingested at all; the message names partition and file."""


@dataclass(frozen=True)
class LandingFile:
    """One file that arrived for a day, with the content hash recorded for lineage."""

    path: Path
    relative_path: str
    sha256: str
    size_bytes: int


def list_landing_files(landing_dir: Path, day: date) -> list[LandingFile]:
    """The day's landing files in name order; no files at all is an error naming the folder."""
    day_dir = landing_dir / day.isoformat()
    paths = (
        sorted(p for p in day_dir.iterdir() if p.is_file() and p.suffix.lower() in LANDING_SUFFIXES)
        if day_dir.is_dir()
        else []
    )
    if not paths:
        raise LandingFileError(
            f"partition {day.isoformat()}: no landing files in {day_dir} "
            f"(expected one or more {' or '.join(LANDING_SUFFIXES)} files)"
        )
    return [_describe(p, landing_dir) for p in paths]


def _describe(path: Path, landing_dir: Path) -> LandingFile:
    content = path.read_bytes()
    return LandingFile(
        path=path,
        relative_path=path.relative_to(landing_dir).as_posix(),
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
    )


def read_landing_file(file: LandingFile, day: date) -> pl.DataFrame:
    """Read one landing file and coerce it to the contract, adding lineage columns."""
    where = f"partition {day.isoformat()}: file {file.relative_path}"
    if file.size_bytes == 0:
        raise LandingFileError(f"{where}: empty file (0 bytes); re-export it or remove it")
    try:
        if file.path.suffix.lower() == ".csv":
            # Everything as text first: typing happens value by value in `coerce_to_contract`,
            # so one bad cell marks one row instead of failing the whole file.
            frame = pl.read_csv(file.path, infer_schema=False)
        else:
            frame = pl.read_parquet(file.path)
    except Exception as exc:
        raise LandingFileError(f"{where}: cannot be read ({type(exc).__name__}: {exc})") from exc
    _check_columns(frame, where)
    typed = coerce_to_contract(frame)
    return typed.with_columns(
        pl.lit(file.relative_path).alias("source_file"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("source_row"),
        pl.lit(file.sha256).alias("source_sha256"),
    )


def _check_columns(frame: pl.DataFrame, where: str) -> None:
    missing = [c for c in TRANSACTION_COLUMNS if c not in frame.columns]
    if missing:
        raise LandingFileError(
            f"{where}: column {', '.join(missing)}: rule 'required column' failed: missing from the file"
        )
    extra = [c for c in frame.columns if c not in TRANSACTION_COLUMNS]
    if extra:
        raise LandingFileError(
            f"{where}: column {', '.join(extra)}: rule 'no extra columns' failed: not in the contract "
            f"({', '.join(TRANSACTION_COLUMNS)})"
        )


def _cast_expr(column: str, dtype: pl.DataType, source: pl.DataType) -> pl.Expr:
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if source == pl.String:
            return col.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
        if isinstance(source, pl.Datetime) and source.time_zone is None:
            return col.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return col.cast(dtype, strict=False)
    if isinstance(dtype, pl.Int8) and source == pl.String:
        # "1", "0", "1.0" and booleans written as text all mean a label.
        return col.cast(pl.Float64, strict=False).cast(pl.Int8, strict=False)
    return col.cast(dtype, strict=False)


def coerce_to_contract(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast each contract column to its type; values that do not cast are recorded in `parse_error`.

    A cell that was present but became null after the cast is a parse failure; a cell that was
    already null stays a plain null, which validation reports as a null in a required field.
    """
    casts = {c: _cast_expr(c, TRANSACTION_DTYPES[c], frame.schema[c]) for c in TRANSACTION_COLUMNS}
    failures = [
        pl.when(pl.col(c).is_not_null() & expr.is_null())
        .then(
            pl.format(
                "column {}: expected {}, got '{}'",
                pl.lit(c),
                pl.lit(str(TRANSACTION_DTYPES[c])),
                pl.col(c).cast(pl.String),
            )
        )
        .otherwise(None)
        for c, expr in casts.items()
    ]
    return frame.select(
        *(expr.alias(c) for c, expr in casts.items()),
        pl.concat_str(failures, separator="; ", ignore_nulls=True).alias(PARSE_ERROR_COLUMN),
    ).with_columns(
        pl.when(pl.col(PARSE_ERROR_COLUMN) == "")
        .then(None)
        .otherwise(pl.col(PARSE_ERROR_COLUMN))
        .alias(PARSE_ERROR_COLUMN)
    )


def ingest_day(landing_dir: Path, day: date, ingested_at: datetime | None = None) -> pl.DataFrame:
    """All of a day's landing files as one frame in the contract's types plus lineage columns."""
    files = list_landing_files(landing_dir, day)
    stamp = ingested_at or datetime.now(UTC)
    frames = [read_landing_file(f, day) for f in files]
    return pl.concat(frames, how="vertical").with_columns(
        pl.lit(stamp).cast(pl.Datetime("us", "UTC")).alias("ingested_at")
    )
