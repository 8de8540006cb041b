"""`make mlflow`: the MLflow UI serves the platform's own store on loopback, read over its REST API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.mlflow_ui import HOST, server_command
from mlops_assets.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.slow


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mlflow_ui(settings: Settings, tmp_path) -> Iterator[str]:
    """`python -m mlops_assets.mlflow_ui` on a free loopback port, started from an unrelated directory."""
    port = _free_loopback_port()
    log = (tmp_path / "mlflow_ui.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_assets.mlflow_ui", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "mlflow_ui.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "mlflow_ui.log").read_text()
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_the_command_points_mlflow_at_the_settings_store_on_loopback(settings: Settings) -> None:
    argv, env = server_command(settings, 5123)
    assert argv[1:] == ["-m", "mlflow", "server", "--host", "127.0.0.1", "--port", "5123", "--workers", "1"]
    assert env == {
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{settings.data_dir / 'mlflow' / 'mlflow.db'}",
        "MLFLOW_DEFAULT_ARTIFACT_ROOT": (settings.data_dir / "mlflow" / "artifacts").as_uri(),
    }


def test_the_ui_serves_the_experiment_and_run_the_platform_logged(settings: Settings, mlflow_ui) -> None:
    import mlflow

    resource = MlflowResource(
        tracking_uri=settings.mlflow_tracking_uri, artifact_root=str(settings.mlflow_artifact_root)
    )
    with resource.start_run("ui-check", tags={"dagster_run_id": "abc"}) as run:
        mlflow.log_metric("pr_auc", 0.25)
    response = httpx.get(
        f"{mlflow_ui}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": resource.experiment_name},
        timeout=10,
    )
    response.raise_for_status()
    experiment = response.json()["experiment"]
    assert experiment["experiment_id"] == resource.experiment_id()
    assert experiment["artifact_location"] == (settings.mlflow_artifact_root / "fraud_detection").as_uri()
    served = httpx.get(
        f"{mlflow_ui}/api/2.0/mlflow/runs/get", params={"run_id": run.info.run_id}, timeout=10
    ).json()["run"]
    assert served["info"]["run_name"] == "ui-check"
    assert served["data"]["metrics"] == [
        {"key": "pr_auc", "value": 0.25, "timestamp": served["data"]["metrics"][0]["timestamp"], "step": 0}
    ]
    assert {"key": "dagster_run_id", "value": "abc"} in served["data"]["tags"]
