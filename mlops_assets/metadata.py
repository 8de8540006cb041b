"""Helpers that turn frames into the metadata an analyst reads in the Dagster UI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import polars as pl


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pl.DataFrame, max_rows: int = 10) -> str:
    """A markdown table of the first rows (hand-written: avoids a `tabulate` dependency for one call)."""
    head = frame.head(max_rows)
    lines = [
        "| " + " | ".join(head.columns) + " |",
        "| " + " | ".join("---" for _ in head.columns) + " |",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in head.iter_rows()]
    if frame.height > max_rows:
        lines.append(f"\n_{frame.height - max_rows} more rows_")
    return "\n".join(lines)


def preview(frame: pl.DataFrame, max_rows: int = 10) -> dg.MetadataValue:
    """A preview table for the UI."""
    return dg.MetadataValue.md(markdown_table(frame, max_rows))


def table_schema(frame: pl.DataFrame) -> dg.TableSchema:
    """The frame's columns and types as a Dagster table schema (shown as the asset's columns)."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in frame.schema.items()]
    )


def files_size_bytes(paths: Sequence[Path]) -> int:
    """Bytes on disk of the written files."""
    return sum(p.stat().st_size for p in paths)
