"""`mlops-serve`: its wiring (secrets resolved from the environment), and how its process ends."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import polars as pl
import psutil
import pytest
from network_guard import child_process_env
from serving_world import SERVED_DAY, request_body
from shared_fixtures import free_port

from mlops_assets.defs.serving.contract import read_log_day
from mlops_assets.serving.cli import build_service, serve_command
from mlops_assets.serving.config import ServeConfig
from mlops_assets.settings import REPO_ROOT, Settings


def test_build_service_resolves_the_secret_settings(settings, monkeypatch):
    url = "redis://:s3cret@127.0.0.1:6399/3"
    tracking = "sqlite:////tmp/mlops-serve-test/mlflow.db"
    monkeypatch.setenv("MLOPS_REDIS_URL", url)
    monkeypatch.setenv("MLOPS_MLFLOW_TRACKING_URI", tracking)
    monkeypatch.setenv("MLOPS_SERVE_RELOAD_INTERVAL_S", "2.5")
    service = build_service(Settings.from_env(), ServeConfig.from_env())  # built, not started
    assert service.online.feast.redis_url == url  # the value, not the variable's name
    assert service.online.feast.online_store_type == "redis"
    assert service.tracking_uri == tracking
    assert service.config.reload_interval_s == 2.5
    assert service.log_root == settings.data_dir / "serving" / "prediction_log"


# --- the `mlops-serve` process: what it holds reaches the log however it ends ------------------------------


@contextmanager
def _mlops_serve(world, data_dir: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """`mlops-serve` as its own process on the served world's stores, with a prediction log of its own.

    The log flushes every minute, so what a test finds in it was written when the process ended.
    """
    data_dir.mkdir()
    for store in ("lakehouse", "mlflow", "feast"):
        (data_dir / store).symlink_to(world.settings.data_dir / store)
    port = free_port()
    env = child_process_env(
        {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "PROMETHEUS_"))},
            "MLOPS_DATA_DIR": str(data_dir),
            "MLOPS_START_DATE": world.settings.partitions_start.isoformat(),
            "MLOPS_SERVE_LOG_FLUSH_S": "60",
        }
    )
    command = serve_command(port, "warning")
    proc = subprocess.Popen(command, env=env, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"mlops-serve exited with {proc.returncode}"
            assert time.monotonic() < deadline, "mlops-serve never became ready"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                    break
            time.sleep(0.2)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _score_and_end(world, tmp_path: Path, end: signal.Signals) -> tuple[list[dict], list[int], pl.DataFrame]:
    rows = world.served.sort("event_timestamp").head(5).to_dicts()
    with _mlops_serve(world, tmp_path / "data") as (proc, url):
        children = [c.pid for c in psutil.Process(proc.pid).children()]
        responses = [httpx.post(f"{url}/score", json=request_body(r)) for r in rows]
        assert [r.status_code for r in responses] == [200] * 5
        time.sleep(0.5)  # the records' way to the worker: the queue's feeder thread, then the pipe
        proc.send_signal(end)
        proc.wait(timeout=120)
    alive = psutil.wait_procs([psutil.Process(p) for p in children if psutil.pid_exists(p)], timeout=30)[1]
    assert not alive, f"the shadow worker outlived mlops-serve: {alive}"
    return rows, children, read_log_day(tmp_path / "data" / "serving" / "prediction_log", SERVED_DAY)


@pytest.mark.slow
def test_sigterm_writes_what_the_service_holds_and_ends_its_shadow_worker(world, tmp_path):
    rows, children, log = _score_and_end(world, tmp_path, signal.SIGTERM)
    assert children  # the shadow worker (and multiprocessing's resource tracker)
    assert log["transaction_id"].to_list() == [r["transaction_id"] for r in rows]
    assert log["challenger_score"].null_count() == 0


@pytest.mark.slow
def test_a_killed_service_s_worker_writes_what_it_holds_and_ends(world, tmp_path):
    rows, _, log = _score_and_end(world, tmp_path, signal.SIGKILL)
    assert log["transaction_id"].to_list() == [r["transaction_id"] for r in rows]
