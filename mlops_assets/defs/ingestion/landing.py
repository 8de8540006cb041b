"""Reading a day's landing files into one frame in the contract's types, with lineage columns.

What is read: every `*.parquet`, `*.csv`, `*.tsv`, `*.csv.gz` and `*.tsv.gz` file (extensions in any
case) in `landing/<YYYY-MM-DD>/` and in any folder inside it.

Choices for bad input (each is a test):
- an entry in the day folder that is none of the accepted forms (`export.json`, a dangling symlink, a
  symlinked folder, a socket, a hidden `.name.tmp` left by an interrupted upload): the day fails with
  `LandingFileError` listing every such entry, why it cannot be read and the accepted forms. We fail
  rather than skip with a warning because a skipped file is data silently not ingested: a run that
  succeeds while 400 rows sit unread is the worse outcome. Remove or convert the entry and re-run.
- no landing folder / no files for the day, a zero-byte file, an unreadable (corrupt, truncated, not
  gzip) file, a missing contract column, an extra or repeated column: the run fails with
  `LandingFileError`, naming the partition, the file and the column. Nothing is written.
- CSV structure: blank lines are dropped. The delimiter (`,` `;` tab `|`) is detected from the header;
  a header that splits into one column with every candidate fails, naming the character it most likely
  uses. A byte that is not UTF-8 (a latin-1 export) or a line whose field count differs from the header
  rejects the whole file with the line number(s): both mean the file's encoding or framing is wrong, so
  no line of it can be trusted to mean what it says (a stray delimiter shifts every later field).
- a value that cannot be read as its contract type (e.g. "abc" in `amount_eur`): the row is kept,
  with `parse_error` saying which column held which value; validation quarantines it with that
  reason. One bad cell never costs the valid rows around it.
- timestamps are parsed value by value in any ISO 8601 form (`T` or space, with or without fractions,
  `Z`, `+01:00`, `+0100` or no offset, or a bare date). A time without an offset is read as UTC, the
  platform's one clock. A parsed time on another day is kept and quarantined by validation's
  "inside the partition's day" rule; only text that is not a time at all is a parse error.
- a file with a header and no rows: zero rows from that file (the volume check judges the day).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from mlops_assets.domain import PARSE_ERROR_COLUMN, TRANSACTION_COLUMNS, TRANSACTION_DTYPES

# The accepted file forms, matched case-insensitively on the end of the name.
LANDING_FORMS: dict[str, str] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".csv.gz": "csv",
    ".tsv.gz": "csv",
}
ACCEPTED_FORMS = ", ".join(f"*{suffix}" for suffix in LANDING_FORMS)
CSV_DELIMITERS = (",", ";", "\t", "|")
MAX_LINES_NAMED = 5
# While a range of days is typed together: the day a row landed for, and its file's place in the order.
_DAY, _FILE = "_partition_day", "_file_order"

_COMMON_ISO8601 = "%Y-%m-%dT%H:%M:%S%.f%z"  # 2026-01-10T08:00:00[.123456]+00:00 or +0000
# ISO 8601 forms, tried in order after `_normalise_iso8601`; the first that parses a value wins, so
# each value is read on its own and one odd row never decides the format of the column.
_ISO8601_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%:z",  # %.f also matches no fraction at all
    "%Y-%m-%dT%H:%M%:z",
    "%Y-%m-%dT%H:%M:%S%.f",  # no offset: read as UTC
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
)


class LandingFileError(ValueError):
    """A landing file (or day) that cannot be ingested at all; the message names partition and file."""


@dataclass(frozen=True)
class LandingFile:
    """One file that arrived for a day, with the content hash recorded for lineage."""

    path: Path
    relative_path: str
    sha256: str
    size_bytes: int


def landing_format(name: str) -> str | None:
    """`"parquet"` or `"csv"` for an accepted landing file name, None for anything else."""
    if name.startswith("."):
        return None  # hidden: by this platform's own convention an upload still in progress
    lower = name.lower()
    return next((kind for suffix, kind in LANDING_FORMS.items() if lower.endswith(suffix)), None)


def scan_day_folder(day_dir: Path) -> tuple[list[Path], dict[Path, str]]:
    """The readable files under `day_dir` (nested folders included) and every other entry with why.

    Symlinked files are followed; symlinked folders are not (a link loop would never end), and are
    reported like any other entry the platform will not read.
    """
    readable: list[Path] = []
    unreadable: dict[Path, str] = {}
    for entry in sorted(day_dir.iterdir()):
        if entry.is_symlink() and not entry.exists():
            unreadable[entry] = "dangling symlink (its target does not exist)"
        elif entry.is_dir():
            if entry.is_symlink():
                unreadable[entry] = "symlinked folder (not followed)"
            else:
                inner_readable, inner_unreadable = scan_day_folder(entry)
                readable += inner_readable
                unreadable |= inner_unreadable
        elif not entry.is_file():
            unreadable[entry] = "not a regular file"
        elif landing_format(entry.name) is None:
            why = "hidden file (an upload in progress?)" if entry.name.startswith(".") else "unsupported type"
            unreadable[entry] = why
        else:
            readable.append(entry)
    return readable, unreadable


def list_landing_files(landing_dir: Path, day: date) -> list[LandingFile]:
    """The day's landing files in path order; no files, or any entry that cannot be read, is an error."""
    day_dir = landing_dir / day.isoformat()
    readable, unreadable = scan_day_folder(day_dir) if day_dir.is_dir() else ([], {})
    if unreadable:
        listed = "; ".join(
            f"{path.relative_to(landing_dir).as_posix()}: {why}" for path, why in unreadable.items()
        )
        raise LandingFileError(
            f"partition {day.isoformat()}: {len(unreadable)} entr{'y' if len(unreadable) == 1 else 'ies'} "
            f"in {day_dir} cannot be read: {listed}. Accepted forms: {ACCEPTED_FORMS} (any case, also in "
            "folders inside the day folder); remove, convert or rename the entries listed and re-run"
        )
    if not readable:
        raise LandingFileError(
            f"partition {day.isoformat()}: no landing files in {day_dir} "
            f"(expected one or more files of the forms {ACCEPTED_FORMS})"
        )
    return [_describe(p, landing_dir, day) for p in readable]


