"""The Evidently report files: written whole or not at all."""

import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from mlops_assets.defs.monitoring import evidently_report
from mlops_assets.defs.monitoring.evidently_report import write_drift_report


class _BrokenSnapshot:
    """A snapshot whose HTML rendering dies half-way (out of memory, disk full for its temporary files)."""

    def get_html_str(self, as_iframe: bool) -> str:
        raise OSError("No space left on device")

    def dict(self) -> dict[str, Any]:
        return {"metrics": []}


def test_a_failed_export_leaves_the_previous_report_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = tmp_path / "drift_report" / "2025-02-10.html"
    html.parent.mkdir()
    html.write_text("<html>yesterday's complete report</html>")
    monkeypatch.setattr(evidently_report, "run_drift_preset", lambda *args, **kwargs: _BrokenSnapshot())
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(OSError, match="No space left"):
        write_drift_report(frame, frame, ["x"], [], html)
    assert html.read_text() == "<html>yesterday's complete report</html>"
    assert [p.name for p in html.parent.iterdir()] == ["2025-02-10.html"]  # no temporary file left behind


def test_report_and_json_are_written_with_evidently_verdict(tmp_path: Path) -> None:
    reference = pl.DataFrame({"x": [float(i % 50) for i in range(500)], "k": ["a", "b"] * 250})
    current = pl.DataFrame({"x": [float(i % 50) + 40 for i in range(300)], "k": ["a", "b", "b"] * 100})
    result = write_drift_report(
        reference,
        current,
        ["x"],
        ["k"],
        tmp_path / "day.html",
        reference_sample_rows=200,
        title="Drift 2026-10-05 | fraud_lightgbm v3 | reference 2026-09-01..2026-09-30",
    )
    assert (result.reference_rows, result.current_rows) == (200, 300)
    html = result.html_path.read_text()
    assert html.strip().startswith("<!DOCTYPE html>")
    # The title names the day and the model version, as the heading and the browser tab's title.
    title = "Drift 2026-10-05 | fraud_lightgbm v3 | reference 2026-09-01..2026-09-30"
    assert f"<title>{title}</title>" in html and f">{title}</h2>" in html
    assert result.json_path == tmp_path / "day.json"
    assert (result.drifted_columns, result.drift_share) == (2, 1.0)  # x moved by 40, k from 1:1 to 1:2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day.html", "day.json"]


def test_the_report_keeps_the_presets_page_and_drops_only_the_per_column_metrics(tmp_path: Path) -> None:
    reference = pl.DataFrame({"x": [float(i % 50) for i in range(500)], "k": ["a", "b"] * 250})
    current = pl.DataFrame({"x": [float(i % 50) + 40 for i in range(300)], "k": ["a", "b", "b"] * 100})
    full = evidently_report.run_drift_preset(reference, current, ["x"], ["k"])
    page = evidently_report.run_drift_preset(reference, current, ["x"], ["k"], per_column=False)

    def metrics(snapshot: Any) -> list[str]:
        return sorted(m["metric_name"].split("(")[0] for m in snapshot.dict()["metrics"])

    assert metrics(full) == ["DriftedColumnsCount", "ValueDrift", "ValueDrift"]
    assert metrics(page) == ["DriftedColumnsCount"]
    # The same verdict, and the same page (the dataset verdict, the per-column table and its plots), less
    # the list of per-column tests.
    assert evidently_report.dataset_drift(page.dict()) == (2, 1.0)
    assert evidently_report.dataset_drift(full.dict()) == (2, 1.0)

    def titles(snapshot: Any) -> list[str]:
        return re.findall(r'"title": "([^"]*)"', snapshot.get_html_str(as_iframe=False))

    per_column_tests = ["Value Drift for column x", "Value Drift for column k"]
    assert titles(page) == [t for t in titles(full) if t not in per_column_tests]
    assert all(t in titles(full) for t in per_column_tests)
    assert "Drift is detected for 100.0% of columns (2 out of 2)." in titles(page)
