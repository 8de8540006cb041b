"""What one monitored day leaves behind: its statistics JSON, its Evidently report, and its metadata.

Pure shaping of a `DayResult` into files and into the values its partition's materialization and
check results carry; the asset only decides which days get an Evidently report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.monitoring.daily import DayResult
from mlops_assets.defs.monitoring.evidently_days import evidently_absent
from mlops_assets.defs.monitoring.evidently_report import (
    EvidentlyResult,
    remove_drift_report,
    write_drift_report,
)
from mlops_assets.defs.monitoring.reference import CATEGORICAL_MONITORED, NUMERIC_MONITORED, Reference
from mlops_assets.defs.monitoring.verdicts import Verdict
from mlops_assets.lakehouse import write_text_atomic
from mlops_assets.metadata import CheckTargets, markdown_table, partition_check


def report_title(result: DayResult) -> str:
    """The Evidently report's title: which day, scored by which model version, against which window."""
    model = f"{result.version[0]} v{result.version[1]}" if result.version else "no model"
    window = result.reference.window if isinstance(result.reference, Reference) else "no reference"
    return f"Drift {result.day} | {model} | reference {window}"


def statistics_json(result: DayResult, as_of: datetime) -> str:
    """Every statistic of the day, machine-readable (the checks' evidence)."""
    reference = result.reference
    return json.dumps(
        {
            "day": result.day.isoformat(),
            "as_of": as_of.isoformat(),
            "model": None
            if result.version is None
            else {"name": result.version[0], "version": result.version[1]},
            "reference_window": reference.window if isinstance(reference, Reference) else None,
            "reference_status": reference if isinstance(reference, str) else "ok",
            "features": result.table.to_dicts() if result.table is not None else [],
            "score_drift": result.score.__dict__,
            "performance": result.performance.metadata(),
            "checks": {name: {"status": v.status, "reason": v.reason} for name, v in result.verdicts.items()},
        },
        indent=1,
        default=str,
    )


def write_statistics(result: DayResult, as_of: datetime, path: Path) -> Path:
    """The statistics JSON, written atomically."""
    return write_text_atomic(statistics_json(result, as_of), path)


def write_evidently(
    result: DayResult, current: pl.DataFrame, html_path: Path, drift_share: float, reference_rows: int
) -> EvidentlyResult | None:
    """Evidently HTML and JSON for the day, titled with the day and model version (None: no reference)."""
    if not isinstance(result.reference, Reference) or current.height == 0:
        return None
    return write_drift_report(
        result.reference.frame,
        current,
        NUMERIC_MONITORED,
        CATEGORICAL_MONITORED,
        html_path,
        drift_share=drift_share,
        reference_sample_rows=reference_rows,
        title=report_title(result),
    )


def day_evidently(
    result: DayResult,
    current: pl.DataFrame,
    html_path: Path,
    why: str | None,
    left_out: str,
    drift_share: float,
    reference_rows: int,
) -> tuple[EvidentlyResult | None, str]:
    """The day's Evidently report when `why` names a reason for one, and the note its metadata carries.

    A day without a report in this run loses any report an earlier run left: that one described other
    rows or another model, and the folder would contradict the day's statistics.
    """
    evidently = (
        write_evidently(result, current, html_path, drift_share, reference_rows) if why is not None else None
    )
    if evidently is not None:
        return evidently, f"written: {why}"
    remove_drift_report(html_path)
    if why is None:
        return None, evidently_absent(result.day, left_out)
    nothing = result.reference if isinstance(result.reference, str) else "no scored rows"
    return None, f"no Evidently HTML: nothing to compare ({nothing})"


def drifted_features(result: DayResult) -> pl.DataFrame:
    """The day's drifted features with the statistic that decided."""
    if result.table is None:
        return pl.DataFrame()
    return result.table.filter(pl.col("drifted")).select(
        "feature", "kind", "method", pl.col("score").round(4), "threshold", "reason"
    )


