"""``mlops-simulate``: write simulated landing files from the command line.

Example: 60 days from 2026-01-01 with covariate and concept drift from day 31::

    mlops-simulate --start 2026-01-01 --days 60 --drift-start 2026-01-31 --drift-kind covariate,concept

Files land under ``--data-dir``, else the platform's data folder (``Settings``: ``$MLOPS_DATA_DIR``, else
the repository's ``.mlops``), so the simulator and the platform always agree where landing/ is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from mlops_assets.settings import Settings
from mlops_assets.simulator.corruption import check_share
from mlops_assets.simulator.drift import DRIFT_KINDS, NO_DRIFT, parse_drift_kinds
from mlops_assets.simulator.model import SimulationConfig
from mlops_assets.simulator.writer import FORMATS, write_days


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"date {value!r}: expected YYYY-MM-DD") from error


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return number


def _share(value: str) -> float:
    try:
        return check_share(float(value))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (separate so that the options can be documented and tested)."""
    parser = argparse.ArgumentParser(
        prog="mlops-simulate",
        description="Write a seeded card-transaction stream, one landing file per day, with optional drift.",
    )
    parser.add_argument("--start", type=_date, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=_positive_int, default=1, help="number of days (default 1)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--rows-per-day", type=_positive_int, default=2000, help="rows on an undrifted day (default 2000)"
    )
    parser.add_argument("--format", choices=FORMATS, default="parquet", help="file format (default parquet)")
    parser.add_argument("--drift-start", type=_date, default=None, help="first drifted day (inclusive)")
    parser.add_argument(
        "--drift-kind",
        action="append",
        default=[],
        metavar="KIND",
        help=f"repeatable or comma-separated: {', '.join(DRIFT_KINDS)}",
    )
    parser.add_argument(
        "--drift-strength", type=float, default=1.0, help="scales every drift knob (default 1.0)"
    )
    parser.add_argument(
        "--bad-row-share",
        type=_share,
        default=0.0,
        help="share of rows broken the way real feeds break (null field, negative amount, duplicate id, "
        "...), for validation to quarantine (default 0; the demo uses 0.005)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="root of landing/ (default: $MLOPS_DATA_DIR, else the repository's .mlops)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the simulator and return the exit status; a bad argument exits with status 2, as in argparse."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = SimulationConfig(
            start=args.start,
            days=args.days,
            seed=args.seed,
            rows_per_day=args.rows_per_day,
            drift_start=args.drift_start,
            drift_kinds=parse_drift_kinds(args.drift_kind),
            drift_strength=args.drift_strength,
        )
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    if config.drift_kinds and config.drift_start is None:
        parser.error("--drift-kind needs --drift-start")
    data_dir = args.data_dir or Settings.from_env().data_dir

    total_rows = 0
    began = time.perf_counter()
    last = began

    def report(day: dt.date, path: Path, rows: int) -> None:
        nonlocal total_rows, last
        total_rows += rows
        now = time.perf_counter()
        if not args.quiet:
            drift = ",".join(config.drift_kinds) if config.effects_on(day) != NO_DRIFT else "-"
            print(f"{day.isoformat()}  rows={rows:>9,}  drift={drift}  {now - last:6.2f}s  {path}")
        last = now

    paths = write_days(config, data_dir, args.format, on_day=report, bad_row_share=args.bad_row_share)
    seconds = time.perf_counter() - began
    rate = total_rows / seconds if seconds > 0 else float("inf")
    print(
        f"wrote {len(paths)} files, {total_rows:,} rows in {seconds:.2f}s ({rate:,.0f} rows/s) "
        f"under {data_dir / 'landing'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
