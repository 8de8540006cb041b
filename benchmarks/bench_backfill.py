"""Backfilling a year of daily partitions: one single run, one unpartitioned table, one run per partition.

    .venv/bin/python benchmarks/bench_backfill.py                      # 365 days x 100 rows, 5 sampled runs
    .venv/bin/python benchmarks/bench_backfill.py --days 60 --rows-per-day 2000 --sample 3

Every side ingests and validates the same landed files (`raw_transactions`, `validated_transactions`,
`quarantined_transactions` and the three validation checks) into its own lakehouse, on its own Dagster
instance of the embedded default kind (`dagster.yaml`: SQLite under DAGSTER_HOME, as `make demo` and
`make ui` use):

- **single run**: the asset definitions of the code location materialized over the whole range in one
  run (what `BackfillPolicy.single_run()` makes of a UI or CLI backfill), in process; and the same range
  through the CLI (`dagster asset materialize --partition-range`), its process start included.
- **unpartitioned reference**: the same rows as one table in one run. The same pure functions (reading,
  typing, the pandera split, the check measures) over the whole range at once, written as one Parquet
  file per table, with one result per check: the data work without a partition's bookkeeping.
- **one run per partition**: `dagster asset materialize --partition <day>` for a sample of days, each its
  own process, as a backfill without the single-run policy launches them; the mean is extrapolated to
  the range.

Each side also reports how many events its run(s) stored: Dagster writes a planned and a materialization
event per partition and asset, and one check evaluation per partition and check. With
DAGSTER_EVENT_BATCH_SIZE (set here as the Makefile and the production image set it) the planned and
materialization events reach the storage in batches: the embedded SQLite storage writes each batch, and
a step's check evaluations, with one statement per table in one transaction per database
(mlops_assets/event_log.py); PostgreSQL writes the materializations in one insert and the planned events
and check evaluations one by one. That per-partition bookkeeping, and a file per partition, is what
separates the single run from the unpartitioned table; the data work itself is vectorized over the range.
"""

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import loopback  # noqa: F401  (first: loopback-only network guard, see benchmarks/loopback.py)

if TYPE_CHECKING:
    import polars as pl

    from mlops_assets.defs.validation.split import ValidationResult

REPO = Path(__file__).resolve().parent.parent
SELECTION = "raw_transactions,validated_transactions,quarantined_transactions"
# Every side logs to the console at WARNING, as `make demo` does: the event log keeps everything.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


def _pg(statement: str) -> None:
    import psycopg2

    connection = psycopg2.connect(**PG_ADMIN)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def instance_env(root: Path, name: str, kind: str, databases: list[str]) -> dict[str, str]:
    """A fresh DAGSTER_HOME: the embedded default (`dagster.yaml`) or the production profile on PostgreSQL.

    Both with the event batching their processes run with (the Makefile's and the production image's
    DAGSTER_EVENT_BATCH_SIZE, see mlops_assets/event_log.py), so the bench measures what they run.
    """
    from mlops_assets.event_log import EVENT_BATCH_SIZE

    home = root / name / "dagster_home"
    home.mkdir(parents=True)
    batching = {"DAGSTER_HOME": str(home), "DAGSTER_EVENT_BATCH_SIZE": str(EVENT_BATCH_SIZE)}
    if kind == "sqlite":
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        return batching
    database = f"mlops_bench_{name}_{secrets.token_hex(4)}"
    _pg(f'CREATE DATABASE "{database}"')
    databases.append(database)
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return {
        **batching,
        "DAGSTER_PG_HOST": PG_ADMIN["host"],
        "DAGSTER_PG_PORT": str(PG_ADMIN["port"]),
        "DAGSTER_PG_USER": PG_ADMIN["user"],
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": database,
    }


def side_env(
    root: Path, name: str, landing: Path, start: date, kind: str, databases: list[str]
) -> dict[str, str]:
    """The environment of one side: its own data folder (landing shared by symlink) and instance."""
    data = root / name / "data"
    data.mkdir(parents=True)
    (data / "landing").symlink_to(landing, target_is_directory=True)
    return {
        **os.environ,
        **instance_env(root, name, kind, databases),
        "MLOPS_DATA_DIR": str(data),
        "MLOPS_START_DATE": start.isoformat(),
    }


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """This process with a side's environment (settings and the instance are read from it)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def stored_events(env: dict[str, str]) -> int:
    """Event-log entries of every run in the side's instance."""
    import dagster as dg

    with environment(env), dg.DagsterInstance.get() as instance:
        return sum(len(instance.all_logs(run.run_id)) for run in instance.get_runs())