def _describe(path: Path, landing_dir: Path, day: date) -> LandingFile:
    relative = path.relative_to(landing_dir).as_posix()
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise LandingFileError(
            f"partition {day.isoformat()}: file {relative}: cannot be opened ({type(exc).__name__}: "
            f"{exc.strerror or exc})"
        ) from exc
    return LandingFile(
        path=path,
        relative_path=relative,
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
    )


def read_landing_file(file: LandingFile, day: date) -> pl.DataFrame:
    """Read one landing file as it is: its contract columns in contract order, values not yet typed."""
    where = f"partition {day.isoformat()}: file {file.relative_path}"
    if file.size_bytes == 0:
        raise LandingFileError(f"{where}: empty file (0 bytes); re-export it or remove it")
    if landing_format(file.path.name) == "csv":
        frame = read_delimited(_uncompressed(file, where), where)
    else:
        try:
            frame = pl.read_parquet(file.path)
        except Exception as exc:
            raise LandingFileError(f"{where}: cannot be read ({type(exc).__name__}: {exc})") from exc
    _check_columns(frame, where)
    return frame.select(TRANSACTION_COLUMNS)


def _uncompressed(file: LandingFile, where: str) -> bytes:
    content = file.path.read_bytes()
    if not file.path.name.lower().endswith(".gz"):
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as exc:
        raise LandingFileError(
            f"{where}: cannot be read: not a complete gzip file ({exc}); "
            "re-compress it or land it uncompressed"
        ) from exc


