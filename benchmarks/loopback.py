"""Imported first by every benchmark: loopback only, in this process and in every process it starts.

The same guard as the tests (`tests/network_guard.py`): a connection or name lookup outside 127.0.0.0/8
and ::1 raises before any packet is sent, and child Python processes get it through `sitecustomize`.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from network_guard import child_process_env, install_loopback_guard

install_loopback_guard()
os.environ.update(child_process_env(dict(os.environ)))
