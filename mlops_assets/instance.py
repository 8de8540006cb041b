"""Initialise the Dagster instance in `DAGSTER_HOME` once, before anything concurrent can touch it.

Why: Dagster creates the SQLite run, event-log and schedule storage the first time an instance is built,
and two processes doing that at once on a fresh `DAGSTER_HOME` (the webserver and the daemon of
`dagster dev`, two CLI runs, a sensor run and a CLI run) can both stamp the schema version, leaving
"Version table 'alembic_version' has more than one head present" for every later run. Every entry point
(`make demo`, `make ui`, the README's CLI recipes, test fixtures) calls this first; a file lock in
`DAGSTER_HOME` makes concurrent calls take turns, and on an initialised home it only opens the instance.

    python -m mlops_assets.instance     # before `dagster dev`, `dagster asset materialize`, ...
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import dagster as dg

LOCK_FILE = ".instance-init.lock"


def prepare_instance() -> Path:
    """Create (or open) the storage of the instance in `DAGSTER_HOME`, one process at a time."""
    home_text = os.environ.get("DAGSTER_HOME")
    if not home_text:
        raise RuntimeError("DAGSTER_HOME is not set: export it (e.g. DAGSTER_HOME=$PWD/.dagster_home)")
    home = Path(home_text).resolve()
    home.mkdir(parents=True, exist_ok=True)
    with (home / LOCK_FILE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        with dg.DagsterInstance.get():
            pass  # building it creates every storage's schema
    return home


if __name__ == "__main__":
    print(f"Dagster instance ready in {prepare_instance()}")