def decode_utf8(content: bytes, where: str) -> str:
    """The text of a CSV file; a byte that is not UTF-8 is an error naming its line and byte offset."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if content.startswith(b"\xef\xbb\xbf") else 0)
        bad_lines = [
            n for n, line in enumerate(content.split(b"\n"), start=1) if not _is_utf8(line.rstrip(b"\r"))
        ]
        more = f" (and {len(bad_lines) - 1} more line(s) with such bytes)" if len(bad_lines) > 1 else ""
        line = content.count(b"\n", 0, offset) + 1
        raise LandingFileError(
            f"{where}: line {line}: byte 0x{content[offset]:02x} at byte "
            f"offset {offset} is not valid UTF-8{more}; the file is in another encoding (latin-1 or "
            "cp1252?): re-export it as UTF-8. The whole file is rejected, as no line of a file in the "
            "wrong encoding can be trusted"
        ) from exc


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _header_fields(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def detect_delimiter(header: str, where: str) -> str:
    """The delimiter that splits `header` into the most contract columns (ties: the most fields)."""
    scored = [
        (sum(f.strip() in TRANSACTION_COLUMNS for f in fields), len(fields), d)
        for d in CSV_DELIMITERS
        for fields in [_header_fields(header, d)]
    ]
    _, n_fields, delimiter = max(scored, key=lambda s: (s[0], s[1]))
    if n_fields > 1:
        return delimiter
    punctuation = Counter(ch for ch in header if not ch.isalnum() and ch not in "_ \"'")
    likely = (
        f"; it probably uses {punctuation.most_common(1)[0][0]!r} as its delimiter" if punctuation else ""
    )
    raise LandingFileError(
        f"{where}: line 1: the header holds one column ({header[:80]!r}){likely}. Write the file with one "
        f"of the delimiters {', '.join(repr(d) for d in CSV_DELIMITERS)} and the columns "
        f"{', '.join(TRANSACTION_COLUMNS)}"
    )


def read_delimited(content: bytes, where: str) -> pl.DataFrame:
    """A CSV/TSV file's rows as text columns; blank lines dropped, broken lines an error naming them.

    Python's `csv` module rather than `pl.read_csv`: it reports the physical line of each record, so a
    broken line is named by number, and it tells a blank line (dropped) from a row of empty fields.
    """
    text = decode_utf8(content, where)
    first_line = next((line for line in text.splitlines() if line.strip()), None)
    if first_line is None:
        raise LandingFileError(f"{where}: no header: the file holds only blank lines")
    delimiter = detect_delimiter(first_line, where)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[list[str]] = []
    broken: list[str] = []
    start = 1
    try:
        for record in reader:
            end, first = reader.line_num, start
            start = end + 1
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line, not a row
            if header is None:
                header = [name.strip() for name in record]
            elif len(record) == len(header):
                rows.append(record)
            else:
                lines = (
                    f"line {first}"
                    if first == end
                    else f"lines {first}-{end} (read as one record: an unterminated quote?)"
                )
                broken.append(f"{lines}: {len(record)} fields, the header has {len(header)}")
    except csv.Error as exc:
        raise LandingFileError(
            f"{where}: line {reader.line_num}: cannot be split into fields ({exc})"
        ) from exc
    if broken:
        more = f"; and {len(broken) - MAX_LINES_NAMED} more" if len(broken) > MAX_LINES_NAMED else ""
        raise LandingFileError(
            f"{where}: {'; '.join(broken[:MAX_LINES_NAMED])}{more}. The whole file is rejected: a stray "
            f"delimiter or quote shifts every later field, so its lines cannot be trusted; fix those lines"
        )
    header = header or []
    repeated = sorted(name for name, n in Counter(header).items() if n > 1)
    if repeated:
        raise LandingFileError(
            f"{where}: column {', '.join(repeated)}: rule 'unique header' failed: repeated"
        )
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(header)
    return pl.DataFrame(
        {name: pl.Series(name, values, dtype=pl.String) for name, values in zip(header, columns, strict=True)}
    ).select(pl.when(pl.col(name).str.len_bytes() > 0).then(pl.col(name)).alias(name) for name in header)


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


def _normalise_iso8601(col: pl.Expr) -> pl.Expr:
    """One spelling per ISO 8601 form: `T` between date and time, `Z` and `+hhmm` as `+hh:mm`."""
    return (
        col.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ t](\d)", "${1}T${2}")
        .str.replace(r"[zZ]$", "+00:00")
        .str.replace(r"([+-]\d{2})(\d{2})$", "${1}:${2}")
        .str.replace(r"(T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?[+-]\d{2})$", "${1}:00")
        .str.replace(r"(T\d{2}:\d{2}:\d{2}),(\d)", "${1}.${2}")
    )


def parse_iso8601(values: pl.Series) -> pl.Series:
    """Each text value parsed on its own as ISO 8601 into UTC; a value of no known form becomes null.

    `str.to_datetime` without a format infers one from the first value and applies it to the whole
    column, so one row written without fractions would turn every other row into a parse error. The
    common full form (fractions optional, an offset) is read in one pass; only the values it leaves
    are normalised and tried against the other forms.
    """
    parsed = values.str.to_datetime(_COMMON_ISO8601, time_unit="us", time_zone="UTC", strict=False)
    rest = parsed.is_null() & values.is_not_null()
    if not rest.any():
        return parsed
    text = _normalise_iso8601(pl.lit(values.filter(rest)))
    others = pl.select(
        pl.coalesce(
            text.str.to_datetime(fmt, time_unit="us", time_zone="UTC", strict=False)
            for fmt in _ISO8601_FORMATS
        )
    ).to_series()
    return parsed.scatter(rest.arg_true(), others)


def _cast(values: pl.Series, dtype: pl.DataType) -> pl.Series:
    """`values` in the contract type `dtype`; a value that does not convert becomes null."""
    if isinstance(dtype, pl.Datetime):
        if values.dtype == pl.String:
            return parse_iso8601(values)
        if isinstance(values.dtype, pl.Datetime) and values.dtype.time_zone is None:
            return values.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return values.cast(dtype, strict=False)
    if isinstance(dtype, pl.Int8) and values.dtype == pl.String:
        # "1", "0", "1.0" and booleans written as text all mean a label.
        return values.cast(pl.Float64, strict=False).cast(pl.Int8, strict=False)
    return values.cast(dtype, strict=False)


def coerce_to_contract(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast each contract column to its type; values that do not cast are recorded in `parse_error`.

    A cell that was present but became null after the cast is a parse failure; a cell that was
    already null stays a plain null, which validation reports as a null in a required field.
    """
    typed = pl.DataFrame([_cast(frame[c], TRANSACTION_DTYPES[c]).alias(c) for c in TRANSACTION_COLUMNS])
    lost = [(frame[c].is_not_null() & typed[c].is_null()).alias(f"_lost_{c}") for c in TRANSACTION_COLUMNS]
    failures = frame.with_columns(lost).select(
        pl.concat_str(
            [
                pl.when(pl.col(f"_lost_{c}")).then(
                    pl.format(
                        "column {}: expected {}, got '{}'",
                        pl.lit(c),
                        pl.lit(str(TRANSACTION_DTYPES[c])),
                        pl.col(c).cast(pl.String),
                    )
                )
                for c in TRANSACTION_COLUMNS
            ],
            separator="; ",
            ignore_nulls=True,
        ).alias(PARSE_ERROR_COLUMN)
    )
    return typed.with_columns(failures[PARSE_ERROR_COLUMN].replace("", None).alias(PARSE_ERROR_COLUMN))


