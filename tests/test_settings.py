"""Where the partitions start: MLOPS_START_DATE, else the first landed day, else the fallback."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mlops_assets.settings import FALLBACK_START, START_DATE_ENV, partitions_start


def test_partitions_start_where_the_data_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(START_DATE_ENV, raising=False)
    assert partitions_start(tmp_path) == FALLBACK_START  # no data yet
    for name in ("2026-10-05", "2026-10-02", "notes", "2026-11-30"):
        (tmp_path / "landing" / name).mkdir(parents=True)
    assert partitions_start(tmp_path) == date(2026, 10, 2)
    monkeypatch.setenv(START_DATE_ENV, "2026-09-01")  # configured: wins over the data
    assert partitions_start(tmp_path) == date(2026, 9, 1)
    monkeypatch.setenv(START_DATE_ENV, "01/09/2026")
    with pytest.raises(ValueError, match="MLOPS_START_DATE='01/09/2026': expected a date as YYYY-MM-DD"):
        partitions_start(tmp_path)
