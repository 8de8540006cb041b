"""Serving benchmark: `mlops-serve` at fixed request rates, beside `feast serve` plus a model call.

    .venv/bin/python benchmarks/bench_serving.py                      # 31 days x 2,000 rows, 15 s per rate
    .venv/bin/python benchmarks/bench_serving.py --rows-per-day 300 --seconds 3 --rates 50

Builds a served world in a temporary data folder (simulated days, the feature tables, the online store
materialized to the day before the served day, a LightGBM champion and challenger in MLflow on SQLite),
starts `mlops-serve` in its own process, and drives `POST /score` with an open-loop HTTP/1.1 load
generator (asyncio, keep-alive connections): request i is due at t0 + i / rate whatever happened before,
and its latency runs from that due time to the last byte of the response, so queueing when the service
falls behind is counted (no coordinated omission). Each level prints p50/p95/p99 and errors, shadow off
and on, with the online store on SQLite and on Redis (127.0.0.1:6379, database 9, if it answers).

The reference: the same transactions looked up through Feast's own Python feature server (`feast serve`,
`POST /get-online-features` for the customer and merchant rows) plus the champion's predict in the client;
it returns the *stored* rows (as of each entity's last materialized transaction), not request-time
features, so it does less work than `mlops-serve` and is the floor of what a Feast-based scorer costs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import loopback  # noqa: F401  (first: loopback-only network guard, see benchmarks/loopback.py)
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

START = date(2025, 1, 1)
# The daily partitions start where the simulated days start, whatever the default data folder holds (the
# start is read when the partitions module is imported).
os.environ["MLOPS_START_DATE"] = START.isoformat()
REDIS_URL = "redis://127.0.0.1:6379/9"
TARGET_P99_MS = 10.0


# --- the served world -------------------------------------------------------------------------------------


def build_world(data_dir: Path, days: int, rows_per_day: int) -> list[dict]:
    """Simulate, build features and the online store, train champion + challenger; the served day's rows."""
    import dagster as dg
    import polars as pl

    from mlops_assets.defs.features.assets import customer_features, merchant_features, online_features
    from mlops_assets.defs.features.model_inputs import model_inputs
    from mlops_assets.defs.training.data import SplitConfig
    from mlops_assets.defs.training.flow import train_and_register
    from mlops_assets.defs.training.lightgbm_model import LightGBMParams
    from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME
    from mlops_assets.defs.training.registry import CHAMPION
    from mlops_assets.feature_catalog import FEATURE_FILL_VALUES, MODEL_FEATURES, NULLABLE_FEATURES
    from mlops_assets.resources import build_resources
    from mlops_assets.settings import Settings
    from mlops_assets.simulator import SimulationConfig, simulate_day

    settings = Settings(data_dir=data_dir, partitions_start=START)
    resources = build_resources(settings)
    config = SimulationConfig(start=START, days=days, rows_per_day=rows_per_day)
    served_day = START + timedelta(days=days - 1)
    for day in config.dates:
        resources["lakehouse"].write_partition("validated_transactions", day, simulate_day(day, config))
    tags = {"dagster/asset_partition_range_start": START.isoformat()}
    with dg.DagsterInstance.ephemeral() as instance:
        for assets, last in (
            ([customer_features, merchant_features], served_day),
            ([online_features], served_day - timedelta(days=1)),
        ):
            range_tags = tags | {"dagster/asset_partition_range_end": last.isoformat()}
            assert dg.materialize(assets, resources=resources, instance=instance, tags=range_tags).success
    inputs = model_inputs(resources["lakehouse"], START, served_day).filter(pl.col("is_fraud").is_not_null())
    versions = []
    for leaves in (15, 31):
        outcome = train_and_register(
            inputs,
            "lightgbm",
            MODEL_FEATURES,
            resources["mlflow"],
            feature_service="fraud_model_v1",
            split_config=SplitConfig(validation_days=3, holdout_days=3, min_rows=500, min_positives=10),
            params=LightGBMParams(max_rounds=100, num_leaves=leaves, num_threads=1),
            nullable=tuple(NULLABLE_FEATURES),
            fill_values=FEATURE_FILL_VALUES,
            latency_rows=20,
            model_name=REGISTERED_MODEL_NAME,
        )
        versions.append(outcome.version)
    resources["mlflow"].client().set_registered_model_alias(REGISTERED_MODEL_NAME, CHAMPION, versions[0])
    served = resources["lakehouse"].read_partition("validated_transactions", served_day)
    return served.sort("event_timestamp", "transaction_id").to_dicts()


