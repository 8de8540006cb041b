"""`make demo` end to end at a tiny volume, and its summary's lines checked against the stores it read.

The demo runs once for the module (60 days of 150 rows, every asset, a real Dagster instance in a
temporary DAGSTER_HOME); each test compares what it printed with what the lakehouse, the instance, the
report folder and MLflow hold, read here independently. The drift starts on day 52 rather than 45: the
first drifted day still falls before the last 7 (so both reasons for an Evidently report are seen), and
the run writes 8 reports instead of 15 (an Evidently report costs seconds whatever the volume).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from partition_truth import stored_check_results, stored_metadata

from mlops_assets import demo
from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME
from mlops_assets.defs.training.registry import CHAMPION, FAMILY_TAG
from mlops_assets.demo import DriftDay, GateDecision
from mlops_assets.settings import Settings

ROWS_PER_DAY = 150
DRIFT_AFTER_DAYS = 52
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Run the demo once in temporary folders; its printed output, summary lines, days and settings."""
    root = tmp_path_factory.mktemp("demo")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # as the Makefile does
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        env.setenv("MLOPS_DATA_DIR", str(root / "data"))
        for name in ("MLOPS_REDIS_URL", "MLOPS_MLFLOW_TRACKING_URI"):
            env.delenv(name, raising=False)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            lines = demo.run_demo(rows_per_day=ROWS_PER_DAY, drift_after_days=DRIFT_AFTER_DAYS)
        start, end = demo.demo_window(datetime.now(UTC).date())
        with dg.DagsterInstance.get() as instance:
            yield {
                "printed": printed.getvalue(),
                "summary": "\n".join(lines),
                "days": [start + timedelta(days=i) for i in range((end - start).days)],
                "settings": Settings.from_env(),
                "instance": instance,
            }


def _section(summary: str, heading: str) -> list[str]:
    """The lines of the summary's section that starts with `heading`, up to the next blank line."""
    text = summary[summary.index(heading) :]
    return text.split("\n\n")[0].splitlines()


def test_progress_names_each_layer_and_its_duration(ran: dict) -> None:
    printed = ran["printed"]
    first, last = ran["days"][0], ran["days"][-1]
    assert f"simulated 60 days x {ROWS_PER_DAY} rows into " in printed
    layers = re.findall(r"^\[(\d)/(\d)\] (.+?): (.+)$", printed, flags=re.MULTILINE)
    assert [(n, of, scope) for n, of, scope, _ in layers] == [
        ("1", "3", f"days {first}..{last}"),
        ("2", "3", "once"),
        ("3", "3", f"days {first}..{last}"),
    ]
    assert layers[1][3] == "training_dataset, fraud_model/lightgbm, fraud_model/torch, model_promotion"
    # No service ran: the assets that ingest its log are left for after `make serve`, not run empty.
    assert "serving_log" not in printed.split("Materialized in")[0]
    assert "shadow_comparison" not in layers[0][3] + layers[2][3]
    assert len(re.findall(r"^      done in \d+\.\d s$", printed, flags=re.MULTILINE)) == 3


def test_drifted_days_and_their_features_are_the_instances_failed_checks(ran: dict) -> None:
    instance, folder = ran["instance"], ran["settings"].reports_dir / "drift_report"
    stored = stored_check_results(instance, "drift_report", "feature_drift")
    failed = sorted(day for day, passed in stored.items() if not passed)
    assert failed, "the test's demo drifts from day 52: some day must fail feature_drift"
    lines = _section(ran["summary"], "Feature drift")
    assert lines[0] == (
        f"Feature drift (check drift_report:feature_drift): {len(failed)} of {len(stored)} judged days "
        f"drifted; {60 - len(stored)} of the 60 days not judged (warming up, or nothing to compare)."
    )
    assert [line.split()[0] for line in lines[1:]] == failed
    for line, day in zip(lines[1:], failed, strict=True):
        statistics = json.loads((folder / f"{day}.statistics.json").read_text())
        drifted = [f["feature"] for f in statistics["features"] if f["drifted"]]
        assert statistics["checks"]["feature_drift"]["status"] == "fail"
        shown = ", ".join(drifted[: demo.SHOWN_FEATURES])
        assert line.startswith(f"  {day}  {len(drifted)} features: {shown}")


def test_quarantine_counts_are_the_quarantined_tables(ran: dict) -> None:
    table = pl.read_parquet(ran["settings"].lakehouse_dir / "quarantined_transactions" / "**" / "*.parquet")
    lines = _section(ran["summary"], "Quarantined rows")
    # About 0.5 % of 60 x 150 rows are broken on purpose.
    assert 10 <= table.height <= 150
    assert lines[0] == f"Quarantined rows: {table.height}, by rule broken:"
    printed = {rule: int(rows) for rows, rule in (line.split(maxsplit=1) for line in lines[1:])}
    assert sum(printed.values()) == table.height
    # A rule counts its rows whatever its arguments (the day bounds differ per day).
    check_name = pl.col("failed_checks").str.replace(r"\(.*$", "")
    for rule, rows in printed.items():
        column, check = rule.split(": ", 1)
        assert table.filter((pl.col("failed_columns") == column) & (check_name == check)).height == rows, rule


