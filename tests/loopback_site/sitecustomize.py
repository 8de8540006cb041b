"""Loaded by Python at start-up when this folder is on PYTHONPATH: the loopback guard for child processes.

Tests and benchmarks put this folder on PYTHONPATH (with `MLOPS_LOOPBACK_ONLY=1`) for every process they
start (dagster-webserver, the daemon, CLI runs, benchmark workers), so a child process cannot reach a
non-loopback address either. See `network_guard.py` beside the tests.
"""

import os
import sys
from pathlib import Path

if os.environ.get("MLOPS_LOOPBACK_ONLY") == "1":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from network_guard import install_loopback_guard

    install_loopback_guard()
