"""Whether a process on this machine is still running: for stale temp files and dead run workers."""

from __future__ import annotations

import os
from pathlib import Path


def process_alive(pid: int) -> bool:
    """Whether `pid` is a live process on this machine; a zombie (killed, not yet reaped) is dead.

    A SIGKILLed run worker stays a zombie until its parent (the code server) reaps it, and
    `os.kill(pid, 0)` succeeds on a zombie, so the process state in `/proc` decides where it exists.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) is all we know
    return state != "Z"