def test_the_gate_decisions_and_reasons_are_mlflows(ran: dict) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(ran["settings"].mlflow_tracking_uri)
    versions = client.search_model_versions(f"name='{REGISTERED_MODEL_NAME}'")
    champion = client.get_model_version_by_alias(REGISTERED_MODEL_NAME, CHAMPION)
    lines = _section(ran["summary"], "Promotion gate")
    assert lines[1] == f"  champion: v{champion.version} ({champion.tags[FAMILY_TAG]})"
    assert sorted(v.tags[FAMILY_TAG] for v in versions) == ["lightgbm", "torch"]
    for version in versions:
        decision = version.tags["promotion_decision"]
        header = f"  candidate {version.tags[FAMILY_TAG]:<9} v{version.version}: {decision}"
        assert header in lines
        reasons = [*json.loads(version.tags.get("promotion_reasons", "[]"))]
        reasons += [version.tags["promotion_note"]] if "promotion_note" in version.tags else []
        assert reasons
        after = lines[lines.index(header) + 1 : lines.index(header) + 1 + len(reasons)]
        assert after == [f"    - {reason}" for reason in reasons]
    # The first model is promoted on the floors alone; the other family is not chosen, and says why.
    assert champion.tags["promotion_decision"] == "promoted_first_model"


def test_evidently_html_for_drifted_and_last_days_titled_with_day_and_model(ran: dict) -> None:
    folder, days = ran["settings"].reports_dir / "drift_report", ran["days"]
    stored = stored_check_results(ran["instance"], "drift_report", "feature_drift")
    failed = {day for day, passed in stored.items() if not passed}
    expected = sorted(failed | {d.isoformat() for d in days[-7:]})
    assert sorted(p.stem for p in folder.glob("*.html")) == expected
    assert min(failed) < days[-7].isoformat()  # a drifted day before the last 7 has its report too
    assert len(list(folder.glob("*.statistics.json"))) == 60
    for day in expected:
        model = json.loads((folder / f"{day}.statistics.json").read_text())["model"]
        title = re.search(r"<title>(.*?)</title>", (folder / f"{day}.html").read_text())
        assert title is not None, day
        assert title.group(1).startswith(f"Drift {day} | {model['name']} v{model['version']} | reference ")
    assert _section(ran["summary"], "Drift reports")[0] == (
        f"Drift reports in {folder}: statistics JSON for 60 days, Evidently HTML for {len(expected)} "
        "(the days feature_drift failed and the last 7)."
    )
    # A day without HTML says so in its stored metadata, with no path to a missing file.
    quiet = next(d for d in days if d.isoformat() not in expected)
    metadata = stored_metadata(ran["instance"], "drift_report", quiet)
    assert "report_html" not in metadata
    assert str(metadata["evidently"]).startswith("no Evidently HTML: ")


def test_the_summary_says_how_to_open_each_tool(ran: dict) -> None:
    lines = _section(ran["summary"], "Open the tools")
    assert "  Dagster (lineage, runs, per-day checks): `make ui`, then http://127.0.0.1:3000" in lines
    assert "  MLflow (runs, the registry, model cards): `make mlflow`, then http://127.0.0.1:5000" in lines
    assert any(line.startswith("  Online scoring on this state:             `make serve`") for line in lines)
    assert (
        f"  Evidently reports (HTML per day):        {ran['settings'].reports_dir / 'drift_report'}" in lines
    )


# --- the summary's pure parts, on hand-made values ------------------------------------------------


def test_drift_lines_list_failed_days_with_their_first_features() -> None:
    drift = [
        DriftDay("2026-11-01", True, "at most 4% of features drifted", ()),
        DriftDay("2026-11-02", False, "...", ("a", "b", "c", "d", "e", "f", "g")),
        DriftDay("2026-11-03", False, "...", ("country",)),
    ]
    assert demo.drift_lines(drift, 10) == [
        "\nFeature drift (check drift_report:feature_drift): 2 of 3 judged days drifted; 7 of the 10 days "
        "not judged (warming up, or nothing to compare).",
        "  2026-11-02  7 features: a, b, c, d, e and 2 more",
        "  2026-11-03  1 features: country",
    ]


def test_quarantine_lines_total_and_by_rule() -> None:
    by_rule = pl.DataFrame({"rule": ["amount_eur: greater_than", "country: str_matches"], "rows": [5, 2]})
    assert demo.quarantine_lines(by_rule) == [
        "\nQuarantined rows: 7, by rule broken:",
        "       5  amount_eur: greater_than",
        "       2  country: str_matches",
    ]
    assert demo.quarantine_lines(demo.quarantine_by_rule(Path("/nonexistent"))) == [
        "\nQuarantined rows: 0, by rule broken:"
    ]


def test_gate_lines_show_each_decision_with_its_reasons() -> None:
    decisions = [
        GateDecision("lightgbm", "3", "rejected", ("FAIL pr_auc_gain: +0.001 < 0.005",)),
        GateDecision("torch", "4", "not_chosen", ("not the best candidate",)),
    ]
    assert demo.gate_lines("fraud_detector (sqlite:///m.db)", "v1 (lightgbm)", decisions) == [
        "\nPromotion gate, registered model fraud_detector (sqlite:///m.db):",
        "  champion: v1 (lightgbm)",
        "  candidate lightgbm  v3: rejected",
        "    - FAIL pr_auc_gain: +0.001 < 0.005",
        "  candidate torch     v4: not_chosen",
        "    - not the best candidate",
    ]
    assert demo.gate_lines("m", None, [])[1] == "  champion: none"


def test_demo_window_is_the_complete_days_before_today() -> None:
    assert demo.demo_window(date(2026, 12, 1)) == (date(2026, 10, 2), date(2026, 12, 1))
    assert demo.demo_window(date(2026, 12, 1), days=3) == (date(2026, 11, 28), date(2026, 12, 1))
