"""`make demo`: simulate data, materialize every asset for every partition, and say what was produced.

Runs against the real Dagster instance in `DAGSTER_HOME`, so every run, materialization and check
result shows up in the UI afterwards (`make ui`). The summary is read back from what the runs stored
(the lakehouse, the instance's check results, the MLflow registry); each part is a pure function from
those values to lines, so a test can check the lines against the stores.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from mlops_assets.instance import prepare_instance
from mlops_assets.lakehouse import STAGING_DIR, days_between, existing_days, scan_days
from mlops_assets.settings import Settings
from mlops_assets.simulator import SimulationConfig, write_days
from mlops_assets.tables import (
    DRIFT_REPORT,
    FRAUD_MODEL,
    QUARANTINED_TABLE,
    SERVING_LOG_TABLE,
    SHADOW_COMPARISON_TABLE,
)

DEMO_DAYS = 60
# The last 10 days drift: each drifted day gets an Evidently HTML report (about 2.5 s each), and 10 days
# show the drift as clearly as 15 while keeping `make demo` within its 90 s.
DRIFT_AFTER_DAYS = 50
ROWS_PER_DAY_ENV = "MLOPS_DEMO_ROWS_PER_DAY"
# About one row in 200 broken the way real exports break (nulls, bad codes, duplicates, wrong days), so
# the quarantine has something to show.
DEMO_BAD_ROW_SHARE = 0.005
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
# The demo prints its own progress and summary; step-level logs stay in the instance for the UI.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# Training on one thread: the demo shares two cores with whatever else runs, and OpenMP threads spin
# while they wait for a busy core (LightGBM on the demo's data: 3.3 s on one thread, 13.9 s on two, with
# the load at 3).
DEMO_OP_CONFIG = {FRAUD_MODEL: {"config": {"num_threads": 1}}}
FEATURE_DRIFT = dg.AssetCheckKey(dg.AssetKey(DRIFT_REPORT), "feature_drift")
SHOWN_FEATURES = 5


@dataclass(frozen=True)
class DriftDay:
    """A day's stored `feature_drift` result: whether it passed, why, and the features that drifted."""

    day: str
    passed: bool
    reason: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class GateDecision:
    """What the promotion gate decided about one family's candidate, and why."""

    family: str
    version: str
    decision: str
    reasons: tuple[str, ...]


def run_config_for(keys: Sequence[dg.AssetKey]) -> dict[str, object]:
    """Quiet logs, plus the demo's op config for the ops of this layer (a run rejects config for others)."""
    ops = {key.path[0] for key in keys}
    return {**QUIET_LOGS, "ops": {op: cfg for op, cfg in DEMO_OP_CONFIG.items() if op in ops}}


def demo_window(today: date, days: int = DEMO_DAYS) -> tuple[date, date]:
    """The `days` complete days before today (the last partitions Dagster offers), end exclusive."""
    return today - timedelta(days=days), today


# They ingest what `mlops-serve` logged: the demo runs no service, so every one of their days would be an
# empty partition. `make serve` on the demo's state, then materialize them for the served day.
SERVED_ASSETS = frozenset({SERVING_LOG_TABLE, SHADOW_COMPARISON_TABLE})


def execution_layers(defs: dg.Definitions) -> list[tuple[bool, list[dg.AssetKey]]]:
    """Assets in dependency order, grouped into runs of equal partitioning; the served ones left out.

    Partitioned layers run once over the whole window (a single-run backfill); unpartitioned
    layers (training dataset, model, promotion) run once in between.
    """
    graph = defs.resolve_asset_graph()
    layers: list[tuple[bool, list[dg.AssetKey]]] = []
    for level in graph.toposorted_asset_keys_by_level:
        wanted = (
            k for k in level if graph.get(k).is_materializable and k.to_user_string() not in SERVED_ASSETS
        )
        for key in sorted(wanted):
            partitioned = graph.get(key).partitions_def is not None
            if layers and layers[-1][0] == partitioned:
                layers[-1][1].append(key)
            else:
                layers.append((partitioned, [key]))
    return layers


