"""Helpers for real subprocess runs: the repository's dagster.yaml in a fresh DAGSTER_HOME, a user's env."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import yaml

from mlops_assets.settings import REPO_ROOT

DAY = date(2026, 1, 10)
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def fresh_home(path: Path, **run_monitoring: int) -> Path:
    """A new DAGSTER_HOME holding the repository's dagster.yaml, with run monitoring settings overridden."""
    path.mkdir(parents=True)
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    config["run_monitoring"].update(run_monitoring)
    (path / "dagster.yaml").write_text(yaml.safe_dump(config))
    return path


def subprocess_env(home: Path, data_dir: Path) -> dict[str, str]:
    """What a user's shell has: the venv on PATH, the two folders, and the test location importable."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DAGSTER_HOME": str(home),
        "MLOPS_DATA_DIR": str(data_dir),
        # Prepended: the session's PYTHONPATH carries the loopback guard into child processes.
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(REPO_ROOT), str(HERE), os.environ.get("PYTHONPATH")] if p
        ),
    }
