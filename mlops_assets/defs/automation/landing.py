"""`landing_files_sensor`: a new or changed file in `landing/<YYYY-MM-DD>/` requests that day's raw run.

The cursor remembers, per day folder, a fingerprint of its files (names, sizes, mtimes). A day whose
fingerprint changed gets one run request for its `raw_transactions` partition; the run key carries the
fingerprint, so re-evaluating the same state never launches a second run. A folder for a day that is
not yet a partition (today, which Dagster's daily partitions only add once the day is over) waits,
and is requested on the first tick after the partition exists.

Every entry of a day folder counts in its fingerprint, also those ingestion cannot read (`export.json`,
a dangling symlink): the run that follows fails naming them, instead of the files sitting unread. An
entry of the landing root that is not a `YYYY-MM-DD` folder (`20260106`, `2026-1-7`, `latest`) can never
become a partition; the sensor reports it once, with the expected form, and remembers it in the cursor
so later ticks do not repeat it.
"""

import hashlib
import json
import re
from datetime import date, datetime
from pathlib import Path

import dagster as dg

from mlops_assets.defs.ingestion.landing import scan_day_folder
from mlops_assets.lakehouse import STAGING_DIR
from mlops_assets.partitions import daily_partitions
from mlops_assets.resources import LandingZoneResource
from mlops_assets.tables import RAW_TABLE

INGESTION_JOB = "ingest_raw_transactions"
MAX_REQUESTS_PER_TICK = 400

ingest_raw_job = dg.define_asset_job(
    INGESTION_JOB,
    selection=dg.AssetSelection.assets(RAW_TABLE),
    description="Ingest the landing files of the requested days into raw_transactions.",
)


DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Under this cursor key (never a date): root entries already reported as not being day folders.
REPORTED_KEY = "not_day_folders"


def day_folder_date(name: str) -> date | None:
    """The date a landing root entry stands for, only in the exact `YYYY-MM-DD` form.

    `date.fromisoformat` alone also accepts ISO 8601's basic form (`20260106`), which Dagster's
    partition keys never match, so such a folder would wait for its partition forever.
    """
    if not DAY_FOLDER.match(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def _entry_stamp(path: Path, folder: Path) -> str:
    stat = path.lstat()  # lstat: a dangling symlink has no target to stat
    return f"{path.relative_to(folder).as_posix()}:{stat.st_size}:{stat.st_mtime_ns}"


def landing_fingerprints(root: Path) -> dict[str, str]:
    """Per day folder (`YYYY-MM-DD`) with any entry: a hash of its entries' paths, sizes and mtimes."""
    if not root.is_dir():
        return {}
    out: dict[str, str] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and day_folder_date(p.name)):
        readable, unreadable = scan_day_folder(folder)
        entries = sorted([*readable, *unreadable])
        if not entries:
            continue
        stamp = "|".join(_entry_stamp(e, folder) for e in entries)
        out[folder.name] = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    return out


def not_day_folders(root: Path) -> dict[str, str]:
    """Entries of the landing root that are not `YYYY-MM-DD` folders, each with the form expected."""
    if not root.is_dir():
        return {}
    out: dict[str, str] = {}
    for entry in sorted(root.iterdir()):
        # The staging folder of atomic writes (the simulator writes landing files that way) is no upload.
        if (entry.is_dir() and day_folder_date(entry.name)) or entry.name == STAGING_DIR:
            continue
        out[entry.name] = _expected_form(entry.name)
    return out


def _expected_form(name: str) -> str:
    """What the entry should be called, with the date it probably means when one can be read."""
    for pattern in ("%Y%m%d", "%Y-%m-%d", "%d.%m.%Y", "%Y_%m_%d", "%Y/%m/%d"):
        try:
            meant = datetime.strptime(name, pattern).date()
        except ValueError:
            continue
        return f"expected a folder named YYYY-MM-DD; rename it to {meant.isoformat()}"
    return "expected a folder named YYYY-MM-DD (one per day, e.g. 2026-01-06) holding the day's files"


def changed_days(previous: dict[str, str], current: dict[str, str], valid_days: set[str]) -> list[str]:
    """Days whose fingerprint is new or changed and that are partitions already, oldest first."""
    return sorted(d for d, fp in current.items() if previous.get(d) != fp and d in valid_days)


def ingested_since_files_changed(instance: dg.DagsterInstance, folder: Path, day: str) -> bool:
    """Whether `raw_transactions` for `day` was materialized after its newest landing file was written.

    A fresh cursor (a new deployment, or the UI opened after `make demo`) must not re-ingest every day
    that is already in the lakehouse: only days whose files are newer than their last ingestion run.
    """
    readable, _ = scan_day_folder(folder)
    newest_file = max((p.stat().st_mtime for p in readable), default=0.0)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(RAW_TABLE), asset_partitions=[day], after_timestamp=newest_file
        ),
        limit=1,
    ).records
    return bool(records)


@dg.sensor(
    job=ingest_raw_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests raw_transactions partitions for new or changed files in the landing zone.",
)
def landing_files_sensor(context: dg.SensorEvaluationContext, landing: LandingZoneResource):
    """One run request per day folder whose files appeared or changed since the last tick."""
    state = json.loads(context.cursor) if context.cursor else {}
    reported: list[str] = state.pop(REPORTED_KEY, [])
    previous: dict[str, str] = state
    current = landing_fingerprints(landing.root_path)
    misnamed = {n: why for n, why in not_day_folders(landing.root_path).items() if n not in reported}
    for name, why in misnamed.items():
        context.log.warning(f"landing entry {landing.root_path / name} is not a day folder: {why}")
    valid = set(daily_partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    changed = changed_days(previous, current, valid)[:MAX_REQUESTS_PER_TICK]
    root = landing.root_path
    days = [d for d in changed if not ingested_since_files_changed(context.instance, root / d, d)]
    waiting = sorted(d for d, fp in current.items() if previous.get(d) != fp and d not in valid)
    # Every changed day is seen, also those already ingested: only waiting days stay out of the cursor.
    if changed or misnamed:
        cursor: dict[str, object] = {**previous, **{d: current[d] for d in changed}}
        if reported or misnamed:
            cursor[REPORTED_KEY] = sorted({*reported, *misnamed})
        context.update_cursor(json.dumps(cursor, sort_keys=True))
    if not days:
        suffix = f"; waiting for partitions {', '.join(waiting)}" if waiting else ""
        if changed:
            suffix += f"; {len(changed)} day(s) already ingested since their files last changed"
        if misnamed:
            suffix += "; not day folders, never ingested: " + "; ".join(
                f"{name} ({why})" for name, why in misnamed.items()
            )
        yield dg.SkipReason(f"no new landing files in {landing.root_path}{suffix}")
        return
    for day in days:
        yield dg.RunRequest(
            run_key=f"landing-{day}-{current[day]}",
            partition_key=day,
            tags={"mlops/trigger": "landing_files", "mlops/landing_fingerprint": current[day]},
        )
