"""Drift statistics at scale: ours (numpy/polars/scipy) beside Evidently's DataDriftPreset on the same data.

    .venv/bin/python benchmarks/bench_drift.py                       # 1M rows x 20 features, both sides
    .venv/bin/python benchmarks/bench_drift.py --evidently-rows 200000  # a smaller Evidently side

The reference and the current frame both have `--rows` rows (16 numeric + 4 categorical features, six
of them drifted in the current frame). Each engine runs in its own process, so its peak memory is the
growth of that process's maximum resident set over the data it was handed (ru_maxrss after loading
vs after the run). Evidently is given the first `--evidently-rows` rows of both frames.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loopback  # noqa: F401  (first: loopback-only network guard, see benchmarks/loopback.py)
import numpy as np
import polars as pl

NUMERIC = [f"num_{i:02d}" for i in range(16)]
CATEGORICAL = [f"cat_{i}" for i in range(4)]
DRIFTED = {"num_00", "num_03", "num_07", "num_11", "cat_0", "cat_2"}


def make_frame(rows: int, seed: int, drifted: bool) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i, name in enumerate(NUMERIC):
        shift = 1.5 if drifted and name in DRIFTED else 1.0
        if i % 4 == 0:
            values = rng.lognormal(3.0, 1.0, rows) * shift  # amounts
        elif i % 4 == 1:
            values = rng.normal(0.0, 1.0, rows) + (shift - 1.0)  # z-scores
        elif i % 4 == 2:
            values = rng.poisson(4.0 * shift, rows).astype(np.float64)  # counts
        else:
            values = rng.beta(2.0, 5.0, rows) * shift  # shares
        columns[name] = values
    for i, name in enumerate(CATEGORICAL):
        categories = np.array([f"c{j}" for j in range(8 + 4 * i)])
        weights = np.linspace(1.0, 3.0, categories.size)
        if drifted and name in DRIFTED:
            weights = weights[::-1] ** 2
        columns[name] = rng.choice(categories, rows, p=weights / weights.sum())
    frame = pl.DataFrame(columns)
    # A few nulls, as real feature tables have (first transaction of a customer and the like).
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 0).then(None).otherwise(pl.col("num_05")).alias("num_05")
    )


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(engine: str, data_dir: Path, rows: int) -> dict[str, object]:
    reference = pl.read_parquet(data_dir / "reference.parquet", n_rows=rows)
    current = pl.read_parquet(data_dir / "current.parquet", n_rows=rows)
    if engine == "ours":
        from mlops_assets.defs.monitoring.drift import compare_to_reference, profile_reference, summarize

        compare_to_reference(profile_reference(reference.head(1000), NUMERIC, CATEGORICAL), current.head(100))
        baseline = _max_rss_mb()
        start = time.perf_counter()
        profile = profile_reference(reference, NUMERIC, CATEGORICAL)
        profiled = time.perf_counter()
        table = compare_to_reference(profile, current)
        end = time.perf_counter()
        summary = summarize(table)
        return {
            "engine": "ours (psi/ks/chi2/js)",
            "rows": rows,
            "seconds": end - start,
            "profile_seconds": profiled - start,
            "compare_seconds": end - profiled,
            "peak_mb": _max_rss_mb() - baseline,
            "drifted": sorted(summary.drifted),
        }
    import warnings

    warnings.filterwarnings("ignore")
    from mlops_assets.defs.monitoring.evidently_report import dataset_drift, run_drift_preset

    reference_pd, current_pd = reference, current
    run_drift_preset(reference_pd.head(500), current_pd.head(500), NUMERIC, CATEGORICAL)  # warm imports
    baseline = _max_rss_mb()
    start = time.perf_counter()
    snapshot = run_drift_preset(reference_pd, current_pd, NUMERIC, CATEGORICAL)
    summary = snapshot.dict()
    end = time.perf_counter()
    drifted = sorted(
        m["config"]["column"]
        for m in summary["metrics"]
        if m["config"].get("type") == "evidently:metric_v2:ValueDrift"
        and m["value"] >= m["config"]["threshold"]
    )
    count, _ = dataset_drift(summary)
    return {
        "engine": "evidently DataDriftPreset",
        "rows": rows,
        "seconds": end - start,
        "peak_mb": _max_rss_mb() - baseline,
        "drifted": drifted,
        "evidently_count": count,
    }


def run_worker(engine: str, data_dir: Path, rows: int) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", engine, "--data", str(data_dir), "--rows", str(rows)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in reference and current")
    parser.add_argument(
        "--evidently-rows", type=int, default=None, help="rows Evidently gets (default: --rows)"
    )
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--worker", choices=["ours", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.rows)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        make_frame(args.rows, seed=1, drifted=False).write_parquet(data_dir / "reference.parquet")
        make_frame(args.rows, seed=2, drifted=True).write_parquet(data_dir / "current.parquet")
        results = [run_worker("ours", data_dir, args.rows)]
        if not args.skip_evidently:
            results.append(run_worker("evidently", data_dir, args.evidently_rows or args.rows))

    features = len(NUMERIC) + len(CATEGORICAL)
    print(
        f"\nDrift statistics, {features} features ({len(NUMERIC)} numeric, {len(CATEGORICAL)} categorical), "
        f"reference and current of equal size; truly drifted: {', '.join(sorted(DRIFTED))}\n"
    )
    print(
        "| engine | rows (each side) | seconds | peak extra memory (MB) | rows/s | drifted features found |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        rate = 2 * int(r["rows"]) / float(r["seconds"])
        print(
            f"| {r['engine']} | {int(r['rows']):,} | {float(r['seconds']):.3f} | {float(r['peak_mb']):.0f} | "
            f"{rate:,.0f} | {len(r['drifted'])}: {', '.join(r['drifted'])} |"
        )
    ours = results[0]
    print(
        f"\nours: profile the reference {ours['profile_seconds']:.3f} s (once per run), compare a partition "
        f"{ours['compare_seconds']:.3f} s"
    )
    if len(results) > 1:
        ev = results[1]
        per_row_ours = float(ours["seconds"]) / int(ours["rows"])
        per_row_ev = float(ev["seconds"]) / int(ev["rows"])
        print(f"speed-up per row: {per_row_ev / per_row_ours:,.0f}x")


if __name__ == "__main__":
    main()
