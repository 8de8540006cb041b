"""The landing sensor: one request per new or changed day folder, nothing twice, today waits."""

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.test_utils import freeze_time

from mlops_assets.defs.automation.landing import changed_days, landing_files_sensor, landing_fingerprints
from mlops_assets.resources import LandingZoneResource


def _tick(
    instance: dg.DagsterInstance, root: Path, cursor: str | None
) -> tuple[list[dg.RunRequest], str | None, str]:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"landing": LandingZoneResource(root=str(root))}
    )
    result = list(landing_files_sensor(context) or [])
    requests = [r for r in result if isinstance(r, dg.RunRequest)]
    skips = [r.skip_message for r in result if isinstance(r, dg.SkipReason)]
    return requests, context.cursor, skips[0] if skips else ""


def _land(root: Path, day: str, name: str = "a.parquet", content: bytes = b"x") -> Path:
    path = root / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_fingerprints_cover_every_entry_of_day_folders_and_nothing_else(tmp_path: Path) -> None:
    _land(tmp_path, "2025-03-01")
    # A file ingestion cannot read still makes its day due: the run then fails naming it.
    _land(tmp_path, "2025-03-02", "notes.txt")
    _land(tmp_path, "2025-03-03", "batch2/late.CSV.GZ")
    _land(tmp_path, "not-a-day")
    _land(tmp_path, "20250304")  # ISO 8601 basic form: date.fromisoformat reads it, partitions never do
    assert list(landing_fingerprints(tmp_path)) == ["2025-03-01", "2025-03-02", "2025-03-03"]
    assert landing_fingerprints(tmp_path / "missing") == {}


def test_entries_that_are_not_day_folders_are_reported_once_with_the_expected_form(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    for name in ("20260106", "2026-1-7", "latest"):
        _land(tmp_path, name)
    (tmp_path / "loose.csv").write_text("x")
    (tmp_path / "_staging").mkdir()  # where atomic writes (the simulator's) stage: not reported
    requests, cursor, skip = _tick(instance, tmp_path, None)
    assert requests == []
    assert "waiting for partitions" not in skip
    form = "expected a folder named YYYY-MM-DD"
    anything = f"{form} (one per day, e.g. 2026-01-06) holding the day's files"
    assert skip.endswith(
        f"; not day folders, never ingested: 2026-1-7 ({form}; rename it to 2026-01-07); "
        f"20260106 ({form}; rename it to 2026-01-06); latest ({anything}); loose.csv ({anything})"
    )
    # Reported once: the next tick, with nothing new, says only that there is nothing new.
    requests, cursor2, skip = _tick(instance, tmp_path, cursor)
    assert requests == []
    assert skip == f"no new landing files in {tmp_path}"
    assert cursor2 == cursor
    # A newly misnamed folder is reported on its own; the cursor keeps day fingerprints beside the list.
    _land(tmp_path, "2026_01_08")
    _land(tmp_path, "2025-03-01")
    requests, cursor3, _ = _tick(instance, tmp_path, cursor2)
    assert [r.partition_key for r in requests] == ["2025-03-01"]
    state = json.loads(cursor3 or "{}")
    assert state["not_day_folders"] == ["2026-1-7", "20260106", "2026_01_08", "latest", "loose.csv"]
    assert set(state) == {"not_day_folders", "2025-03-01"}


def test_changed_days_only_valid_partitions() -> None:
    previous = {"2025-03-01": "a", "2025-03-02": "b"}
    current = {"2025-03-01": "a", "2025-03-02": "c", "2025-03-03": "d", "2999-01-01": "e"}
    assert changed_days(previous, current, {"2025-03-01", "2025-03-02", "2025-03-03"}) == [
        "2025-03-02",
        "2025-03-03",
    ]


def test_sensor_requests_each_new_day_once_and_again_after_a_change(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    _land(tmp_path, "2025-03-01")
    _land(tmp_path, "2025-03-02", "b.csv")
    requests, cursor, _ = _tick(instance, tmp_path, None)
    assert [r.partition_key for r in requests] == ["2025-03-01", "2025-03-02"]
    assert requests[0].tags["mlops/trigger"] == "landing_files"
    assert set(json.loads(cursor or "{}")) == {"2025-03-01", "2025-03-02"}

    requests, cursor2, skip = _tick(instance, tmp_path, cursor)
    assert requests == []
    assert skip.startswith("no new landing files")

    # A second file for a day (or a replaced file: new mtime) requests that day again.
    extra = _land(tmp_path, "2025-03-02", "c.parquet")
    os.utime(extra, (1_700_000_000, 1_700_000_000))
    requests, cursor3, _ = _tick(instance, tmp_path, cursor2)
    assert [r.partition_key for r in requests] == ["2025-03-02"]
    # The new fingerprint: names, sizes and mtimes of both files, in name order.
    first = tmp_path / "2025-03-02" / "b.csv"
    stamp = f"b.csv:1:{first.stat().st_mtime_ns}|c.parquet:1:1700000000000000000"
    expected = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    assert expected != json.loads(cursor2 or "{}")["2025-03-02"]
    assert requests[0].run_key == f"landing-2025-03-02-{expected}"
    assert requests[0].tags["mlops/landing_fingerprint"] == expected
    assert json.loads(cursor3 or "{}")["2025-03-02"] == expected


def test_today_waits_until_it_is_a_partition(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    today = datetime.now(UTC).date().isoformat()
    _land(tmp_path, today)
    requests, cursor, skip = _tick(instance, tmp_path, None)
    assert requests == []
    assert cursor is None  # not remembered: requested on the first tick after the day closes
    assert f"waiting for partitions {today}" in skip

    # The next morning the day is a partition: the same folder is requested on the first tick.
    with freeze_time(datetime.now(UTC) + timedelta(days=1)):
        requests, cursor, _ = _tick(instance, tmp_path, cursor)
    assert [r.partition_key for r in requests] == [today]
    assert set(json.loads(cursor or "{}")) == {today}


def test_a_fresh_cursor_does_not_reingest_days_already_in_the_lakehouse(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    _land(tmp_path, "2025-03-01")
    _land(tmp_path, "2025-03-02")
    # 2025-03-01 was ingested after its file landed (e.g. by `make demo`); 2025-03-02 never was.
    instance.report_runless_asset_event(dg.AssetMaterialization("raw_transactions", partition="2025-03-01"))
    requests, cursor, _ = _tick(instance, tmp_path, None)
    assert [r.partition_key for r in requests] == ["2025-03-02"]
    assert set(json.loads(cursor or "{}")) == {"2025-03-01", "2025-03-02"}
    # A file that lands after the ingestion makes the day due again.
    later = _land(tmp_path, "2025-03-01", "late.csv")
    future = datetime.now(UTC).timestamp() + 60
    os.utime(later, (future, future))
    requests, _, _ = _tick(instance, tmp_path, cursor)
    assert [r.partition_key for r in requests] == ["2025-03-01"]


def test_skip_reason_says_changed_days_were_already_ingested(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    _land(tmp_path, "2025-03-01")
    instance.report_runless_asset_event(dg.AssetMaterialization("raw_transactions", partition="2025-03-01"))
    requests, cursor, skip = _tick(instance, tmp_path, None)
    assert requests == []
    assert skip.endswith("1 day(s) already ingested since their files last changed")
    assert set(json.loads(cursor or "{}")) == {"2025-03-01"}
