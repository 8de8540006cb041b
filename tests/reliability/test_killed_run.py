"""A run SIGKILLed mid-write: run monitoring marks it failed, no temp file shows, a re-run completes.

Real processes throughout: `dagster-daemon run` (queue, launcher, run monitoring) on a fresh
DAGSTER_HOME holding the repository's dagster.yaml (monitoring polled every second instead of 30),
runs submitted with `dagster job launch`, and the run worker killed while its temporary Parquet file
is being written.
"""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import dagster as dg
import polars as pl
import psutil
import pytest
from shared_fixtures import stop_process_group
from subprocess_runs import DAY, fresh_home, subprocess_env

from mlops_assets.defs.automation.landing import INGESTION_JOB
from mlops_assets.instance import prepare_instance
from mlops_assets.lakehouse import STAGING_DIR, partition_path
from mlops_assets.run_launcher import run_worker_pid
from mlops_assets.simulator import SimulationConfig, simulate_day

T = TypeVar("T")
# Big enough that writing the partition takes a while even on an idle machine: the kill lands mid-write.
ROWS = 1_200_000
TIMEOUT_S = 120


def _until(what: str, probe: Callable[[], T | None], interval_s: float = 0.05) -> T:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        value = probe()
        if value is not None and value is not False:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"gave up waiting for {what} after {TIMEOUT_S}s")


def _land_a_big_day(data_dir: Path) -> None:
    base = simulate_day(DAY, SimulationConfig(start=DAY, days=1, rows_per_day=2_000))
    frame = pl.concat([base] * (ROWS // base.height)).with_columns(
        pl.format("tx-{}", pl.int_range(pl.len())).alias("transaction_id")
    )
    folder = data_dir / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    frame.write_parquet(folder / "transactions.parquet")


@pytest.fixture
def daemon(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A running `dagster-daemon` over the test location; yields the environment of the user's shell."""
    home = fresh_home(tmp_path / "home", poll_interval_seconds=1)
    env = subprocess_env(home, data_dir)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    prepare_instance()
    log = (tmp_path / "daemon.log").open("wb")
    process = subprocess.Popen(
        ["dagster-daemon", "run", "-m", "ingestion_location"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its code server and run workers share the group: all stopped below
    )
    try:
        yield env
    finally:
        stop_process_group(process)
        log.close()


def _launch(env: dict[str, str], cwd: Path) -> str:
    """Submit one ingestion run for DAY to the queue, the way the UI or a sensor would."""
    run_id = str(uuid.uuid4())
    subprocess.run(
        [
            "dagster", "job", "launch", "-m", "ingestion_location", "-j", INGESTION_JOB,
            "--run-id", run_id, "--tags", f'{{"dagster/partition": "{DAY.isoformat()}"}}',
        ],
        env=env, cwd=cwd, check=True, timeout=TIMEOUT_S, capture_output=True,
    )  # fmt: skip
    return run_id


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus | None:
    run = instance.get_run_by_id(run_id)
    return run.status if run else None


def _finished(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus | None:
    status = _status(instance, run_id)
    return status if status in {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE} else None


@pytest.mark.slow
def test_a_sigkilled_run_is_marked_failed_leaves_no_visible_temp_file_and_reruns_complete(
    tmp_path: Path, data_dir: Path, daemon: dict[str, str]
) -> None:
    _land_a_big_day(data_dir)
    lakehouse = data_dir / "lakehouse"
    staging = lakehouse / STAGING_DIR
    with dg.DagsterInstance.get() as instance:
        run_id = _launch(daemon, tmp_path)
        pid = _until("the run worker to start", lambda: run_worker_pid(instance, run_id))
        # Kill the run worker and its step process the moment the temporary file appears: mid-write,
        # as a crashed machine or a killed container would.
        worker = psutil.Process(pid)
        _until("the partition write to begin", lambda: any(staging.glob("*.tmp")), interval_s=0.001)
        # The worker first: killed after its step process, it could still report the failure itself.
        for process in [worker, *worker.children(recursive=True)]:
            process.send_signal(signal.SIGKILL)

        status = _until("the killed run to be marked failed", lambda: _finished(instance, run_id))
        assert status == dg.DagsterRunStatus.FAILURE
        # Two watchers race to notice, both outside the dead process: run monitoring (the daemon, through
        # the launcher's health check) and the code server that spawned the worker (which reports the
        # exit code, then fails the run). Either way the run ends FAILED with the crash named.
        failure = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        engine = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
        by_monitoring = f"run worker process {pid} is gone" in (failure[0].event_log_entry.message or "")
        by_code_server = any(
            f"Run execution process for {run_id} was terminated by signal 9"
            in (record.event_log_entry.message or "")
            for record in engine
        )
        assert by_monitoring or by_code_server, [r.event_log_entry.message for r in failure + engine]

        # The half-written file is in the staging folder, never inside the table a reader lists.
        assert len(list(staging.glob("*.tmp"))) == 1
        assert not [p for p in (lakehouse / "raw_transactions").rglob("*") if p.is_file()]

        rerun_id = _launch(daemon, tmp_path)
        assert _until("the re-run", lambda: _finished(instance, rerun_id)) == dg.DagsterRunStatus.SUCCESS
    written = pl.read_parquet(partition_path(lakehouse, "raw_transactions", DAY))
    assert written.height == ROWS
    assert written["transaction_id"].n_unique() == ROWS
    assert list(staging.iterdir()) == []  # the re-run's write removed the killed run's temp file
    assert (
        pl.scan_parquet(lakehouse / "raw_transactions", hive_partitioning=True)
        .select(pl.len())
        .collect()
        .item()
        == ROWS
    )