def day_metadata(
    result: DayResult,
    statistics: Path,
    evidently: EvidentlyResult | None,
    evidently_note: str,
    seconds: float,
) -> dict[str, Any]:
    """The values this day's materialization carries: its own rows, drift, verdicts and report paths.

    `report_html` is there only when this run wrote the file; `evidently` always says what happened.
    """
    reference = result.reference
    drifted = drifted_features(result)
    metadata: dict[str, Any] = {
        "dagster/row_count": result.rows,
        "model": None if result.version is None else f"{result.version[0]} v{result.version[1]}",
        "reference_model": reference.label if isinstance(reference, Reference) else None,
        "reference_window": reference.window if isinstance(reference, Reference) else None,
        "reference_rows": reference.profile.rows if isinstance(reference, Reference) else 0,
        "reference_status": reference if isinstance(reference, str) else "ok",
        "drift_share": round(result.drift.share, 4),
        "features_drifted": len(result.drift.drifted),
        "drifted_columns": dg.MetadataValue.md(
            markdown_table(drifted, max_rows=60) if drifted.height else "_no drifted columns_"
        ),
        "score_psi": None if result.score.psi is None else round(result.score.psi, 4),
        "performance_status": result.performance.status,
        "performance_reason": result.performance.reason,
        "checks": dg.MetadataValue.json(
            {name: {"status": v.status, "reason": v.reason} for name, v in result.verdicts.items()}
        ),
        "statistics_json": dg.MetadataValue.path(str(statistics)),
        "evidently": evidently_note,
        "seconds": round(seconds, 3),
    }
    if evidently is not None:
        metadata["report_html"] = dg.MetadataValue.path(str(evidently.html_path))
        metadata["report_json"] = dg.MetadataValue.path(str(evidently.json_path))
        metadata["report_url"] = dg.MetadataValue.url(f"file://{evidently.html_path}")
        # Evidently's own verdict on the day (its per-column tests), beside ours for comparison.
        metadata["evidently_drift_share"] = evidently.drift_share
        metadata["evidently_drifted_columns"] = evidently.drifted_columns
    return metadata


def per_partition_table(results: Sequence[DayResult], reports: dict[str, str]) -> pl.DataFrame:
    """One row per day of the run: what the run-level materialization shows as a table."""
    return pl.DataFrame(
        [
            {
                "day": r.day.isoformat(),
                "rows": r.rows,
                "model": None if r.version is None else f"{r.version[0]} v{r.version[1]}",
                "drift_share": round(r.drift.share, 3),
                **{name: v.status for name, v in r.verdicts.items()},
                "score_psi": None if r.score.psi is None else round(r.score.psi, 4),
                "pr_auc": r.performance.pr_auc,
                "report": reports.get(r.day.isoformat()),
            }
            for r in results
        ]
    )


def skipped_checks(results: Sequence[DayResult]) -> list[str]:
    """One log line per check that some day of the run skipped: how many days, and each day's reason.

    One line per check rather than per day: each log line is an event-log write (tens of ms on SQLite),
    and every day's reasons are in its own `checks` metadata too.
    """
    skipped: dict[str, list[str]] = {}
    for result in results:
        for check, verdict in result.verdicts.items():
            if verdict.status == "skipped":
                skipped.setdefault(check, []).append(f"{result.day}: {verdict.reason}")
    return [
        f"check {check} skipped on {len(days)} of {len(results)} days (no result stored): " + "; ".join(days)
        for check, days in skipped.items()
    ]


def verdict_metadata(verdict: Verdict) -> dict[str, Any]:
    """A check result's metadata: plain values as they are, nested mappings as JSON."""
    metadata: dict[str, Any] = {"reason": verdict.reason}
    metadata.update(
        {k: dg.MetadataValue.json(v) if isinstance(v, dict) else v for k, v in verdict.metadata.items()}
    )
    return metadata


def day_check_evaluations(
    targets: CheckTargets,
    check: str,
    verdicts: Mapping[date, Verdict],
    severity: dg.AssetCheckSeverity,
) -> Iterator[dg.AssetCheckEvaluation]:
    """One result of `check` per judged day, each stored as its own partition's result.

    A day with nothing to judge (`skipped`) gets none: Dagster shows it as not evaluated, never a pass.
    """
    for day, verdict in verdicts.items():
        if verdict.status == "skipped":
            continue
        yield partition_check(
            targets,
            check,
            day,
            verdict.passed,
            description=verdict.reason,
            metadata=verdict_metadata(verdict),
            severity=severity,
        )