def run_demo(rows_per_day: int, days: int = DEMO_DAYS, drift_after_days: int = DRIFT_AFTER_DAYS) -> list[str]:
    """Simulate, materialize layer by layer (printing each as it goes), and return the summary lines."""
    from mlops_assets.definitions import build_defs

    settings = Settings.from_env()
    start, end = demo_window(datetime.now(UTC).date(), days)
    config = SimulationConfig(
        start=start,
        days=days,
        rows_per_day=rows_per_day,
        drift_start=start + timedelta(days=drift_after_days),
        drift_kinds=("covariate", "new_categories"),
    )
    began = time.perf_counter()
    files = write_days(config, settings.data_dir, "parquet", bad_row_share=DEMO_BAD_ROW_SHARE)
    print(f"simulated {len(files)} days x {rows_per_day} rows into {settings.landing_dir}", flush=True)

    defs = build_defs(settings)  # after the landing zone exists: the partitions start at its first day
    last = end - timedelta(days=1)
    range_tags = {RANGE_START: start.isoformat(), RANGE_END: last.isoformat()}
    prepare_instance()  # before anything else can touch a fresh DAGSTER_HOME (see mlops_assets.instance)
    layers = execution_layers(defs)
    with dg.DagsterInstance.get() as instance:
        for number, (partitioned, keys) in enumerate(layers, 1):
            names = ", ".join(k.to_user_string() for k in keys)
            scope = f"days {start}..{last}" if partitioned else "once"
            print(f"[{number}/{len(layers)}] {scope}: {names}", flush=True)
            tick = time.perf_counter()
            result = dg.materialize(
                assets=[*(defs.assets or []), *(defs.asset_checks or [])],  # type: ignore[list-item]
                resources=defs.resources,
                selection=keys,
                instance=instance,
                run_config=run_config_for(keys),
                tags=range_tags if partitioned else {"mlops/demo": "true"},
            )
            if not result.success:
                raise SystemExit(f"demo failed while materializing {names}")
            print(f"      done in {time.perf_counter() - tick:.1f} s", flush=True)
        print(f"\nMaterialized in {time.perf_counter() - began:.0f} s.")
        window = [d.isoformat() for d in days_between(start, end)]
        drift = stored_feature_drift(instance, window)
    return summary_lines(defs, settings, drift, window)


def summary_lines(
    defs: dg.Definitions, settings: Settings, drift: Sequence[DriftDay], window: Sequence[str]
) -> list[str]:
    """Everything the summary says about the demo's days, read from the stores the runs wrote to."""
    from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME
    from mlops_assets.defs.training.registry import CHAMPION, FAMILY_TAG, alias_version, family_candidates

    # Initialised: secret-bearing fields are `dg.EnvVar`s, resolved from the environment only here.
    client = (defs.resources or {})["mlflow"].process_config_and_initialize().client()
    champion = alias_version(client, REGISTERED_MODEL_NAME, CHAMPION)
    decisions = [
        GateDecision(
            family,
            str(candidate.version),
            candidate.tags.get("promotion_decision", "not judged yet"),
            (
                *json.loads(candidate.tags.get("promotion_reasons", "[]")),
                *filter(None, [candidate.tags.get("promotion_note")]),
            ),
        )
        for family, candidate in family_candidates(client, REGISTERED_MODEL_NAME).items()
    ]
    reports = settings.reports_dir / DRIFT_REPORT
    return [
        *table_lines(settings.lakehouse_dir, table_stats(settings.lakehouse_dir)),
        *drift_lines(drift, len(window)),
        *quarantine_lines(quarantine_by_rule(settings.lakehouse_dir)),
        *gate_lines(
            f"{REGISTERED_MODEL_NAME} ({settings.mlflow_tracking_uri})",
            f"v{champion.version} ({champion.tags.get(FAMILY_TAG)})" if champion else None,
            decisions,
        ),
        *report_lines(
            reports,
            sum((reports / f"{day}.html").exists() for day in window),
            sum((reports / f"{day}.statistics.json").exists() for day in window),
        ),
        *tool_lines(settings),
    ]


# --- reading the stores ---------------------------------------------------------------------------


def table_stats(lakehouse: Path) -> list[tuple[str, int, int]]:
    """Each lakehouse table: its name, partitions (0: unpartitioned) and rows."""
    stats = []
    for table in sorted(p for p in lakehouse.iterdir() if p.is_dir() and p.name != STAGING_DIR):
        files = sorted(table.rglob("*.parquet"))
        rows = pl.scan_parquet(files).select(pl.len()).collect().item() if files else 0
        stats.append((table.name, len(existing_days(lakehouse, table.name)), rows))
    return stats


def stored_feature_drift(instance: dg.DagsterInstance, days: Sequence[str]) -> list[DriftDay]:
    """The latest stored `feature_drift` result of each of `days` that has one, oldest day first."""
    records = instance.event_log_storage.get_asset_check_execution_history(FEATURE_DRIFT, limit=10_000)
    latest: dict[str, DriftDay] = {}
    for record in records:  # newest first: the first result seen for a day is its latest
        evaluation = record.evaluation
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue
        day = evaluation.partition
        if day is None or day not in days:
            continue
        drifted = evaluation.metadata.get("drifted_features_worst_day")
        latest.setdefault(
            day,
            DriftDay(
                day,
                evaluation.passed,
                evaluation.description or "",
                tuple(drifted.value) if drifted is not None else (),  # type: ignore[arg-type]
            ),
        )
    return [latest[d] for d in sorted(latest)]