def materialize_redis(data_dir: Path, last_day: date) -> None:
    import dagster as dg

    from mlops_assets.defs.features.assets import online_features
    from mlops_assets.resources import build_resources
    from mlops_assets.settings import Settings

    os.environ["MLOPS_REDIS_URL"] = REDIS_URL  # the Feast resource reads it as a dg.EnvVar in the run
    resources = build_resources(Settings(data_dir=data_dir, partitions_start=START, redis_url=REDIS_URL))
    tags = {
        "dagster/asset_partition_range_start": START.isoformat(),
        "dagster/asset_partition_range_end": last_day.isoformat(),
    }
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([online_features], resources=resources, instance=instance, tags=tags).success


def redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def bodies(rows: list[dict], count: int) -> Iterator[bytes]:
    """`count` request bodies: the served day in time order, then again with new ids (new payments)."""
    for i in range(count):
        row = rows[i % len(rows)]
        body = {k: v for k, v in row.items() if k not in ("is_fraud", "label_available_at")}
        body["event_timestamp"] = row["event_timestamp"].isoformat()
        body["transaction_id"] = f"{row['transaction_id']}-r{i // len(rows)}"
        yield json.dumps(body).encode()


# --- processes --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout_s: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f} s")


@contextmanager
def process(command: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[None]:
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            wait_http(ready_url)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- the load generator -----------------------------------------------------------------------------------


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
) -> tuple[int, bytes]:
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return int(status_line.split()[1]), await reader.readexactly(length)


async def drive(
    port: int,
    path: str,
    payloads: list[bytes],
    rate: float,
    connections: int,
    on_response: Callable[[bytes], object] | None = None,
) -> dict[str, object]:
    """Open loop at `rate` requests/s over `connections` keep-alive connections; latency from the due time.

    `on_response` runs on each 200 body before the latency is taken (the reference's model call).
    """
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    )
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (item := await queue.get()) is not None:
            due, body = item
            try:
                status, answer = await _request(reader, writer, head.encode(), body)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if status != 200:
                errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
                continue
            if on_response is not None:
                on_response(answer)
            latencies.append(time.perf_counter() - due)
        writer.close()

    # The generator's own garbage collections (this process also holds the served world) would delay
    # sends and count as the service's latency: its heap is frozen and collection paused for the level.
    gc.collect()
    gc.freeze()
    gc.disable()
    # The keep-alive connections are open before the clock starts: the level measures requests at a steady
    # rate, not 32 TCP handshakes and the server's per-connection setup crowding its first milliseconds.
    opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(connections)))
    workers = [asyncio.create_task(worker(reader, writer)) for reader, writer in opened]
    started = time.perf_counter()
    for i, body in enumerate(payloads):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, body))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    gc.enable()
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "requests": len(payloads),
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def feast_payloads(rows: list[dict], count: int) -> list[bytes]:
    """`POST /get-online-features` bodies for the customer and merchant rows of each transaction."""
    from mlops_assets.feature_catalog import (
        CUSTOMER_FEATURE_VIEW,
        CUSTOMER_FEATURES,
        MERCHANT_FEATURE_VIEW,
        MERCHANT_FEATURES,
    )

    features = [f"{CUSTOMER_FEATURE_VIEW}:{f}" for f in CUSTOMER_FEATURES]
    features += [f"{MERCHANT_FEATURE_VIEW}:{f}" for f in MERCHANT_FEATURES]
    return [
        json.dumps(
            {
                "features": features,
                "entities": {"customer_id": [r["customer_id"]], "merchant_id": [r["merchant_id"]]},
            }
        ).encode()
        for r in (rows[i % len(rows)] for i in range(count))
    ]


def reference_scorer(data_dir: Path) -> Callable[[bytes], float]:
    """The champion's predict on a `feast serve` answer (features in the model's order)."""
    from mlops_assets.defs.training.registry import load_champion
    from mlops_assets.mlflow_resource import MlflowResource
    from mlops_assets.settings import Settings

    settings = Settings(data_dir=data_dir, partitions_start=START)
    mlflow = MlflowResource(
        tracking_uri=settings.mlflow_tracking_uri, artifact_root=str(settings.mlflow_artifact_root)
    )
    model = load_champion(mlflow.client())
    order = list(model.features)

    def score(answer: bytes) -> float:
        parsed = json.loads(answer)
        names = parsed["metadata"]["feature_names"]
        values = {name: result["values"][0] for name, result in zip(names, parsed["results"], strict=True)}
        x = np.array([[np.nan if values.get(f) is None else values[f] for f in order]], dtype=np.float32)
        return float(model.predict(x)[0])

    return score


# --- the run ----------------------------------------------------------------------------------------------


