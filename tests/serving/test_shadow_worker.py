"""The shadow worker's process: it dies and is replaced, its queue fills and the service logs itself."""

from __future__ import annotations

import os
import signal
import time

import httpx
import psutil
from serving_world import MODEL, SERVED_DAY, request_body

from mlops_assets.defs.serving.contract import read_log_day
from mlops_assets.serving.shadow import (
    WARMED,
    WORKER_NICENESS,
    Challenger,
    ChallengerScorer,
    ShadowEvent,
    score_batches,
)


def _metric(url: str, line: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while line not in (text := httpx.get(f"{url}/metrics").text):
        assert time.monotonic() < deadline, text
        time.sleep(0.05)


def test_the_worker_yields_the_cpu_to_the_request_path(serve):
    with serve() as (_url, service):
        worker = psutil.Process(service.shadow.pid)
        deadline = time.monotonic() + 60  # it lowers its priority once its imports are done
        while worker.nice() != os.nice(0) + WORKER_NICENESS:
            assert time.monotonic() < deadline, worker.nice()
            time.sleep(0.1)


def test_a_killed_worker_is_replaced_and_later_requests_are_shadowed_and_logged(world, serve, tmp_path):
    rows = world.served.sort("event_timestamp").head(10).to_dicts()
    with serve(reload_interval_s=0.2) as (url, service):
        first = [httpx.post(f"{url}/score", json=request_body(r)) for r in rows[:5]]
        old_pid = service.shadow.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        _metric(url, "mlops_serve_shadow_worker_restarts_total 1.0")
        assert service.shadow.pid != old_pid and service.shadow.alive
        later = [httpx.post(f"{url}/score", json=request_body(r)) for r in rows[5:]]
    assert [r.status_code for r in first + later] == [200] * 10
    log = read_log_day(tmp_path / "prediction_log", SERVED_DAY)
    # What the killed worker held in memory may be lost; everything after the restart is there, shadowed.
    after = log.filter(log["transaction_id"].is_in([r["transaction_id"] for r in rows[5:]]))
    assert after.height == 5
    assert set(after["challenger_version"]) == {world.challenger_version}
    assert after["challenger_score"].null_count() == 0


def test_a_full_shadow_queue_never_delays_a_response_and_the_records_still_reach_the_log(
    world, serve, tmp_path
):
    rows = world.served.sort("event_timestamp").head(4).to_dicts()
    with serve(shadow_queue_size=2) as (url, service):
        pid = service.shadow.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the worker takes nothing from its queue
        try:
            responses = [httpx.post(f"{url}/score", json=request_body(r)) for r in rows]
            metrics = httpx.get(f"{url}/metrics").text
        finally:
            os.kill(pid, signal.SIGCONT)
    assert [r.status_code for r in responses] == [200] * 4
    assert 'mlops_serve_shadow_errors_total{reason="queue_full"} 2.0' in metrics
    log = read_log_day(tmp_path / "prediction_log", SERVED_DAY).sort("event_timestamp")
    assert log["transaction_id"].to_list() == [r["transaction_id"] for r in rows]
    shadowed, overflowed = log.head(2), log.tail(2)
    assert overflowed["shadow_error"].to_list() == ["shadow queue full"] * 2
    assert overflowed["challenger_score"].null_count() == 2
    assert shadowed["challenger_score"].null_count() == 0


def test_the_service_starts_with_its_worker_warmed_up(serve):
    with serve() as (_url, service):
        assert service.shadow.warmed  # start waited for the worker's imports and the challenger's load


def test_an_empty_batch_loads_its_challenger_and_is_answered(world):
    scorer = ChallengerScorer(world.resources["mlflow"].tracking_uri)
    challenger = Challenger(MODEL, world.challenger_version, 0.5)
    logged: list[list[dict]] = []
    assert score_batches([([], challenger)], scorer, logged.append) == [ShadowEvent(WARMED, 0)]
    assert scorer.model(challenger).version == world.challenger_version and logged == []
    missing = Challenger(MODEL, "999", 0.5)  # a version the registry does not have
    events = score_batches([([], missing)], scorer, logged.append)
    assert events == [ShadowEvent("challenger_error", 0), ShadowEvent(WARMED, 0)]
