"""A real dagster-webserver over the workspace, in a temporary DAGSTER_HOME and MLOPS_DATA_DIR.

Shared by the GraphQL and browser tests (one server per test session: starting it and loading the code
location costs seconds). A few simulated days are landed first so partitions can be materialized.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from shared_fixtures import stop_process_group

from mlops_assets.settings import REPO_ROOT
from mlops_assets.simulator import SimulationConfig, write_days

# Recent days, so the UI's partition dialog (which offers the last 90 days) shows them without paging.
PARTITIONS_START = date.today() - timedelta(days=5)
LANDED_DAYS = 3
ROWS_PER_DAY = 200
# Loading the code location imports torch, LightGBM, MLflow and Feast: seconds when idle, far longer on a
# loaded 2-core CI machine. The wait ends as soon as the location has loaded.
STARTUP_TIMEOUT_S = 300
WORKSPACE = REPO_ROOT / "workspace.yaml"
# The instance of the UI tests: SQLite under the temporary DAGSTER_HOME, and runs launched at once by the
# webserver (DefaultRunCoordinator): the repository's dagster.yaml queues runs for dagster-daemon, which
# these tests do not start. No first-visit newsletter prompt (nux) popping up over the page.
INSTANCE_YAML = """\
storage:
  sqlite:
    base_dir:
      env: DAGSTER_HOME
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
nux:
  enabled: false
"""


@dataclass(frozen=True)
class Webserver:
    """A running webserver: where it answers, and the folders it uses."""

    url: str
    dagster_home: Path
    data_dir: Path
    log_path: Path
    landed_days: tuple[str, ...]
    rows_per_day: int

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, timeout_s: float = 30
    ) -> dict[str, Any]:
        """POST a GraphQL query; errors in the answer are raised with the query's first line."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors for {query.strip().splitlines()[0]!r}: {answer['errors']}")
        return answer["data"]

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the webserver's output, for failure messages."""
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_loaded(server: Webserver, process: subprocess.Popen[bytes]) -> None:
    """Wait for the HTTP server and then for the code location to finish loading (or fail)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    query = (
        "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus"
        " locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    )
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with {process.returncode}:\n{server.log_tail()}")
        try:
            entries = server.graphql(query, timeout_s=5)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
            continue
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            errors = [e for e in entries if e["locationOrLoadError"]["__typename"] == "PythonError"]
            if errors:
                raise RuntimeError(
                    f"code location failed to load: {errors[0]['locationOrLoadError']['message']}"
                )
            return
        time.sleep(0.5)
    raise TimeoutError(f"dagster-webserver not ready after {STARTUP_TIMEOUT_S}s:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webserver]:
    """`dagster-webserver -w workspace.yaml` on a free port, with landed data; stopped after the session."""
    root = tmp_path_factory.mktemp("ui")
    dagster_home, data_dir = root / "dagster_home", root / "data"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
    write_days(
        SimulationConfig(start=PARTITIONS_START, days=LANDED_DAYS, rows_per_day=ROWS_PER_DAY),
        data_dir,
        "parquet",
    )
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "MLOPS_DATA_DIR": str(data_dir),
        "MLOPS_PARTITIONS_START": PARTITIONS_START.isoformat(),
    }
    for name in ("MLOPS_REDIS_URL", "MLOPS_MLFLOW_TRACKING_URI", "MLOPS_PROFILE", "MLOPS_EXECUTOR"):
        env.pop(name, None)  # the local profile, whatever the calling shell exports
    executable = (
        shutil.which("dagster-webserver", path=str(Path(sys.executable).parent)) or "dagster-webserver"
    )
    # Initialised before the webserver and its code server start, as `make ui` does.
    subprocess.run([sys.executable, "-m", "mlops_assets.instance"], env=env, check=True, timeout=120)
    log_path = root / "webserver.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [executable, "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the code server child is stopped with it
        )
    landed = tuple((PARTITIONS_START + timedelta(days=i)).isoformat() for i in range(LANDED_DAYS))
    server = Webserver(f"http://127.0.0.1:{port}", dagster_home, data_dir, log_path, landed, ROWS_PER_DAY)
    try:
        _wait_until_loaded(server, process)
        yield server
    finally:
        stop_process_group(process, timeout_s=15)


@pytest.fixture(scope="session")
def expected_asset_keys() -> list[str]:
    """Every asset key of the code location, from the Definitions: the lineage the UI must show."""
    from mlops_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    return sorted(
        key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).is_materializable
    )
