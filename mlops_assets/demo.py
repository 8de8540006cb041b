"""`make demo`: simulate data, materialize every asset for every partition, and say what was produced.

Runs against the real Dagster instance in `DAGSTER_HOME`, so every run, materialization and check
result shows up in the UI afterwards (`make ui`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from mlops_assets.instance import prepare_instance
from mlops_assets.lakehouse import STAGING_DIR, existing_days, scan_days
from mlops_assets.settings import Settings
from mlops_assets.simulator import SimulationConfig, write_days
from mlops_assets.tables import DRIFT_REPORT, QUARANTINED_TABLE

DEMO_DAYS = 60
DRIFT_AFTER_DAYS = 45
# About one row in 200 broken the way real exports break (nulls, bad codes, duplicates, wrong days), so
# the quarantine has something to show.
DEMO_BAD_ROW_SHARE = 0.005
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
# The demo prints its own summary; step-level logs stay in the instance for the UI.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# An Evidently HTML report for every demo day (a large backfill bounds this to its last days).
DEMO_OP_CONFIG = {DRIFT_REPORT: {"config": {"evidently_max_days": DEMO_DAYS}}}


def run_config_for(keys: list[dg.AssetKey]) -> dict[str, object]:
    """Quiet logs, plus the demo's op config for the ops of this layer."""
    names = {k.to_user_string() for k in keys}
    return {**QUIET_LOGS, "ops": {op: cfg for op, cfg in DEMO_OP_CONFIG.items() if op in names}}


def demo_window(today: date) -> tuple[date, date]:
    """The 60 complete days before today: the last 60 partitions Dagster offers."""
    return today - timedelta(days=DEMO_DAYS), today


def execution_layers(defs: dg.Definitions) -> list[tuple[bool, list[dg.AssetKey]]]:
    """Assets in dependency order, grouped into runs of equal partitioning.

    Partitioned layers run once over the whole window (a single-run backfill); unpartitioned
    layers (training dataset, model, promotion) run once in between.
    """
    graph = defs.resolve_asset_graph()
    layers: list[tuple[bool, list[dg.AssetKey]]] = []
    for level in graph.toposorted_asset_keys_by_level:
        for key in sorted(k for k in level if graph.get(k).is_materializable):
            partitioned = graph.get(key).partitions_def is not None
            if layers and layers[-1][0] == partitioned:
                layers[-1][1].append(key)
            else:
                layers.append((partitioned, [key]))
    return layers


def run_demo(rows_per_day: int) -> None:
    """Simulate, materialize, report."""
    settings = Settings.from_env()
    start, end = demo_window(datetime.now(UTC).date())
    config = SimulationConfig(
        start=start,
        days=DEMO_DAYS,
        rows_per_day=rows_per_day,
        drift_start=start + timedelta(days=DRIFT_AFTER_DAYS),
        drift_kinds=("covariate", "new_categories"),
    )
    began = time.perf_counter()
    files = write_days(config, settings.data_dir, "parquet", bad_row_share=DEMO_BAD_ROW_SHARE)
    print(f"simulated {len(files)} days x {rows_per_day} rows into {settings.landing_dir}")

    from mlops_assets.definitions import defs  # after the environment is final

    range_tags = {RANGE_START: start.isoformat(), RANGE_END: (end - timedelta(days=1)).isoformat()}
    prepare_instance()  # before anything else can touch a fresh DAGSTER_HOME (see mlops_assets.instance)
    with dg.DagsterInstance.get() as instance:
        for partitioned, keys in execution_layers(defs):
            names = ", ".join(k.to_user_string() for k in keys)
            scope = (
                f"partitions {range_tags[RANGE_START]}..{range_tags[RANGE_END]}" if partitioned else "once"
            )
            print(f"materializing ({scope}): {names}")
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
    print(f"\ndone in {time.perf_counter() - began:.0f} s.")
    print_summary(defs, settings)


