"""The local run launcher's health check: what run monitoring hears about a run worker."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus

from mlops_assets.run_launcher import LocalRunWorkerLauncher, run_worker_pid


@dg.asset
def trivial() -> int:
    return 1


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid no longer exists
    return child.pid


def test_health_follows_the_recorded_run_worker_pid(instance: dg.DagsterInstance) -> None:
    launcher = LocalRunWorkerLauncher()
    launcher.register_instance(instance)
    assert launcher.supports_check_run_worker_health

    # A run whose worker has not reported yet: unknown counts as running, never as failed.
    queued = instance.add_run(dg.DagsterRun(job_name="trivial_job"))
    assert run_worker_pid(instance, queued.run_id) is None
    assert launcher.check_run_worker_health(queued).msg == "no run worker pid recorded yet"
    assert launcher.check_run_worker_health(queued).status == WorkerStatus.RUNNING

    # An in-process run records its executor's process: this one, alive.
    run = instance.get_run_by_id(dg.materialize([trivial], instance=instance).run_id)
    assert run is not None
    assert run_worker_pid(instance, run.run_id) == os.getpid()
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING

    dead = _dead_pid()
    instance.report_engine_event(
        f"Started process for run (pid: {dead}).", run, EngineEventData.in_process(dead)
    )
    result = launcher.check_run_worker_health(run)
    assert (result.status, result.msg) == (
        WorkerStatus.FAILED,
        f"run worker process {dead} is gone (killed or crashed) while the run was still STARTED",
    )

    # A newer worker (a resumed run) is the one that counts.
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        instance.report_engine_event("Started process for run.", run, EngineEventData.in_process(alive.pid))
        assert run_worker_pid(instance, run.run_id) == alive.pid
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    finally:
        alive.kill()
        alive.wait()
