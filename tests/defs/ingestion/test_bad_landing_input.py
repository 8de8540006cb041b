"""What careless and hostile landing files do: a table of bad inputs, each with one of two outcomes.

- quarantine: every landed row is in the raw partition, and valid + quarantined == landed rows, with a
  reason on each quarantined row (ingestion, then validation's split);
- failure: the run fails with a message naming the partition, the file and the problem, and nothing
  is written to the lakehouse (the real asset, materialized).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from shared_fixtures import DAY

from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.ingestion.landing import ingest_day
from mlops_assets.defs.validation.split import split_transactions
from mlops_assets.settings import Settings
from mlops_assets.simulator import SimulationConfig, simulate_day

ROWS = 20
PARTITION = f"partition {DAY.isoformat()}"
FRAME = simulate_day(DAY, SimulationConfig(start=DAY, days=1, rows_per_day=ROWS))
HEADER = list(FRAME.columns)


def _lines(frame: pl.DataFrame = FRAME) -> list[str]:
    return frame.write_csv().splitlines()


def _set(lines: list[str], row: int, column: str, value: str) -> list[str]:
    """`lines` with data row `row` (0-based) holding `value` in `column`."""
    cells = lines[row + 1].split(",")
    cells[HEADER.index(column)] = value
    return [*lines[: row + 1], ",".join(cells), *lines[row + 2 :]]


def _write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _csv(name: str, lines: list[str], newline: str = "\n") -> Callable[[Path], object]:
    return lambda folder: _write(folder, name, newline.join(lines) + newline)


def _parquet(name: str, frame: pl.DataFrame = FRAME) -> Callable[[Path], object]:
    def land(folder: Path) -> None:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(folder / name)

    return land


def _both(*lands: Callable[[Path], object]) -> Callable[[Path], object]:
    return lambda folder: [land(folder) for land in lands]


def _timestamps(*values: str) -> list[str]:
    lines = _lines()
    for row, value in enumerate(values):
        lines = _set(lines, row, "event_timestamp", value)
    return lines


def _symlink(folder: Path, name: str, target: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).symlink_to(target)


def _linked_file(folder: Path) -> None:
    source = folder.parent.parent / "elsewhere" / "t.parquet"
    source.parent.mkdir(parents=True)
    FRAME.write_parquet(source)
    _symlink(folder, "t.parquet", source)


def _linked_folder(folder: Path) -> None:
    _parquet("a.parquet")(folder)
    (folder.parent.parent / "elsewhere").mkdir()
    _symlink(folder, "batch2", folder.parent.parent / "elsewhere")


def _fifo(folder: Path) -> None:
    _parquet("a.parquet")(folder)
    os.mkfifo(folder / "pipe.csv")


def _truncated(name: str) -> Callable[[Path], object]:
    def land(folder: Path) -> None:
        path = folder / name
        _parquet(name)(folder) if name.endswith(".parquet") else _write(folder, name, b"")
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress("\n".join(_lines()).encode())[:200])
        else:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return land


@dataclass(frozen=True)
class Quarantined:
    """Landed rows all reach the raw table; `quarantined` of them are rejected, each with `reason`."""

    land: Callable[[Path], object]
    rows: int = ROWS
    quarantined: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Fails:
    """The run fails naming the partition, `file` and the `problem` (a regex); nothing is written."""

    land: Callable[[Path], object]
    file: str
    problem: str


# One odd row must never decide the format of a whole column.
TS = "2026-01-10T{}:00:00"
QUARANTINE_CASES: dict[str, Quarantined] = {
    "one timestamp without fraction or offset": Quarantined(
        _csv("a.csv", _timestamps("2026-01-10T00:01:04"))
    ),
    "timestamps with Z": Quarantined(
        _csv("a.csv", _timestamps(*(f"{TS.format(10 + i % 9)}Z" for i in range(20))))
    ),
    "every ISO 8601 form mixed": Quarantined(
        _csv(
            "a.csv",
            _timestamps(
                "2026-01-10T00:01:04",
                "2026-01-10T00:01:04.5",
                '"2026-01-10T00:01:04,25Z"',
                "2026-01-10 08:00:00+0100",
                "2026-01-10T08:00:00+01",
                "2026-01-10T08:00-05:00",
                "2026-01-10",
                "2026-01-10t10:00:00z",
            ),
        )
    ),
    "a valid timestamp on another day is outside the day, not a parse error": Quarantined(
        _csv("a.csv", _timestamps("2026-01-11T09:00:00")), quarantined=1, reason=r"rule less_than\("
    ),
    "an offset that moves the time into the previous day": Quarantined(
        _csv("a.csv", _timestamps("2026-01-10T00:30:00+01:00")),
        quarantined=1,
        reason=r"rule greater_than_or_equal_to\(",
    ),
    "a timestamp that is not a time keeps its own text": Quarantined(
        _csv("a.csv", _timestamps("yesterday")), quarantined=1, reason="expected Datetime.*got 'yesterday'"
    ),
    "an impossible date": Quarantined(
        _csv("a.csv", _timestamps("2026-02-30T10:00:00")), quarantined=1, reason="got '2026-02-30T10:00:00'"
    ),
    "three blank lines at the end": Quarantined(_csv("a.csv", [*_lines(), "", "", ""])),
    "blank and whitespace-only lines in the middle": Quarantined(
        _csv("a.csv", [*_lines()[:5], "", "   ", *_lines()[5:]])
    ),
    "semicolon delimiter": Quarantined(_csv("a.csv", [line.replace(",", ";") for line in _lines()])),
    "tab delimiter in a .tsv": Quarantined(_csv("a.tsv", [line.replace(",", "\t") for line in _lines()])),
    "pipe delimiter": Quarantined(_csv("a.csv", [line.replace(",", "|") for line in _lines()])),
    "CRLF line endings": Quarantined(_csv("a.csv", _lines(), newline="\r\n")),
    "UTF-8 byte order mark": Quarantined(
        lambda f: _write(f, "a.csv", b"\xef\xbb\xbf" + "\n".join(_lines()).encode())
    ),
    "gzip-compressed CSV": Quarantined(
        lambda f: _write(f, "late_batch.csv.gz", gzip.compress("\n".join(_lines()).encode()))
    ),
    "uppercase extensions": Quarantined(
        _both(_csv("A.CSV", _lines()[:11]), _parquet("B.PARQUET", FRAME.tail(10)))
    ),
    "a nested folder": Quarantined(
        _both(_parquet("a.parquet", FRAME.head(5)), _parquet("batch2/deep/b.parquet", FRAME.tail(15)))
    ),
    "a symlink to a file elsewhere": Quarantined(_linked_file),
    "a header-only CSV beside a full file": Quarantined(
        _both(_csv("empty.csv", _lines()[:1]), _parquet("a.parquet"))
    ),
    "shuffled columns": Quarantined(_parquet("a.parquet", FRAME.select(reversed(HEADER)))),
    "a quoted delimiter inside a value": Quarantined(
        _csv("a.csv", _set(_lines(), 2, "merchant_id", '"m,0001"'))
    ),
    "text in a number column": Quarantined(
        _csv("a.csv", _set(_lines(), 1, "amount_eur", "abc")), quarantined=1, reason="got 'abc'"
    ),
    "an empty required cell": Quarantined(
        _csv("a.csv", _set(_lines(), 1, "amount_eur", "")), quarantined=1, reason="amount_eur.*not_nullable"
    ),
    "a label that is not 0 or 1": Quarantined(
        _csv("a.csv", _set(_lines(), 4, "is_fraud", "yes")), quarantined=1, reason="is_fraud.*got 'yes'"
    ),
    "a negative amount": Quarantined(
        _csv("a.csv", _set(_lines(), 4, "amount_eur", "-5")),
        quarantined=1,
        reason=r"amount_eur.*greater_than\(0",
    ),
    "an unknown category": Quarantined(
        _csv("a.csv", _set(_lines(), 4, "merchant_category", "casino")), quarantined=1, reason="isin"
    ),
    "a row of empty fields": Quarantined(
        _csv("a.csv", [*_lines(), "," * 9]), rows=ROWS + 1, quarantined=1, reason="not_nullable"
    ),
    "the same id twice": Quarantined(
        _csv("a.csv", _set(_lines(), 3, "transaction_id", FRAME["transaction_id"][0])),
        quarantined=1,
        reason="field_uniqueness",
    ),
    "naive Parquet timestamps": Quarantined(
        _parquet("a.parquet", FRAME.with_columns(pl.col("event_timestamp").dt.replace_time_zone(None)))
    ),
    "Parquet timestamps as text in mixed forms": Quarantined(
        _parquet(
            "a.parquet",
            FRAME.with_columns(
                pl.col("event_timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S"),
                pl.col("label_available_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"),
            ),
        )
    ),
    "Parquet amounts as text with one bad value": Quarantined(
        _parquet(
            "a.parquet",
            FRAME.with_columns(
                pl.when(pl.int_range(pl.len()) == 7)
                .then(pl.lit("1.2.3"))
                .otherwise(pl.col("amount_eur").cast(pl.String))
                .alias("amount_eur")
            ),
        ),
        quarantined=1,
        reason="got '1.2.3'",
    ),
}

LATIN1 = [*_lines()[:4], _set(_lines(), 3, "merchant_id", "caf\xe9")[4], *_lines()[5:]]
FAILURE_CASES: dict[str, Fails] = {
    "a JSON export beside a CSV": Fails(
        _both(_csv("a.csv", _lines()), lambda f: _write(f, "export.json", "{}")),
        "2026-01-10/export.json",
        r"unsupported type.*Accepted forms: \*\.parquet, \*\.csv, \*\.tsv, \*\.csv\.gz, \*\.tsv\.gz",
    ),
    "an Excel file in a nested folder": Fails(
        _both(_csv("a.csv", _lines()), lambda f: _write(f, "batch2/book.xlsx", b"PK")),
        "2026-01-10/batch2/book.xlsx",
        "unsupported type",
    ),
    "a dangling symlink": Fails(
        _both(_csv("a.csv", _lines()), lambda f: _symlink(f, "gone.csv", f / "missing.csv")),
        "2026-01-10/gone.csv",
        "dangling symlink",
    ),
    "a hidden temp file of an interrupted upload": Fails(
        _both(_csv("a.csv", _lines()), lambda f: _write(f, ".a.csv.123.tmp", "x")),
        "2026-01-10/.a.csv.123.tmp",
        "hidden file",
    ),
    "a symlinked folder": Fails(_linked_folder, "2026-01-10/batch2", "symlinked folder"),
    "a named pipe": Fails(_fifo, "2026-01-10/pipe.csv", "not a regular file"),
    "an empty day folder": Fails(lambda f: f.mkdir(parents=True), "2026-01-10", "no landing files"),
    "a zero-byte CSV": Fails(
        lambda f: _write(f, "a.csv", b""), "2026-01-10/a.csv", r"empty file \(0 bytes\)"
    ),
    "a truncated Parquet file": Fails(_truncated("a.parquet"), "2026-01-10/a.parquet", "cannot be read"),
    "a truncated gzip file": Fails(_truncated("a.csv.gz"), "2026-01-10/a.csv.gz", "not a complete gzip file"),
    "a gzip name on a plain file": Fails(
        _csv("a.csv.gz", _lines()), "2026-01-10/a.csv.gz", "not a complete gzip file"
    ),
    "one latin-1 byte": Fails(
        lambda f: _write(f, "a.csv", "\n".join(LATIN1).encode("latin-1")),
        "2026-01-10/a.csv",
        r"line 5: byte 0xe9 at byte offset \d+ is not valid UTF-8.*re-export it as UTF-8",
    ),
    "a line with an extra field": Fails(
        _csv("a.csv", [*_lines()[:3], _lines()[3] + ",x", *_lines()[4:]]),
        "2026-01-10/a.csv",
        "line 4: 11 fields, the header has 10",
    ),
    "a line with a missing field": Fails(
        _csv("a.csv", [*_lines()[:6], _lines()[6].rsplit(",", 1)[0], *_lines()[7:]]),
        "2026-01-10/a.csv",
        "line 7: 9 fields, the header has 10",
    ),
    "an unterminated quote": Fails(
        _csv("a.csv", _set(_lines(), 17, "merchant_id", '"m0001')),
        "2026-01-10/a.csv",
        r"lines 19-21 \(read as one record: an unterminated quote\?\): 4 fields",
    ),
    "a delimiter no reader knows": Fails(
        _csv("a.csv", [line.replace(",", ":") for line in _lines()[:1]]),
        "2026-01-10/a.csv",
        "the header holds one column .* it probably uses ':' as its delimiter",
    ),
    "a CSV of blank lines only": Fails(_csv("a.csv", ["", "  ", ""]), "2026-01-10/a.csv", "no header"),
    "a missing column": Fails(
        _parquet("a.parquet", FRAME.drop("merchant_id")),
        "2026-01-10/a.parquet",
        "column merchant_id: rule 'required column'",
    ),
    "an extra column": Fails(
        _csv("a.csv", [line + ",x" for line in _lines()]), "2026-01-10/a.csv", "rule 'no extra columns'"
    ),
    "a repeated column": Fails(
        _csv("a.csv", [f"{line},{line.split(',')[0]}" for line in [",".join(HEADER), *_lines()[1:]]]),
        "2026-01-10/a.csv",
        "column transaction_id: rule 'unique header' failed",
    ),
}


def test_the_table_has_at_least_thirty_cases() -> None:
    assert len(QUARANTINE_CASES) + len(FAILURE_CASES) >= 30


@pytest.mark.parametrize("case", QUARANTINE_CASES.values(), ids=QUARANTINE_CASES.keys())
def test_bad_rows_are_quarantined_with_a_reason_and_none_is_lost(tmp_path: Path, case: Quarantined) -> None:
    case.land(tmp_path / DAY.isoformat())
    raw = ingest_day(tmp_path, DAY)
    result = split_transactions(raw, DAY)
    assert raw.height == case.rows
    assert result.valid.height + result.quarantined.height == case.rows
    assert result.quarantined.height == case.quarantined
    for reason in result.quarantined["quarantine_reason"].to_list():
        assert reason.startswith(f"{PARTITION}: file ")
        assert re.search(case.reason, reason), reason


@pytest.mark.parametrize("case", FAILURE_CASES.values(), ids=FAILURE_CASES.keys())
def test_unreadable_input_fails_naming_partition_file_and_problem_and_writes_nothing(
    settings: Settings, resources: dict, instance: dg.DagsterInstance, case: Fails
) -> None:
    case.land(settings.landing_dir / DAY.isoformat())
    result = dg.materialize(
        [raw_transactions],
        resources=resources,
        instance=instance,
        partition_key=DAY.isoformat(),
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.cause.message
    assert f"{PARTITION}:" in message
    assert case.file in message
    assert re.search(case.problem, message), message
    assert not (settings.lakehouse_dir / "raw_transactions").exists()