def print_summary(defs: dg.Definitions, settings: Settings) -> None:
    """What was produced: tables with partitions and rows, the champions, the reports, where to look."""
    from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME
    from mlops_assets.defs.training.registry import CHAMPION, FAMILY_TAG, alias_version, family_candidates

    print(f"\nLakehouse tables under {settings.lakehouse_dir}:")
    for table in sorted(p for p in settings.lakehouse_dir.iterdir() if p.is_dir() and p.name != STAGING_DIR):
        files = sorted(table.rglob("*.parquet"))
        partitions = len(existing_days(settings.lakehouse_dir, table.name))
        rows = pl.scan_parquet(files).select(pl.len()).collect().item() if files else 0
        layout = f"{partitions} partitions" if partitions else "unpartitioned"
        print(f"  {table.name:<26} {layout:>15}  {rows:>9} rows")
    print_quarantine(settings)
    # Initialised: secret-bearing fields are `dg.EnvVar`s, resolved from the environment only here.
    client = (defs.resources or {})["mlflow"].process_config_and_initialize().client()
    print(f"\nModels in the MLflow registry ({settings.mlflow_tracking_uri}):")
    champion = alias_version(client, REGISTERED_MODEL_NAME, CHAMPION)
    serving = f"v{champion.version} ({champion.tags.get(FAMILY_TAG)})" if champion else "none"
    print(f"  {REGISTERED_MODEL_NAME}: champion {serving}")
    for family, candidate in family_candidates(client, REGISTERED_MODEL_NAME).items():
        decision = candidate.tags.get("promotion_decision", "not judged yet")
        print(f"    candidate {family:<9} v{candidate.version}: {decision}")
        reasons = json.loads(candidate.tags.get("promotion_reasons", "[]"))
        for reason in [*reasons, *filter(None, [candidate.tags.get("promotion_note")])]:
            print(f"      - {reason}")
    reports = sorted((settings.reports_dir / DRIFT_REPORT).glob("*.html"))
    print(f"\nEvidently drift reports: {len(reports)} in {settings.reports_dir / 'drift_report'}")
    print("\nOpen the tools on this state:")
    print("  Dagster (lineage, runs, per-day checks): `make ui`, then http://127.0.0.1:3000")
    print("  MLflow (runs, the registry, model cards): `make mlflow`, then http://127.0.0.1:5000")
    print(f"  Evidently reports (HTML per day):        {settings.reports_dir / DRIFT_REPORT}")
    print("Query the tables with DuckDB: notebooks/analyst_drift.ipynb, or in Python:")
    print(
        f"  connect_lakehouse(Path('{settings.lakehouse_dir}')).sql('SELECT * FROM validated_transactions')"
    )


def print_quarantine(settings: Settings) -> None:
    """How many rows validation quarantined, by the rule they broke (the simulator breaks ~0.5 %)."""
    root = settings.lakehouse_dir
    quarantined = scan_days(root, QUARANTINED_TABLE, existing_days(root, QUARANTINED_TABLE))
    if quarantined is None:
        return
    # A rule's arguments (day bounds, category lists) are dropped so that one rule counts once across
    # days; a row that broke several rules is counted under its first.
    rule = pl.concat_str(
        pl.col("failed_columns"), pl.lit(": "), pl.col("failed_checks").str.replace(r"\(.*$", "")
    )
    by_rule = (
        quarantined.group_by(rule.alias("rule"))
        .agg(pl.len().alias("rows"))
        .sort(["rows", "rule"], descending=[True, False])
        .collect()
    )
    print(f"\nQuarantined rows: {int(by_rule['rows'].sum())}, by rule broken:")
    for rule, rows in by_rule.iter_rows():
        print(f"  {rows:>6}  {rule}")


def main() -> None:
    """Entry point for `python -m mlops_assets.demo`."""
    # Third-party warning chatter (evidently, ibis, litestar, numpy, SQLAlchemy) would bury the summary.
    # Some of those libraries install their own warning filters on import, so filters set here do not
    # hold; routing warnings to a logger that drops them does. The test suite still sees every warning.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.ERROR)
    run_demo(rows_per_day=int(os.environ.get("MLOPS_DEMO_ROWS_PER_DAY", "2000")))


if __name__ == "__main__":
    main()
