"""Fixtures of the reliability tests (helpers live in `subprocess_runs`, importable by name)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The MLOPS_DATA_DIR of the subprocess runs."""
    return tmp_path / "data"
