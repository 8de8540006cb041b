"""Drift statistics at scale and their power: ours (numpy/polars/scipy) beside Evidently's DataDriftPreset.

    .venv/bin/python benchmarks/bench_drift.py                       # 1M rows x 20 features, both sides
    .venv/bin/python benchmarks/bench_drift.py --evidently-rows 200000  # a smaller Evidently side
    .venv/bin/python benchmarks/bench_drift.py --rows 100000 --repeats 5  # a quick look

Part 1 (speed and verdicts at scale): the reference and the current frame both have `--rows` rows
(16 numeric + 4 categorical features, six of them drifted in the current frame: a lognormal amount
times 1.5, a z-score shifted by half a standard deviation, a Poisson count and a beta share scaled by
1.5, two categorical mixes reversed). It prints which features each rule calls drifted: ours by
default ("auto"), the former rule (PSI >= 0.2 on ten bins), and Evidently's.

Part 2 (power): for one feature at a time, the share of `--repeats` seeded samples each engine calls
drifted, against the effect size (normal mean shift in standard deviations, lognormal amount scale,
share of a new category) at several current-sample sizes; effect 0 is the false-alarm rate. The
reference holds 100,000 rows, as a training window does. Evidently runs the same cases with
`--evidently-repeats` samples at the two smaller sizes (it costs about 0.3 s a case).

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
import warnings
from pathlib import Path
from typing import Any

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
        from mlops_assets.defs.monitoring.drift import (
            DriftConfig,
            compare_to_reference,
            profile_reference,
            summarize,
        )

        compare_to_reference(profile_reference(reference.head(1000), NUMERIC, CATEGORICAL), current.head(100))
        baseline = _max_rss_mb()
        start = time.perf_counter()
        profile = profile_reference(reference, NUMERIC, CATEGORICAL)
        profiled = time.perf_counter()
        table = compare_to_reference(profile, current)
        end = time.perf_counter()
        summary = summarize(table)
        former = DriftConfig(numeric_method="psi", categorical_method="jensenshannon")
        former_summary = summarize(
            compare_to_reference(profile_reference(reference, NUMERIC, CATEGORICAL, former), current, former)
        )
        return {
            "engine": "ours (auto: wasserstein/js on large samples)",
            "former_drifted": sorted(former_summary.drifted),
            "rows": rows,
            "seconds": end - start,
            "profile_seconds": profiled - start,
            "compare_seconds": end - profiled,
            "peak_mb": _max_rss_mb() - baseline,
            "drifted": sorted(summary.drifted),
        }
    warnings.filterwarnings("ignore")
    from mlops_assets.defs.monitoring.evidently_report import dataset_drift, run_drift_preset

    reference_pd, current_pd = reference, current
    run_drift_preset(reference_pd.head(500), current_pd.head(500), NUMERIC, CATEGORICAL)  # warm imports
    baseline = _max_rss_mb()
    start = time.perf_counter()
    snapshot = run_drift_preset(reference_pd, current_pd, NUMERIC, CATEGORICAL)
    summary = snapshot.dict()
    end = time.perf_counter()
    drifted = evidently_drifted(summary)
    count, _ = dataset_drift(summary)
    return {
        "engine": "evidently DataDriftPreset",
        "rows": rows,
        "seconds": end - start,
        "peak_mb": _max_rss_mb() - baseline,
        "drifted": drifted,
        "evidently_count": count,
    }


def evidently_drifted(summary: dict[str, Any]) -> list[str]:
    """Columns whose Evidently value-drift test failed (its own verdict, whatever the method's direction)."""
    return sorted(
        t["metric_config"]["params"]["column"]
        for t in summary.get("tests", [])
        if t["metric_config"]["params"].get("type") == "evidently:metric_v2:ValueDrift"
        and t["status"] == "FAIL"
    )


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
    parser.add_argument("--skip-power", action="store_true", help="only part 1")
    parser.add_argument("--repeats", type=int, default=20, help="seeded samples per power case (ours)")
    parser.add_argument("--evidently-repeats", type=int, default=5, help="samples per power case (Evidently)")
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
    print("\n| rule | truly drifted found | false positives | missed |")
    print("|---|---:|---:|---|")
    verdicts = [("ours (auto)", ours["drifted"]), ("former: PSI >= 0.2, 10 bins", ours["former_drifted"])]
    verdicts += [("Evidently DataDriftPreset", r["drifted"]) for r in results[1:]]
    for name, found in verdicts:
        hits = DRIFTED & set(found)  # type: ignore[arg-type]
        print(
            f"| {name} | {len(hits)}/{len(DRIFTED)} | {len(set(found) - DRIFTED)} | "  # type: ignore[arg-type]
            f"{', '.join(sorted(DRIFTED - hits)) or '-'} |"
        )
    if not args.skip_power:
        print_power_table(args.repeats, 0 if args.skip_evidently else args.evidently_repeats)


# Effect families of the power table: (label, effect sizes, how a sample of n rows is drawn).
POWER_REFERENCE_ROWS = 100_000
POWER_SIZES = (400, 2_000, 100_000)
EVIDENTLY_POWER_SIZES = POWER_SIZES[:2]
POWER_EFFECTS: dict[str, tuple[tuple[float, ...], str]] = {
    "normal mean shift (std)": ((0.0, 0.05, 0.1, 0.2, 0.3, 0.5), "numeric"),
    "lognormal amount scale": ((1.0, 1.1, 1.25, 1.5, 2.0), "numeric"),
    "new category share": ((0.0, 0.01, 0.02, 0.05, 0.1), "categorical"),
}


def power_sample(family: str, effect: float, rows: int, rng: np.random.Generator) -> pl.DataFrame:
    """`rows` rows of one feature `x`, drifted by `effect` of the family (none at its first value)."""
    if family.startswith("normal"):
        return pl.DataFrame({"x": rng.normal(effect, 1.0, rows)})
    if family.startswith("lognormal"):
        return pl.DataFrame({"x": rng.lognormal(3.0, 1.0, rows) * effect})
    categories = np.array([f"c{j}" for j in range(8)])
    values = rng.choice(categories, rows, p=np.linspace(1.0, 3.0, 8) / np.linspace(1.0, 3.0, 8).sum())
    values[rng.random(rows) < effect] = "new"
    return pl.DataFrame({"x": values})


def print_power_table(repeats: int, evidently_repeats: int) -> None:
    """Detection rate per effect size and sample size, ours beside Evidently."""
    from mlops_assets.defs.monitoring.drift import compare_to_reference, profile_reference

    rng = np.random.default_rng(11)
    print(
        f"\nPower: share of samples called drifted (reference {POWER_REFERENCE_ROWS:,} rows; ours over "
        f"{repeats} samples, Evidently over {evidently_repeats}); the first effect of each family is "
        "no drift (false-alarm rate)\n"
    )
    header = [f"ours n={n:,}" for n in POWER_SIZES]
    if evidently_repeats:
        header += [f"Evidently n={n:,}" for n in EVIDENTLY_POWER_SIZES]
    print("| effect | size | " + " | ".join(header) + " |")
    print("|---|---:|" + "---:|" * len(header))
    if evidently_repeats:
        warnings.filterwarnings("ignore")
        from mlops_assets.defs.monitoring.evidently_report import run_drift_preset
    for family, (effects, kind) in POWER_EFFECTS.items():
        base = effects[0]
        reference = power_sample(family, base, POWER_REFERENCE_ROWS, rng)
        numeric, categorical = (["x"], []) if kind == "numeric" else ([], ["x"])
        profile = profile_reference(reference, numeric, categorical)
        for effect in effects:
            cells = []
            for n in POWER_SIZES:
                hits = sum(
                    bool(compare_to_reference(profile, power_sample(family, effect, n, rng))["drifted"][0])
                    for _ in range(repeats)
                )
                cells.append(f"{hits / repeats:.0%}")
            for n in EVIDENTLY_POWER_SIZES if evidently_repeats else ():
                # Evidently is slow: it gets a 10,000-row reference.
                sample = reference.head(POWER_REFERENCE_ROWS // 10)
                hits = sum(
                    bool(
                        evidently_drifted(
                            run_drift_preset(
                                sample, power_sample(family, effect, n, rng), numeric, categorical
                            ).dict()
                        )
                    )
                    for _ in range(evidently_repeats)
                )
                cells.append(f"{hits / evidently_repeats:.0%}")
            print(f"| {family} | {effect:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
