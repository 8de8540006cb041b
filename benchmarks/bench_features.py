"""Feature benchmark: the polars features beside pandas and DuckDB references, and Feast online serving.

    .venv/bin/python benchmarks/bench_features.py              # 10M simulated transactions (30 days)
    .venv/bin/python benchmarks/bench_features.py --rows 1000000 --skip-pandas

Each implementation runs in its own subprocess that reads the same Parquet input, computes the customer
and merchant features and writes them; the parent takes the child's wall time and its peak RSS from
`os.wait4` (tracemalloc would not see polars' or DuckDB's native allocations). Each reference's output
is asserted equal to polars', feature by feature.
Then the polars features are materialized into Feast (SQLite, and Redis if one answers at
MLOPS_REDIS_URL or 127.0.0.1:6379) and online lookups of 1 and 100 entities are timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import loopback  # noqa: F401  (first: loopback-only network guard, see benchmarks/loopback.py)
import numpy as np
import polars as pl

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlops_assets.defs.features.compute import MAX_LABEL_DELAY_DAYS, MIN_STD_EUR  # noqa: E402
from mlops_assets.feature_catalog import (  # noqa: E402
    CUSTOMER_FEATURES,
    CUSTOMER_WINDOWS,
    FEATURE_SERVICE_NAME,
    FOREIGN_REFERENCE_COUNTRY,
    MERCHANT_FEATURES,
)
from mlops_assets.tables import CUSTOMER_TABLE, MERCHANT_TABLE  # noqa: E402

DAYS = 30
START = date(2025, 1, 1)


# --- the input ------------------------------------------------------------------------------------------


def simulate_input(rows: int, path: Path) -> int:
    from mlops_assets.simulator import SimulationConfig, simulate_day

    config = SimulationConfig(start=START, days=DAYS, rows_per_day=max(1, rows // DAYS))
    frames = [simulate_day(day, config) for day in config.dates]
    frame = pl.concat(frames).head(rows)
    frame.write_parquet(path)
    return frame.height


# --- the two implementations (each run in a child process) ----------------------------------------------


def run_polars(src: Path, out: Path) -> None:
    from mlops_assets.defs.features.compute import compute_customer_features, compute_merchant_features

    transactions = pl.scan_parquet(src)
    customer, merchant = pl.collect_all(
        [compute_customer_features(transactions), compute_merchant_features(transactions)]
    )
    customer.write_parquet(out / "customer.parquet")
    merchant.write_parquet(out / "merchant.parquet")


def _sweep_pandas(events, key: str, reads, value_columns: list[str]):  # type: ignore[no-untyped-def]
    """Cumulative sums of `value_columns` over events at or before each read time, per key (pandas)."""
    import pandas as pd

    events = events.assign(_kind=0)
    reads = reads.assign(_kind=1, **dict.fromkeys(value_columns, 0))
    both = pd.concat([events, reads], ignore_index=True).sort_values([key, "_t", "_kind"], kind="stable")
    sums = both.groupby(key, sort=False)[value_columns].cumsum()
    both[value_columns] = sums
    return both[both["_kind"] == 1].set_index("_row")[value_columns]


def run_pandas(src: Path, out: Path) -> None:
    """The reference: idiomatic pandas groupby-rolling; pandas has no rolling n-unique or as-of-arrival
    window, so the distinct-merchant count and the label counts use the same event sweep as polars.
    """
    import pandas as pd

    tx = pd.read_parquet(src)
    # ---- customers
    c = tx[["transaction_id", "customer_id", "merchant_id", "event_timestamp", "country", "amount_eur"]]
    c = c.sort_values(["customer_id", "event_timestamp", "transaction_id"], kind="stable").reset_index(
        drop=True
    )
    c["_row"] = np.arange(len(c))
    c["_foreign"] = (c["country"] != "DE").astype("float64")
    grouped = c.groupby("customer_id", sort=False)
    result = c[["customer_id", "event_timestamp", "transaction_id"]].copy()
    for suffix in ("1h", "24h", "7d", "30d"):
        period = {"1h": "1h", "24h": "24h", "7d": "7D", "30d": "30D"}[suffix]
        rolled = grouped.rolling(period, on="event_timestamp", closed="right")["amount_eur"]
        count = rolled.count().to_numpy()
        total = rolled.sum().to_numpy()
        std = rolled.std().to_numpy()
        result[f"cust_txn_count_{suffix}"] = count
        result[f"cust_amount_sum_{suffix}"] = total
        result[f"cust_amount_mean_{suffix}"] = total / count
        result[f"cust_amount_std_{suffix}"] = np.where(count < 2, 0.0, np.nan_to_num(std))
    # distinct merchants over 7 days: each occurrence counts from its time until the next one or 7 days
    nxt = c.groupby(["customer_id", "merchant_id"], sort=False)["event_timestamp"].shift(-1)
    end = np.minimum(
        nxt.fillna(c["event_timestamp"] + pd.Timedelta(days=7)), c["event_timestamp"] + pd.Timedelta(days=7)
    )
    events = pd.concat(
        [
            pd.DataFrame({"customer_id": c["customer_id"], "_t": c["event_timestamp"], "_d": 1}),
            pd.DataFrame({"customer_id": c["customer_id"], "_t": end, "_d": -1}),
        ]
    ).assign(_row=-1)
    reads = pd.DataFrame({"customer_id": c["customer_id"], "_t": c["event_timestamp"], "_row": c["_row"]})
    result["cust_distinct_merchants_7d"] = (
        _sweep_pandas(events, "customer_id", reads, ["_d"])["_d"].sort_index().to_numpy().astype("float64")
    )
    gap = grouped["event_timestamp"].diff()
    result["cust_seconds_since_prev_txn"] = gap.dt.total_seconds().to_numpy()
    prior = grouped.rolling("30D", on="event_timestamp", closed="left")["amount_eur"]
    prior_count = prior.count().fillna(0).to_numpy()
    prior_mean = prior.mean().to_numpy()
    prior_std = prior.std().to_numpy()
    ok = (prior_count >= 2) & (prior_std >= 1e-6)
    result["cust_amount_zscore_30d"] = np.where(
        ok, (c["amount_eur"].to_numpy() - prior_mean) / prior_std, np.nan
    )
    result["cust_foreign_share_30d"] = (
        grouped.rolling("30D", on="event_timestamp", closed="right")["_foreign"].mean().to_numpy()
    )
    result.to_parquet(out / "customer.parquet", index=False)
    del c, grouped, result

    # ---- merchants
    m = tx[["transaction_id", "merchant_id", "event_timestamp", "is_fraud", "label_available_at"]]
    m = m.sort_values(["merchant_id", "event_timestamp", "transaction_id"], kind="stable").reset_index(
        drop=True
    )
    m["_row"] = np.arange(len(m))
    m["_one"] = 1.0
    mg = m.groupby("merchant_id", sort=False)
    merchant = m[["merchant_id", "event_timestamp", "transaction_id"]].copy()
    merchant["merch_txn_count_24h"] = mg.rolling("24h", on="event_timestamp")["_one"].sum().to_numpy()
    merchant["merch_txn_count_7d"] = mg.rolling("7D", on="event_timestamp")["_one"].sum().to_numpy()
    delay = m["label_available_at"] - m["event_timestamp"]
    # As in compute.py: labels stamped before their transaction are corrupt and never counted.
    labelled = m[(delay >= pd.Timedelta(0)) & (delay <= pd.Timedelta(days=45))]
    fraud = labelled["is_fraud"].astype("int64")
    events = pd.concat(
        [
            pd.DataFrame(
                {
                    "merchant_id": labelled["merchant_id"],
                    "_t": labelled["label_available_at"],
                    "_n": 1,
                    "_f": fraud,
                }
            ),
            pd.DataFrame(
                {
                    "merchant_id": labelled["merchant_id"],
                    "_t": labelled["label_available_at"] + pd.Timedelta(days=30),
                    "_n": -1,
                    "_f": -fraud,
                }
            ),
        ]
    ).assign(_row=-1)
    reads = pd.DataFrame({"merchant_id": m["merchant_id"], "_t": m["event_timestamp"], "_row": m["_row"]})
    counts = _sweep_pandas(events, "merchant_id", reads, ["_n", "_f"]).sort_index()
    labels = counts["_n"].to_numpy().astype("float64")
    merchant["merch_labeled_count_30d"] = labels
    with np.errstate(invalid="ignore", divide="ignore"):
        merchant["merch_fraud_rate_30d"] = np.where(labels > 0, counts["_f"].to_numpy() / labels, np.nan)
    merchant.to_parquet(out / "merchant.parquet", index=False)


# Window lengths in microseconds, the timestamps' resolution: "(t - w, t]" is "[t - w + 1 us, t]".
WINDOW_US = {"1h": 3_600_000_000, "24h": 86_400_000_000, "7d": 7 * 86_400_000_000, "30d": 30 * 86_400_000_000}


def _range(partition: str, period: str, order: str = "event_timestamp") -> str:
    """The window `(t - period, t]` of each row's partition, t the row's `order` value."""
    start = f"INTERVAL '{WINDOW_US[period] - 1} microseconds' PRECEDING"
    return f"(PARTITION BY {partition} ORDER BY {order} RANGE BETWEEN {start} AND CURRENT ROW)"


def run_duckdb(src: Path, out: Path) -> None:
    """The reference an analyst here would write first: DuckDB SQL window functions over the same file.

    RANGE frames over event time per customer or merchant; `CURRENT ROW` in RANGE mode takes in every
    transaction at the same microsecond, as the polars windows do. The merchant fraud rate counts labels
    by their *arrival* time, so labels and transactions go into one stream ordered by their own
    timestamps (labels at `label_available_at`, transactions at `event_timestamp`) and one RANGE window
    over it sums the labels that arrived in `(t - 30d, t]`, read at the transactions' rows.
    """
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW tx AS SELECT * FROM read_parquet('{src}')")
    stats = []
    for suffix, _ in CUSTOMER_WINDOWS:
        w = f"w{suffix}"
        stats += [
            f"count(*) OVER {w} AS cust_txn_count_{suffix}",
            f"sum(amount_eur) OVER {w} AS cust_amount_sum_{suffix}",
            f"sum(amount_eur) OVER {w} / count(*) OVER {w} AS cust_amount_mean_{suffix}",
            f"CASE WHEN count(*) OVER {w} < 2 THEN 0.0 "
            f"ELSE greatest(coalesce(stddev_samp(amount_eur) OVER {w}, 0.0), 0.0) END "
            f"AS cust_amount_std_{suffix}",
        ]
    windows = ",\n".join(f"w{suffix} AS {_range('customer_id', suffix)}" for suffix, _ in CUSTOMER_WINDOWS)
    # The z-score's history: [t - 30d, t), strictly before the row's own time.
    prior = (
        "(PARTITION BY customer_id ORDER BY event_timestamp "
        "RANGE BETWEEN INTERVAL '30 days' PRECEDING AND INTERVAL '1 microseconds' PRECEDING)"
    )
    customer_sql = f"""
        SELECT customer_id, event_timestamp, transaction_id,
            {", ".join(stats)},
            count(DISTINCT merchant_id) OVER w7d AS cust_distinct_merchants_7d,
            (epoch_us(event_timestamp) - epoch_us(lag(event_timestamp) OVER (
                PARTITION BY customer_id ORDER BY event_timestamp, transaction_id))) / 1e6
                AS cust_seconds_since_prev_txn,
            CASE WHEN count(*) OVER prior >= 2 AND stddev_samp(amount_eur) OVER prior >= {MIN_STD_EUR}
                THEN (amount_eur - avg(amount_eur) OVER prior) / stddev_samp(amount_eur) OVER prior
            END AS cust_amount_zscore_30d,
            avg(CASE WHEN country <> '{FOREIGN_REFERENCE_COUNTRY}' THEN 1.0 ELSE 0.0 END) OVER w30d
                AS cust_foreign_share_30d
        FROM tx
        WINDOW {windows}, prior AS {prior}
    """
    _copy_features(con, customer_sql, "customer_id", CUSTOMER_FEATURES, out / "customer.parquet")

    merchant_sql = f"""
        WITH stream AS (
            SELECT merchant_id, event_timestamp AS t, transaction_id, event_timestamp,
                   0 AS labels, 0 AS frauds, true AS is_read
            FROM tx
            UNION ALL
            SELECT merchant_id, label_available_at AS t, NULL, NULL, 1, is_fraud, false
            FROM tx
            WHERE is_fraud IS NOT NULL AND label_available_at IS NOT NULL
              AND label_available_at >= event_timestamp
              AND label_available_at <= event_timestamp + INTERVAL '{MAX_LABEL_DELAY_DAYS} days'
        ), arrived AS (
            SELECT *, sum(labels) OVER w AS n, sum(frauds) OVER w AS f
            FROM stream
            WINDOW w AS {_range("merchant_id", "30d", order="t")}
        )
        SELECT merchant_id, event_timestamp, transaction_id,
            count(*) OVER {_range("merchant_id", "24h")} AS merch_txn_count_24h,
            count(*) OVER {_range("merchant_id", "7d")} AS merch_txn_count_7d,
            n AS merch_labeled_count_30d,
            CASE WHEN n > 0 THEN f / n END AS merch_fraud_rate_30d
        FROM arrived
        WHERE is_read
    """
    _copy_features(con, merchant_sql, "merchant_id", MERCHANT_FEATURES, out / "merchant.parquet")


def _copy_features(
    con: DuckDBPyConnection, sql: str, key: str, features: tuple[str, ...], path: Path
) -> None:
    """Write the query's features as DOUBLE, beside the row's key, event time and transaction id."""
    columns = ", ".join(f"CAST({name} AS DOUBLE) AS {name}" for name in features)
    con.execute(
        f"COPY (SELECT {key}, event_timestamp, transaction_id, {columns} FROM ({sql})) "
        f"TO '{path}' (FORMAT parquet)"
    )


def child_main(kind: str, src: str, out: str) -> None:
    started = time.perf_counter()
    {"polars": run_polars, "pandas": run_pandas, "duckdb": run_duckdb}[kind](Path(src), Path(out))
    print(json.dumps({"seconds": time.perf_counter() - started}))


def run_child(kind: str, src: Path, out: Path) -> dict[str, float]:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, str(src), str(out)], stdout=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stdout = proc.stdout.read() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{kind} implementation failed (exit status {status})")
    inner = json.loads(stdout.strip().splitlines()[-1])
    # ru_maxrss is in KiB on Linux.
    return {"wall_s": wall, "compute_s": inner["seconds"], "peak_rss_mib": usage.ru_maxrss / 1024}


def assert_same(polars_dir: Path, reference_dir: Path, reference: str) -> None:
    """Every feature of every row equal within rtol/atol 1e-6, nulls (or NaN) in the same places."""
    for name, features in (("customer", CUSTOMER_FEATURES), ("merchant", MERCHANT_FEATURES)):
        a = pl.read_parquet(polars_dir / f"{name}.parquet").sort("transaction_id")
        b = pl.read_parquet(reference_dir / f"{name}.parquet").sort("transaction_id")
        assert a.height == b.height, f"{name}: {a.height} != {b.height} rows"
        assert (a["transaction_id"] == b["transaction_id"]).all()
        b = b.with_columns(pl.col(f).fill_nan(None) for f in features)
        for feature in features:
            x, y = a[feature].to_numpy(), b[feature].cast(pl.Float64).to_numpy()
            where = f"polars vs {reference}: {name}.{feature}"
            assert np.array_equal(np.isnan(x), np.isnan(y)), f"{where}: nulls differ"
            both = ~np.isnan(x)
            assert np.allclose(x[both], y[both], rtol=1e-6, atol=1e-6), f"{where}: values differ"


# --- Feast ----------------------------------------------------------------------------------------------


def write_feature_partitions(polars_dir: Path, lakehouse: Path) -> int:
    from mlops_assets.lakehouse import partition_path, write_parquet_atomic

    rows = 0
    for name, table in (("customer", CUSTOMER_TABLE), ("merchant", MERCHANT_TABLE)):
        frame = pl.read_parquet(polars_dir / f"{name}.parquet").with_columns(
            pl.col("event_timestamp").dt.date().alias("_day")
        )
        for (day,), part in frame.partition_by("_day", as_dict=True, include_key=False).items():
            write_parquet_atomic(part, partition_path(lakehouse, table, day))
        rows += frame.height
    return rows


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bench_feast(lakehouse: Path, feast_dir: Path, redis_url: str | None, offline_rows: int) -> list[dict]:
    from mlops_assets.feast_resource import FeastResource

    customers = (
        pl.scan_parquet(lakehouse / CUSTOMER_TABLE / "*" / "*.parquet")
        .select("customer_id")
        .unique()
        .collect()
    )
    merchants = (
        pl.scan_parquet(lakehouse / MERCHANT_TABLE / "*" / "*.parquet")
        .select("merchant_id")
        .unique()
        .collect()
    )
    rng = np.random.default_rng(7)
    c_ids, m_ids = customers["customer_id"].to_list(), merchants["merchant_id"].to_list()

    def entity_rows(n: int) -> list[dict[str, str]]:
        return [
            {"customer_id": c_ids[rng.integers(len(c_ids))], "merchant_id": m_ids[rng.integers(len(m_ids))]}
            for _ in range(n)
        ]

    results = []
    stores = [("sqlite", None)] + ([("redis", redis_url)] if redis_url else [])
    for kind, url in stores:
        resource = FeastResource(
            repo_path=str(REPO / "feature_repo"),
            feast_dir=str(feast_dir / kind),
            lakehouse_dir=str(lakehouse),
            redis_url=url,
            project=f"bench_{os.getpid()}",
        )
        store = resource.apply()
        started = time.perf_counter()
        store.materialize(
            datetime.combine(START, datetime.min.time(), tzinfo=UTC),
            datetime.combine(START + timedelta(days=DAYS), datetime.min.time(), tzinfo=UTC),
        )
        seconds = time.perf_counter() - started
        entities = len(c_ids) + len(m_ids)
        service = store.get_feature_service(FEATURE_SERVICE_NAME)
        row: dict[str, object] = {
            "store": kind,
            "materialize_s": seconds,
            "entities_written_per_s": entities / seconds,
            "offline_rows_scanned_per_s": offline_rows / seconds,
        }
        for n, calls in ((1, 2000), (100, 300)):
            for _ in range(50):  # warm the registry cache and connections
                store.get_online_features(features=service, entity_rows=entity_rows(n))
            samples = []
            for _ in range(calls):
                rows = entity_rows(n)
                t = time.perf_counter()
                store.get_online_features(features=service, entity_rows=rows).to_dict()
                samples.append(time.perf_counter() - t)
            row[f"p50_ms_{n}"], row[f"p99_ms_{n}"] = percentiles(samples)
        results.append(row)
        if kind == "redis":
            store.teardown()
    return results


def redis_url_if_up() -> str | None:
    url = os.environ.get("MLOPS_REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        import redis

        return url if redis.Redis.from_url(url, socket_connect_timeout=0.5).ping() else None
    except Exception:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="simulated transactions (default 10M)")
    parser.add_argument("--skip-pandas", action="store_true", help="leave out the pandas reference")
    parser.add_argument("--skip-duckdb", action="store_true", help="leave out the DuckDB reference")
    parser.add_argument("--skip-feast", action="store_true", help="time the feature computation only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        rows = simulate_input(args.rows, work / "transactions.parquet")
        print(
            f"input: {rows:,} simulated transactions over {DAYS} days ({time.perf_counter() - started:.1f} s)"
        )

        timings = {"polars": run_child("polars", work / "transactions.parquet", work / "polars")}
        references = [
            k for k, skip in (("pandas", args.skip_pandas), ("duckdb", args.skip_duckdb)) if not skip
        ]
        for kind in references:
            timings[kind] = run_child(kind, work / "transactions.parquet", work / kind)
            assert_same(work / "polars", work / kind, kind)
            count = len(CUSTOMER_FEATURES) + len(MERCHANT_FEATURES)
            print(f"outputs: polars == {kind} ({count} features, rtol 1e-6)")
        print(f"\n{'implementation':<16}{'wall s':>10}{'compute s':>12}{'peak RSS MiB':>15}")
        for kind, t in timings.items():
            print(f"{kind:<16}{t['wall_s']:>10.2f}{t['compute_s']:>12.2f}{t['peak_rss_mib']:>15.0f}")
        p = timings["polars"]
        for kind in references:
            q = timings[kind]
            memory = q["peak_rss_mib"] / p["peak_rss_mib"]
            less_or_more = f"{memory:.1f}x less" if memory >= 1 else f"{1 / memory:.1f}x more"
            print(
                f"polars vs {kind}: {q['compute_s'] / p['compute_s']:.1f}x faster, {less_or_more} peak memory"
            )

        if not args.skip_feast:
            offline_rows = write_feature_partitions(work / "polars", work / "lakehouse")
            results = bench_feast(work / "lakehouse", work / "feast", redis_url_if_up(), offline_rows)
            print(
                f"\n{'online store':<14}{'materialize s':>14}{'entities/s':>12}{'rows/s':>12}"
                f"{'p50 1':>9}{'p99 1':>9}{'p50 100':>10}{'p99 100':>10}  (ms)"
            )
            for r in results:
                print(
                    f"{r['store']:<14}{r['materialize_s']:>14.1f}{r['entities_written_per_s']:>12,.0f}"
                    f"{r['offline_rows_scanned_per_s']:>12,.0f}{r['p50_ms_1']:>9.2f}{r['p99_ms_1']:>9.2f}"
                    f"{r['p50_ms_100']:>10.2f}{r['p99_ms_100']:>10.2f}"
                )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