def where_the_time_went(env: dict[str, str]) -> str:
    """The side's (single) run read back from its event log: each step's time, and its events by kind.

    The README's *Backfill cost* explains the single run against the reference with these.
    """
    import dagster as dg

    with environment(env), dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        steps = instance.get_run_step_stats(run.run_id)
        kinds = Counter(
            e.dagster_event.event_type_value for e in instance.all_logs(run.run_id) if e.dagster_event
        )
        stats = instance.get_run_stats(run.run_id)
    step_times = ", ".join(f"{s.step_key} {(s.end_time or 0) - (s.start_time or 0):.2f} s" for s in steps)
    counted = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common() if n > 1)
    run_seconds = (stats.end_time or 0) - (stats.launch_time or stats.start_time or 0)
    return f"{run_seconds:.2f} s from the run's launch to its end; steps: {step_times}; events: {counted}"


def in_process(env: dict[str, str], action: Callable[[], object]) -> float:
    """The wall time of `action` run in this process with the side's environment."""
    with environment(env):
        started = time.perf_counter()
        action()
        return time.perf_counter() - started


def single_run(first: date, last: date) -> None:
    """The code location's own assets over the whole range, in one run."""
    from mlops_assets.defs.ingestion.assets import raw_transactions
    from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions

    tags = {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }
    materialize_here([raw_transactions, validated_and_quarantined_transactions], tags)


def materialize_here(assets: list, tags: dict[str, str] | None = None) -> None:
    """One run of `assets` on this side's instance and data folder (read from the environment)."""
    from mlops_assets.resources import build_resources
    from mlops_assets.settings import Settings

    resources = build_resources(Settings.from_env())
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            assets,
            resources={k: resources[k] for k in ("landing", "lakehouse")},
            instance=instance,
            tags=tags,
            run_config=QUIET,
        )
    assert result.success