def feast_yaml(data_dir: Path, folder: Path) -> Path:
    """A feature_store.yaml for `feast serve` on the world's registry and SQLite online store."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feature_store.yaml").write_text(
        "project: mlops_fraud\nprovider: local\n"
        f"registry:\n  path: {data_dir / 'feast' / 'registry.db'}\n  cache_ttl_seconds: 60\n"
        "offline_store:\n  type: duckdb\n"
        f"online_store:\n  type: sqlite\n  path: {data_dir / 'feast' / 'online_store.db'}\n"
        "entity_key_serialization_version: 3\n"
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=31, help="simulated days; the last one is served")
    parser.add_argument("--rows-per-day", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each rate level")
    parser.add_argument("--rates", default="50,200,500", help="requests/s, comma separated")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections of the generator")
    args = parser.parse_args()
    from mlops_assets.serving.cli import serve_command

    rates = [float(r) for r in args.rates.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        started = time.perf_counter()
        rows = build_world(data_dir, args.days, args.rows_per_day)
        served_day = START + timedelta(days=args.days - 1)
        stores = ["sqlite"] + (["redis"] if redis_up() else [])
        if "redis" in stores:
            materialize_redis(data_dir, served_day - timedelta(days=1))
        built = time.perf_counter() - started
        print(f"world: {args.days} days x {args.rows_per_day} rows, built in {built:.0f} s")
        env = {
            **os.environ,
            # The guard's sitecustomize (set by `loopback`) stays first: the service runs loopback-only too.
            "PYTHONPATH": os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(REPO)) if p),
            "MLOPS_DATA_DIR": str(data_dir),
            "MLOPS_PARTITIONS_START": START.isoformat(),
            "POLARS_MAX_THREADS": "1",
        }
        env.pop("MLOPS_REDIS_URL", None)
        # Set by `import feast` in this process; inherited, it would put the service's metrics in mmap files.
        env.pop("PROMETHEUS_MULTIPROCESS_DIR", None)
        results = []
        for store in stores:
            for shadow in ("off", "on"):
                port = free_port()
                run_env = (
                    env
                    | {"MLOPS_SERVE_SHADOW": shadow}
                    | ({"MLOPS_REDIS_URL": REDIS_URL} if store == "redis" else {})
                )
                command = serve_command(port, "warning")
                with process(
                    command,
                    run_env,
                    f"http://127.0.0.1:{port}/health/ready",
                    work / f"serve_{store}_{shadow}.log",
                ):
                    # Warm-up: first requests import and JIT what the steady state reuses.
                    asyncio.run(drive(port, "/score", list(bodies(rows, 200))[100:], 50, 4))
                    for rate in rates:
                        count = int(rate * args.seconds)
                        payloads = list(bodies(rows, count))
                        result = asyncio.run(drive(port, "/score", payloads, rate, args.connections))
                        results.append(
                            {"service": "mlops-serve", "store": store, "shadow": shadow, "rate": rate}
                            | result
                        )
                        print(json.dumps(results[-1]), flush=True)
        port = free_port()
        repo = feast_yaml(data_dir, work / "feast_repo")
        feast_cli = str(Path(sys.executable).parent / "feast")
        command = [feast_cli, "-c", str(repo), "serve", "-h", "127.0.0.1", "-p", str(port), "--no-access-log"]
        scorer = reference_scorer(data_dir)
        with process(command, env, f"http://127.0.0.1:{port}/health", work / "feast_serve.log"):
            asyncio.run(drive(port, "/get-online-features", feast_payloads(rows, 100), 50, 4, scorer))
            for rate in rates:
                count = int(rate * args.seconds)
                result = asyncio.run(
                    drive(
                        port,
                        "/get-online-features",
                        feast_payloads(rows, count),
                        rate,
                        args.connections,
                        scorer,
                    )
                )
                results.append(
                    {"service": "feast serve + model", "store": "sqlite", "shadow": "-", "rate": rate}
                    | result
                )
                print(json.dumps(results[-1]), flush=True)
        if "redis" in stores:
            from mlops_assets.resources import build_resources
            from mlops_assets.settings import Settings

            settings = Settings(data_dir=data_dir, partitions_start=START, redis_url=REDIS_URL)
            feast = build_resources(settings)["feast"].process_config_and_initialize()
            feast.feature_store().teardown()  # type: ignore[attr-defined]

    print("\n| service | store | shadow | rate (req/s) | achieved | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['service']} | {r['store']} | {r['shadow']} | {r['rate']:.0f} | {r['achieved_rps']} | "
            f"{r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['errors']} |"
        )
    target = [
        r for r in results if r["service"] == "mlops-serve" and r["shadow"] == "on" and r["rate"] == 200
    ]
    for r in target:
        verdict = "meets" if r["p99_ms"] <= TARGET_P99_MS else "misses"
        print(f"target p99 <= {TARGET_P99_MS:g} ms at 200 req/s, shadow on, {r['store']}: {r['p99_ms']} ms")
        print(f"  ({verdict} the target)")


if __name__ == "__main__":
    main()