def ingest_days(
    landing_dir: Path, days: Sequence[date], ingested_at: datetime | None = None
) -> dict[date, pl.DataFrame]:
    """Each day's landing files as one frame in the contract's types plus lineage columns, per day.

    Every file of every day is read (and every error raised) before any value is typed. The typing then
    runs once per distinct file schema over all the days' rows, not once per file: a year of daily
    files is a few vectorized passes instead of a per-file fixed cost (issue 13's backfill target).
    Rows keep their day, file and in-file order; a day's frame is what ingesting that day alone gives.
    """
    stamp = ingested_at or datetime.now(UTC)
    by_schema: dict[tuple[tuple[str, pl.DataType], ...], list[pl.DataFrame]] = defaultdict(list)
    files = [(day, file) for day in days for file in list_landing_files(landing_dir, day)]
    for order, (day, file) in enumerate(files):
        frame = read_landing_file(file, day)
        by_schema[tuple(frame.schema.items())].append(
            frame.with_columns(
                pl.lit(day).alias(_DAY),
                pl.lit(order).alias(_FILE),
                pl.lit(file.relative_path).alias("source_file"),
                pl.int_range(pl.len(), dtype=pl.Int64).alias("source_row"),
                pl.lit(file.sha256).alias("source_sha256"),
            )
        )
    lineage = [_DAY, _FILE, "source_file", "source_row", "source_sha256"]
    rows = (
        pl.concat(
            coerce_to_contract(untyped).hstack(untyped.select(lineage))
            for untyped in (pl.concat(frames) for frames in by_schema.values())
        )
        .sort(_FILE, "source_row")
        .drop(_FILE)
        .with_columns(pl.lit(stamp).cast(pl.Datetime("us", "UTC")).alias("ingested_at"))
    )
    by_day = rows.partition_by(_DAY, as_dict=True, include_key=False, maintain_order=True)
    return {day: by_day.get((day,), rows.drop(_DAY).clear()) for day in days}


def ingest_day(landing_dir: Path, day: date, ingested_at: datetime | None = None) -> pl.DataFrame:
    """All of a day's landing files as one frame in the contract's types plus lineage columns."""
    return ingest_days(landing_dir, [day], ingested_at)[day]
