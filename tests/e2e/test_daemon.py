"""The real daemon: `dagster dev` alone carries a landed day to its drift verdict, and does nothing else.

After a short history (ingested, trained and promoted in process, into the same instance), the test
starts `dagster dev` (webserver + dagster-daemon) on a temporary instance and only drops landing files:
1. a new day's file: `landing_files_sensor` ingests it and `daily_flow_automation` carries it from
   `validated_transactions` to `drift_report`, with every check of the run evaluated;
2. the same (newest) day re-landed with strongly drifted content. The automation conditions handle only
   the newest partition (or re-run past ones that changed), and the newest is the day before today, so
   the drifted data arrives as a corrected newest day. Its `feature_drift` is recorded as FAILED for
   that partition, and `retraining_sensor` skips with a reason naming the day and saying when mature
   labels will allow a useful retraining (the champion was trained on every mature day there is).
Then it checks that nothing else ran: one ingestion and one daily run per landing, no retraining, no
other partition, no duplicate run. Sensor intervals are shortened through their environment variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from shared_fixtures import free_port, stop_process_group

from mlops_assets.resources import build_resources
from mlops_assets.settings import REPO_ROOT, Settings
from mlops_assets.simulator import SimulationConfig, write_days
from mlops_assets.simulator.writer import write_day

pytestmark = pytest.mark.slow

TODAY = datetime.now(UTC).date()
NEW_DAY = TODAY - timedelta(days=1)  # the newest daily partition
HISTORY_DAYS = 72
START = NEW_DAY - timedelta(days=HISTORY_DAYS)
WARM_START = START + timedelta(days=30)
ROWS_PER_DAY = 400
INTERVAL_S = "3"
WAIT_S = 300  # how long one stage may take on a loaded 2-core machine before the test gives up
INSTANCE_YAML = """\
storage:
  sqlite:
    base_dir:
      env: DAGSTER_HOME
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
telemetry:
  enabled: false
nux:
  enabled: false
"""
# Small models and relaxed absolute floors, as in the drift scenario: the test is about the loop.
LABEL_CUTOFF = datetime.now(UTC).replace(microsecond=0)
TRAIN_CONFIG = {
    "ops": {
        # Labels as of now: the champion learns from every mature day there is, so nothing newer exists.
        "training_dataset": {
            "config": {"start_date": WARM_START.isoformat(), "label_cutoff": LABEL_CUTOFF.isoformat()}
        },
        "fraud_model": {"config": {"torch_max_epochs": 2, "lightgbm_max_rounds": 50}},
        "model_promotion": {"config": {"min_pr_auc": 0.0, "min_roc_auc": 0.5}},
    }
}
DAILY_ASSETS = (
    "validated_transactions",
    "quarantined_transactions",
    "customer_features",
    "merchant_features",
    "batch_predictions",
    "drift_report",
)


def _wait(what: str, check: Callable[[], Any], log: Path, deadline_s: float = WAIT_S) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` with the server's log tail."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1.0)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}; dagster dev log tail:\n{tail}")


def _history(settings: Settings, instance: dg.DagsterInstance) -> None:
    """Seventy-two days ingested through the features, a champion trained and promoted, all in process."""
    from mlops_assets.defs.automation.retraining import retraining_job
    from mlops_assets.defs.features.assets import customer_features, merchant_features, training_dataset
    from mlops_assets.defs.ingestion.assets import raw_transactions
    from mlops_assets.defs.training.assets import fraud_model, model_promotion
    from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions

    write_days(SimulationConfig(start=START, days=HISTORY_DAYS, rows_per_day=ROWS_PER_DAY), settings.data_dir)
    # Built for this test's folders (a `definitions` imported earlier in the session holds others).
    resources = dict(build_resources(settings))
    tags = {
        "dagster/asset_partition_range_start": START.isoformat(),
        "dagster/asset_partition_range_end": (NEW_DAY - timedelta(days=1)).isoformat(),
    }
    daily = [raw_transactions, validated_and_quarantined_transactions, customer_features, merchant_features]
    assert dg.materialize(daily, resources=resources, instance=instance, tags=tags).success
    defs = dg.Definitions(
        assets=[*daily, training_dataset, fraud_model, model_promotion],
        jobs=[retraining_job],
        resources=resources,
    )
    job = defs.resolve_job_def("retraining_job")
    assert job.execute_in_process(instance=instance, run_config=TRAIN_CONFIG).success


@pytest.fixture
def dagster_dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, Path]]:
    """A history in a temporary instance, then `dagster dev` over it; stopped after the test."""
    dagster_home, data_dir = tmp_path / "dagster_home", tmp_path / "data"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "MLOPS_DATA_DIR": str(data_dir),
        "MLOPS_START_DATE": START.isoformat(),
        "MLOPS_LANDING_SENSOR_INTERVAL_S": INTERVAL_S,
        "MLOPS_AUTOMATION_INTERVAL_S": INTERVAL_S,
        "MLOPS_RETRAINING_SENSOR_INTERVAL_S": INTERVAL_S,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("MLOPS_REDIS_URL", "MLOPS_MLFLOW_TRACKING_URI", "MLOPS_PROFILE", "MLOPS_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    with dg.DagsterInstance.get() as instance:
        _history(settings, instance)

    executable = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    log_path = tmp_path / "dagster_dev.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                executable,
                "dev",
                "-w",
                str(REPO_ROOT / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(free_port()),
            ],
            cwd=REPO_ROOT,
            env={**os.environ},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: webserver, daemon and code servers stop with it
        )
    try:
        yield settings, log_path
    finally:
        stop_process_group(process, timeout_s=30)


def _materialized(instance: dg.DagsterInstance, asset: str, day: date, after: float) -> bool:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), asset_partitions=[day.isoformat()], after_timestamp=after
        ),
        limit=1,
    ).records
    return bool(records)


def _latest_evaluation(
    instance: dg.DagsterInstance, check: str, day: date, after: float
) -> dg.AssetCheckEvaluation | None:
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("drift_report"), check), limit=20
    )
    for record in records:
        evaluation = record.evaluation
        if (
            isinstance(evaluation, dg.AssetCheckEvaluation)
            and evaluation.partition == day.isoformat()
            and record.create_timestamp > after
        ):
            return evaluation
    return None


def _sensor_skips(instance: dg.DagsterInstance, name: str, after: float) -> list[str]:
    """Skip reasons of the sensor's ticks since `after`, as the daemon stored them."""
    from dagster._core.definitions.run_request import InstigatorType

    states = [
        s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR) if s.name == name
    ]
    if not states:
        return []
    ticks = instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id, limit=50)
    return [t.skip_reason or "" for t in ticks if t.timestamp > after and t.skip_reason]


