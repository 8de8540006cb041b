"""The local run launcher: Dagster's default one, plus a health check that run monitoring can use.

Why: with Dagster's `DefaultRunLauncher` (runs as subprocesses of local code servers: `make ui`,
`dagster dev`, the daemon outside Kubernetes) run monitoring cannot tell that a run worker died:
`supports_check_run_worker_health` is False, so a run whose process was SIGKILLed or OOM-killed stays
`STARTED` forever, even with `run_monitoring` enabled. Dagster records each run worker's pid in the
"Started process for run (pid: N)" engine event; this launcher answers the health check from it, and
run monitoring then marks the run failed. Under Helm, `K8sRunLauncher` has its own health check.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

from mlops_assets.processes import process_alive

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's latest run worker, from its engine events; None before one has started."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, ascending=False
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None or event.step_key:  # a step's own process is not the run worker
            continue
        data = event.engine_event_data
        pid = str(data.metadata["pid"].value) if data and "pid" in data.metadata else ""
        if pid.isdigit():
            return int(pid)
    return None


class LocalRunWorkerLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` whose run workers run monitoring can check (same machine only)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        """Run monitoring asks `check_run_worker_health` about every STARTED run."""
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        """FAILED when the run worker process on this machine is gone; RUNNING when alive or unknown.

        Unknown (no pid recorded yet, or a code server on another host whose processes this machine
        cannot see) counts as running: a false "failed" would be worse than a late one.
        """
        origin = run.remote_job_origin
        location = origin.repository_origin.code_location_origin if origin else None
        host = getattr(location, "host", None)
        if host is not None and host not in LOOPBACK_HOSTS:
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker on {host}: not checked here")
        pid = run_worker_pid(self._instance, run.run_id)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker pid recorded yet")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {pid} is running")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"run worker process {pid} is gone (killed or crashed) while the run was still STARTED",
        )
