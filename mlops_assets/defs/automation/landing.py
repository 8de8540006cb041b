"""`landing_files_sensor`: a new or changed file in `landing/<YYYY-MM-DD>/` requests that day's raw run.

The cursor remembers, per day folder, a fingerprint of its files (names, sizes, mtimes). A day whose
fingerprint changed gets one run request for its `raw_transactions` partition; the run key carries the
fingerprint, so re-evaluating the same state never launches a second run. A folder for a day that is
not yet a partition (today, which Dagster's daily partitions only add once the day is over) waits,
and is requested on the first tick after the partition exists.
"""

import hashlib
import json
from datetime import date
from pathlib import Path

import dagster as dg

from mlops_assets.defs.ingestion.landing import LANDING_SUFFIXES
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


def landing_fingerprints(root: Path) -> dict[str, str]:
    """Per day folder (`YYYY-MM-DD`) with landing files: a hash of their names, sizes and mtimes."""
    if not root.is_dir():
        return {}
    out: dict[str, str] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            date.fromisoformat(folder.name)
        except ValueError:
            continue
        files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in LANDING_SUFFIXES)
        if not files:
            continue
        stamp = "|".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
        out[folder.name] = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    return out


def changed_days(previous: dict[str, str], current: dict[str, str], valid_days: set[str]) -> list[str]:
    """Days whose fingerprint is new or changed and that are partitions already, oldest first."""
    return sorted(d for d, fp in current.items() if previous.get(d) != fp and d in valid_days)


def ingested_since_files_changed(instance: dg.DagsterInstance, folder: Path, day: str) -> bool:
    """Whether `raw_transactions` for `day` was materialized after its newest landing file was written.

    A fresh cursor (a new deployment, or the UI opened after `make demo`) must not re-ingest every day
    that is already in the lakehouse: only days whose files are newer than their last ingestion run.
    """
    newest_file = max((p.stat().st_mtime for p in folder.iterdir() if p.is_file()), default=0.0)
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
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = landing_fingerprints(landing.root_path)
    valid = set(daily_partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    changed = changed_days(previous, current, valid)[:MAX_REQUESTS_PER_TICK]
    root = landing.root_path
    days = [d for d in changed if not ingested_since_files_changed(context.instance, root / d, d)]
    waiting = sorted(d for d, fp in current.items() if previous.get(d) != fp and d not in valid)
    # Every changed day is seen, also those already ingested: only waiting days stay out of the cursor.
    if changed:
        context.update_cursor(json.dumps({**previous, **{d: current[d] for d in changed}}, sort_keys=True))
    if not days:
        suffix = f"; waiting for partitions {', '.join(waiting)}" if waiting else ""
        if changed:
            suffix += f"; {len(changed)} day(s) already ingested since their files last changed"
        yield dg.SkipReason(f"no new landing files in {landing.root_path}{suffix}")
        return
    for day in days:
        yield dg.RunRequest(
            run_key=f"landing-{day}-{current[day]}",
            partition_key=day,
            tags={"mlops/trigger": "landing_files", "mlops/landing_fingerprint": current[day]},
        )
