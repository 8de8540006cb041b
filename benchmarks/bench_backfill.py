"""Backfilling a year of daily partitions: one single-run backfill vs one run per partition.

    .venv/bin/python benchmarks/bench_backfill.py                 # 365 days x 100 rows
    .venv/bin/python benchmarks/bench_backfill.py --days 60 --rows-per-day 500

Both sides materialize `raw_transactions` and `validated_transactions` (+ quarantine and checks) for the
same landed days into separate data folders and Dagster instances, in process. The single run is what
`BackfillPolicy.single_run()` makes of a UI or CLI backfill; the per-partition side is what a backfill
without the policy costs in run overhead alone (a deployed Dagster also starts a process per run, which
adds a few seconds to each of those runs).
"""

import argparse
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import loopback  # noqa: F401  (first: loopback-only network guard, see benchmarks/loopback.py)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows-per-day", type=int, default=100)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Settings are read at import time by the partitions definition: set them first.
        os.environ["MLOPS_PARTITIONS_START"] = args.start.isoformat()
        os.environ["MLOPS_DATA_DIR"] = str(root / "single")
        import dagster as dg

        from mlops_assets.defs.ingestion.assets import raw_transactions
        from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
        from mlops_assets.lakehouse import existing_days
        from mlops_assets.resources import build_resources
        from mlops_assets.settings import Settings
        from mlops_assets.simulator import SimulationConfig, write_days

        assets = [raw_transactions, validated_and_quarantined_transactions]
        config = SimulationConfig(start=args.start, days=args.days, rows_per_day=args.rows_per_day)
        last = args.start + timedelta(days=args.days - 1)
        results = []

        for mode in ("single_run", "per_partition"):
            os.environ["MLOPS_DATA_DIR"] = str(root / mode)
            settings = Settings.from_env()
            write_days(config, settings.data_dir, "parquet")
            resources = {k: v for k, v in build_resources(settings).items() if k in ("landing", "lakehouse")}
            with dg.DagsterInstance.ephemeral() as instance:
                started = time.perf_counter()
                if mode == "single_run":
                    tags = {
                        "dagster/asset_partition_range_start": args.start.isoformat(),
                        "dagster/asset_partition_range_end": last.isoformat(),
                    }
                    assert dg.materialize(assets, resources=resources, instance=instance, tags=tags).success
                    runs = 1
                else:
                    for day in config.dates:
                        result = dg.materialize(
                            assets, resources=resources, instance=instance, partition_key=day.isoformat()
                        )
                        assert result.success
                    runs = args.days
                seconds = time.perf_counter() - started
                rows = len(existing_days(settings.lakehouse_dir, "validated_transactions"))
            assert rows == args.days, f"{mode}: {rows} validated partitions, expected {args.days}"
            results.append((mode, runs, seconds))
            print(f"{mode}: {runs} runs, {seconds:.1f} s", file=sys.stderr)

    print(
        f"\nBackfill of {args.days} daily partitions x {args.rows_per_day} rows "
        "(raw_transactions + validated/quarantined + 3 checks), in process\n"
    )
    print("| mode | runs | wall time (s) | per partition (ms) |")
    print("|---|---:|---:|---:|")
    for mode, runs, seconds in results:
        print(f"| {mode} | {runs} | {seconds:.1f} | {1000 * seconds / args.days:.0f} |")
    single, per = results[0][2], results[1][2]
    print(f"\nsingle-run backfill is {per / single:.1f}x faster")


if __name__ == "__main__":
    main()