def _finished(instance: dg.DagsterInstance) -> bool:
    return not instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ]
        )
    )


def test_the_daemon_carries_a_landed_day_to_its_drift_verdict_and_nothing_else(
    dagster_dev: tuple[Settings, Path],
) -> None:
    settings, log = dagster_dev
    with dg.DagsterInstance.get() as instance:
        history_runs = {r.run_id for r in instance.get_runs()}

        # 1. A new day lands: sensors and automation alone carry it to its drift report.
        landed = time.time()
        write_day(
            NEW_DAY,
            SimulationConfig(start=START, days=HISTORY_DAYS + 1, rows_per_day=ROWS_PER_DAY),
            settings.data_dir,
            "parquet",
        )
        _wait(
            "the new day's drift_report",
            lambda: _materialized(instance, "drift_report", NEW_DAY, landed),
            log,
        )
        # feature_drift ran in the automated run (no check selection left it out). prediction_drift and
        # scored_volume have no earlier scored day to compare with: no result (SKIPPED), never a pass.
        first = _latest_evaluation(instance, "feature_drift", NEW_DAY, landed)
        assert first is not None and first.passed, first
        _wait("the first day's runs to finish", lambda: _finished(instance), log)

        # 2. The newest day re-landed, strongly drifted.
        drifted_config = SimulationConfig(
            start=START,
            days=HISTORY_DAYS + 1,
            rows_per_day=ROWS_PER_DAY,
            drift_start=NEW_DAY,
            drift_kinds=("covariate", "new_categories"),
        )
        relanded = time.time()
        time.sleep(1.1)  # a new mtime for the landing fingerprint even on coarse file systems
        write_day(NEW_DAY, drifted_config, settings.data_dir, "parquet")
        failed = _wait(
            "feature_drift of the drifted day",
            lambda: _latest_evaluation(instance, "feature_drift", NEW_DAY, relanded),
            log,
        )
        assert not failed.passed, failed.description
        assert failed.partition == NEW_DAY.isoformat()
        skip = _wait(
            "retraining_sensor's verdict on the drifted day",
            lambda: [
                s for s in _sensor_skips(instance, "retraining_sensor", relanded) if NEW_DAY.isoformat() in s
            ],
            log,
        )[0]
        assert f"drift_report:feature_drift on {NEW_DAY} failed, but no labelled day is mature" in skip
        assert "fraud labels have had 16 days to arrive at" in skip
        _wait("the drifted day's runs to finish", lambda: _finished(instance), log)

        # 3. Nothing else ran.
        runs = [r for r in instance.get_runs() if r.run_id not in history_runs]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [
            (r.job_name, r.status) for r in runs
        ]
        assert not [r for r in runs if r.job_name == "retraining_job"]
        partitions = {r.tags.get("dagster/partition") for r in runs}
        assert partitions <= {NEW_DAY.isoformat(), None}, partitions
        ingestions = [r for r in runs if r.job_name == "ingest_raw_transactions"]
        assert len(ingestions) == 2  # one per landing, no duplicate
        daily = [r for r in runs if "drift_report" in {k.to_user_string() for k in r.asset_selection or ()}]
        assert len(daily) == 2, [sorted(k.to_user_string() for k in r.asset_selection or ()) for r in runs]
        for run in daily:
            selected = {k.to_user_string() for k in run.asset_selection or ()}
            assert set(DAILY_ASSETS) <= selected, selected
            assert run.asset_check_selection is None or len(run.asset_check_selection) >= 7
        assert not [
            r for r in runs if "model_promotion" in {k.to_user_string() for k in r.asset_selection or ()}
        ]