def quarantine_by_rule(lakehouse: Path) -> pl.DataFrame:
    """Quarantined rows per rule broken, most first (`rule`, `rows`); empty when nothing was quarantined.

    A rule's arguments (day bounds, category lists) are dropped so that one rule counts once across
    days; a row that broke several rules is counted under its first.
    """
    quarantined = scan_days(lakehouse, QUARANTINED_TABLE, existing_days(lakehouse, QUARANTINED_TABLE))
    if quarantined is None:
        return pl.DataFrame(schema={"rule": pl.String, "rows": pl.UInt32})
    rule = pl.concat_str(
        pl.col("failed_columns"), pl.lit(": "), pl.col("failed_checks").str.replace(r"\(.*$", "")
    )
    return (
        quarantined.group_by(rule.alias("rule"))
        .agg(pl.len().alias("rows"))
        .sort(["rows", "rule"], descending=[True, False])
        .collect()
    )


# --- the summary's lines (pure) -------------------------------------------------------------------


def table_lines(lakehouse: Path, stats: Sequence[tuple[str, int, int]]) -> list[str]:
    """The lakehouse tables with their partitions and rows."""
    lines = [f"\nLakehouse tables under {lakehouse}:"]
    for name, partitions, rows in stats:
        layout = f"{partitions} partitions" if partitions else "unpartitioned"
        lines.append(f"  {name:<26} {layout:>15}  {rows:>9} rows")
    return lines


def drift_lines(drift: Sequence[DriftDay], days: int) -> list[str]:
    """Which days drifted and on which features; how many were judged and how many were not."""
    failed = [d for d in drift if not d.passed]
    lines = [
        f"\nFeature drift (check drift_report:feature_drift): {len(failed)} of {len(drift)} judged days "
        f"drifted; {days - len(drift)} of the {days} days not judged (warming up, or nothing to compare)."
    ]
    for day in failed:
        shown = ", ".join(day.features[:SHOWN_FEATURES])
        more = f" and {len(day.features) - SHOWN_FEATURES} more" if len(day.features) > SHOWN_FEATURES else ""
        lines.append(f"  {day.day}  {len(day.features)} features: {shown}{more}")
    return lines


def quarantine_lines(by_rule: pl.DataFrame) -> list[str]:
    """The quarantined rows, in total and by the rule they broke."""
    lines = [f"\nQuarantined rows: {int(by_rule['rows'].sum())}, by rule broken:"]
    lines += [f"  {rows:>6}  {rule}" for rule, rows in by_rule.iter_rows()]
    return lines


def gate_lines(model: str, champion: str | None, decisions: Sequence[GateDecision]) -> list[str]:
    """The champion, and the gate's decision about each family's candidate with its reasons."""
    lines = [f"\nPromotion gate, registered model {model}:", f"  champion: {champion or 'none'}"]
    for decision in decisions:
        lines.append(f"  candidate {decision.family:<9} v{decision.version}: {decision.decision}")
        lines += [f"    - {reason}" for reason in decision.reasons]
    return lines


def report_lines(folder: Path, html: int, statistics: int) -> list[str]:
    """Where the drift reports are, and how to get the HTML of a day that has none."""
    return [
        f"\nDrift reports in {folder}: statistics JSON for {statistics} days, Evidently HTML for {html} "
        "(the days feature_drift failed and the last 7).",
        "  HTML for other days: re-materialize drift_report with run config evidently_days "
        "(README, Drift reports).",
    ]


def tool_lines(settings: Settings) -> list[str]:
    """The commands that open each tool on this state."""
    return [
        "\nOpen the tools on this state:",
        "  Dagster (lineage, runs, per-day checks): `make ui`, then http://127.0.0.1:3000",
        "  MLflow (runs, the registry, model cards): `make mlflow`, then http://127.0.0.1:5000",
        "  Online scoring on this state:             `make serve`, then POST http://127.0.0.1:8000/score; "
        f"materialize {SERVING_LOG_TABLE} and {SHADOW_COMPARISON_TABLE} for the served day after",
        f"  Evidently reports (HTML per day):        {settings.reports_dir / DRIFT_REPORT}",
        "Query the tables with DuckDB: notebooks/analyst_drift.ipynb, or in Python:",
        f"  connect_lakehouse(Path('{settings.lakehouse_dir}')).sql('SELECT * FROM validated_transactions')",
    ]


def main() -> None:
    """Entry point for `python -m mlops_assets.demo`."""
    # Third-party warning chatter (evidently, ibis, litestar, numpy, SQLAlchemy) would bury the summary.
    # Some of those libraries install their own warning filters on import, so filters set here do not
    # hold; routing warnings to a logger that drops them does. The test suite still sees every warning.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.ERROR)
    print("\n".join(run_demo(rows_per_day=int(os.environ.get(ROWS_PER_DAY_ENV, "2000")))), flush=True)
    # The process ends here. Its final garbage collection would walk every object dagster, torch, mlflow
    # and evidently left behind (3-6 s); frozen objects are skipped, and the OS frees the memory anyway.
    gc.freeze()


if __name__ == "__main__":
    main()