def unpartitioned_run(days: list[date]) -> None:
    """The same rows as one table in one run: the same functions, no partitions."""
    import polars as pl

    from mlops_assets.defs.ingestion.landing import ingest_days
    from mlops_assets.defs.validation.quality import (
        MAX_NULL_RATE,
        MIN_PASS_RATE,
        TRAILING_DAYS,
        null_rates,
        volume_verdict,
    )

    raw_key, valid_key, quarantine_key = "raw_all", "validated_all", "quarantined_all"

    @dg.asset(name=raw_key, required_resource_keys={"landing", "lakehouse"})
    def raw_all(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        frame = pl.concat(ingest_days(context.resources.landing.root_path, days).values())
        context.resources.lakehouse.write_table(raw_key, frame)
        return dg.MaterializeResult(metadata={"dagster/row_count": frame.height})

    @dg.multi_asset(
        specs=[dg.AssetSpec(valid_key, deps=[raw_key]), dg.AssetSpec(quarantine_key, deps=[raw_key])],
        check_specs=[
            dg.AssetCheckSpec(name, asset=valid_key) for name in ("schema_pass_rate", "volume", "null_rates")
        ],
        required_resource_keys={"lakehouse"},
    )
    def validated_all(
        context: dg.AssetExecutionContext,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        lakehouse = context.resources.lakehouse
        raw = lakehouse.read_table(raw_key)
        results = _split_by_landing_day(raw)
        valid = pl.concat(r.valid for r in results.values())
        quarantined = pl.concat(r.quarantined for r in results.values())
        lakehouse.write_table(valid_key, valid)
        lakehouse.write_table(quarantine_key, quarantined)
        yield dg.MaterializeResult(asset_key=valid_key, metadata={"dagster/row_count": valid.height})
        yield dg.MaterializeResult(
            asset_key=quarantine_key, metadata={"dagster/row_count": quarantined.height}
        )
        pass_rate = valid.height / max(raw.height, 1)
        yield dg.AssetCheckResult(check_name="schema_pass_rate", passed=pass_rate >= MIN_PASS_RATE)
        # The same measure as the daily check, judged for every day of the table at once.
        counts = [results[day].valid.height for day in sorted(results)]
        volume = [volume_verdict(n, counts[max(0, i - TRAILING_DAYS) : i]) for i, n in enumerate(counts)]
        yield dg.AssetCheckResult(check_name="volume", passed=all(v.passed for v in volume))
        yield dg.AssetCheckResult(
            check_name="null_rates", passed=max(null_rates(raw).values()) <= MAX_NULL_RATE
        )

    materialize_here([raw_all, validated_all])


def _split_by_landing_day(raw: "pl.DataFrame") -> "dict[date, ValidationResult]":
    """One validation pass; a row's day (for the day-dependent rules) is its file's folder `<day>/`."""
    import polars as pl

    from mlops_assets.defs.validation.split import split_partitions

    day = pl.col("source_file").str.slice(0, 10).str.to_date()
    frames = raw.with_columns(day.alias("_day")).partition_by("_day", as_dict=True, include_key=False)
    return split_partitions({key[0]: frame for key, frame in sorted(frames.items())})


def cli(env: dict[str, str], *partition_args: str) -> float:
    """One `dagster asset materialize` process; its wall time."""
    command = [
        str(REPO / ".venv/bin/dagster"),
        "asset",
        "materialize",
        "-m",
        "mlops_assets.definitions",
        "--select",
        SELECTION,
        "--config-json",
        json.dumps(QUIET),
        *partition_args,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows-per-day", type=int, default=100)
    parser.add_argument("--sample", type=int, default=5, help="days run one process each, then extrapolated")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument(
        "--instance",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the embedded default, or the production profile (deploy/dagster.yaml) on 127.0.0.1:5432",
    )
    args = parser.parse_args()
    days = [args.start + timedelta(days=i) for i in range(args.days)]
    databases: list[str] = []
    try:
        run_sides(args, days, databases)
    finally:
        for database in databases:
            _pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def run_sides(args: argparse.Namespace, days: list[date], databases: list[str]) -> None:
    """Land the rows once, run every side, print the table."""
    first, last = days[0], days[-1]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["MLOPS_START_DATE"] = args.start.isoformat()  # read at import by the partitions
        from mlops_assets.simulator import SimulationConfig, write_days

        config = SimulationConfig(start=args.start, days=args.days, rows_per_day=args.rows_per_day)
        write_days(config, root / "landed", "parquet")
        landing = root / "landed" / "landing"

        # Imported before any clock starts: every side in this process finds the modules loaded.
        import mlops_assets.defs.ingestion.assets
        import mlops_assets.defs.validation.assets
        import mlops_assets.resources  # noqa: F401
        from mlops_assets.defs.validation.schema import transaction_schema

        transaction_schema()  # pandera, imported on first use (see there), also loaded before the clocks
        # A one-day run of each in-process side on a throwaway instance: the modules Dagster and the
        # assets import during a first run are then loaded for every side, not only for later ones.
        warm_up = side_env(root, "warm_up", landing, args.start, "sqlite", databases)
        in_process(warm_up, lambda: single_run(first, first))
        in_process(warm_up, lambda: unpartitioned_run(days[:1]))

        rows: list[tuple[str, str, float, int]] = []
        env = side_env(root, "single", landing, args.start, args.instance, databases)
        seconds = in_process(env, lambda: single_run(first, last))
        rows.append(("single run (in process)", "1", seconds, stored_events(env)))
        print(f"single run: {seconds:.1f} s", file=sys.stderr)
        single_run_detail = where_the_time_went(env)

        env = side_env(root, "single_cli", landing, args.start, args.instance, databases)
        seconds = cli(env, "--partition-range", f"{first.isoformat()}...{last.isoformat()}")
        rows.append(("single run (CLI process)", "1", seconds, stored_events(env)))
        print(f"single run through the CLI: {seconds:.1f} s", file=sys.stderr)

        env = side_env(root, "unpartitioned", landing, args.start, args.instance, databases)
        seconds = in_process(env, lambda: unpartitioned_run(days))
        rows.append(("unpartitioned reference (in process)", "1", seconds, stored_events(env)))
        reference_detail = where_the_time_went(env)
        print(f"unpartitioned: {seconds:.1f} s", file=sys.stderr)

        env = side_env(root, "per_partition", landing, args.start, args.instance, databases)
        step = max(1, args.days // args.sample)
        sample = days[step // 2 :: step][: args.sample]
        runs = [cli(env, "--partition", day.isoformat()) for day in sample]
        mean = sum(runs) / len(runs)
        events = stored_events(env)
        rows.append(
            (
                f"one run per partition (CLI, {len(sample)} sampled, extrapolated)",
                str(args.days),
                mean * args.days,
                round(events / len(sample) * args.days),
            )
        )
        print(f"per partition: {[round(r, 1) for r in runs]} s", file=sys.stderr)

    print(
        f"\nBackfill of {args.days} daily partitions x {args.rows_per_day} rows: raw_transactions + "
        f"validated/quarantined + 3 checks, {args.instance} instance\n"
    )
    print("| side | runs | wall time (s) | per partition (ms) | events stored |")
    print("|---|---:|---:|---:|---:|")
    for name, runs_text, seconds, events in rows:
        print(f"| {name} | {runs_text} | {seconds:.1f} | {1000 * seconds / args.days:.0f} | {events} |")
    single, unpartitioned, per_partition = rows[0][2], rows[2][2], rows[3][2]
    print(
        f"\nsingle run / unpartitioned: {single / unpartitioned:.1f}x (target <= 2x); "
        f"runs per partition / single run: {per_partition / single:.0f}x (target >= 50x); "
        f"per-partition sample: {len(sample)} of {args.days} days, mean {mean:.1f} s per run"
    )
    print(f"\nsingle run: {single_run_detail}\nunpartitioned reference: {reference_detail}")


if __name__ == "__main__":
    main()
