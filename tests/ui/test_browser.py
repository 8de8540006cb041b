"""The Dagster UI driven the way a person uses it: headless Chromium (Debian's) through Playwright.

The webserver (tests/ui/conftest.py) serves the real workspace over a temporary instance with three landed
days. The tests look at the asset graph, launch one partition of raw_transactions from the asset page's
Materialize dialog, wait for the run to succeed, and read the metadata and checks the UI then shows.
Screenshots land in test-artifacts/ui/ (gitignored); the asset graph one is also the README's picture
(docs/ui-asset-graph.png, refreshed when missing or with MLOPS_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from mlops_assets.settings import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "ui-asset-graph.png"
# Generous: on a loaded 2-core CI machine a run's subprocess alone can take a minute to start. Every wait
# below is for a condition, so an idle machine never waits this long.
RUN_TIMEOUT_S = 300
UI_TIMEOUT_MS = 60_000  # actions and `expect` assertions (Playwright's own expect default is only 5 s)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless; a missing browser fails under CI=true and skips elsewhere."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is not installed (run `make browser`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context per test (no state shared through local storage)."""
    page = _new_page(browser)
    yield page
    page.context.close()


def _screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def _runs_for_partition(webserver: Any, partition: str) -> list[dict[str, Any]]:
    query = """
    query Runs($filter: RunsFilter) {
      runsOrError(filter: $filter) { ... on Runs { results { runId status assetSelection { path } } } }
    }"""
    variables = {"filter": {"tags": [{"key": "dagster/partition", "value": partition}]}}
    return webserver.graphql(query, variables)["runsOrError"]["results"]


def _expand_all_groups(page: Any) -> None:
    """Right-click the graph's background -> "Expand all groups" (retried: a popup may close the menu)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for _attempt in range(3):
        page.mouse.click(1500, 900, button="right")  # an empty corner of the graph canvas
        try:
            page.get_by_role("menuitem", name="Expand all groups").click(timeout=15_000)
            return
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    raise AssertionError("the asset graph's context menu never offered 'Expand all groups'")


def _label_shows(label: str, name: str) -> bool:
    """A node label shows the key's last part, middle-truncated when long ("vali…_transactions")."""
    if "…" not in label:
        return label == name
    head, _, tail = label.partition("…")
    return name.startswith(head) and name.endswith(tail)


def _wait_for_graph_nodes(page: Any, asset_keys: list[str], timeout_s: float = 90) -> list[str]:
    """The keys without a node in the graph once it has rendered (empty: all there)."""
    deadline = time.monotonic() + timeout_s
    while True:
        labels = page.locator("[class*='AssetNode_assetName']").all_inner_texts()
        missing = []
        for key in asset_keys:
            match = next((label for label in labels if _label_shows(label, key.split("/")[-1])), None)
            if match is None:
                missing.append(key)
            else:
                labels.remove(match)
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def test_asset_graph_shows_every_stage_of_the_lineage(
    page: Any, webserver: Any, expected_asset_keys: list[str]
) -> None:
    # First, or an empty key list would make "no node missing" pass without looking at the graph.
    assert {"raw_transactions", "validated_transactions"} <= set(expected_asset_keys)
    page.goto(f"{webserver.url}/asset-groups", wait_until="domcontentloaded")
    page.get_by_text("Global asset lineage").wait_for()
    # Groups (one per stage) start collapsed; the graph's context menu expands them all.
    page.get_by_text("ingestion", exact=True).first.wait_for()
    _expand_all_groups(page)
    missing = _wait_for_graph_nodes(page, expected_asset_keys)
    if missing:
        _screenshot(page, "failure-asset-graph")
    assert not missing, f"asset graph lacks nodes for {missing}"
    page.wait_for_timeout(500)  # only for the picture (edges finish drawing); asserts nothing
    path = _screenshot(page, "asset-graph")
    if not DOCS_SCREENSHOT.exists() or os.environ.get("MLOPS_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(path, DOCS_SCREENSHOT)


def _new_page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    # A first visit's newsletter prompt covers the page whenever it pops up: dismiss it, as a person would.
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda: page.get_by_role("button", name="Skip").click(),
    )
    return page


def _launch_partition_from_asset_page(
    page: Any, webserver: Any, asset: str, partition: str
) -> dict[str, Any]:
    """Asset page -> Materialize... -> type one partition -> Launch 1 run; the run once it has finished."""
    try:
        return _launch(page, webserver, asset, partition)
    except Exception:
        _screenshot(page, f"failure-launch-{asset}")  # what the person would have seen
        raise


def _launch(page: Any, webserver: Any, asset: str, partition: str) -> dict[str, Any]:
    page.goto(f"{webserver.url}/assets/{asset}", wait_until="domcontentloaded")
    page.get_by_role("button", name="Materialize…").click()
    title = page.get_by_text(re.compile(r"^Launch runs to materialize"))
    siblings = page.get_by_text("Additional assets will be materialized")
    title.or_(siblings).first.wait_for()
    if siblings.count():  # a multi-asset (validated + quarantined) asks to confirm its other outputs
        page.get_by_role("button", name="Confirm").click()
    title.wait_for()
    dialog = page.get_by_role("dialog")
    selection = dialog.locator("input[type=text]").first
    selection.fill(partition)
    selection.press("Enter")
    launch = dialog.get_by_role("button", name="Launch 1 run")  # exactly the one partition typed
    launch.wait_for()
    _screenshot(page, f"materialize-dialog-{asset}")
    launch.click()
    dialog.wait_for(state="hidden")

    deadline = time.monotonic() + RUN_TIMEOUT_S
    runs: list[dict[str, Any]] = []
    while True:
        runs = [
            r
            for r in _runs_for_partition(webserver, partition)
            if [asset] in [a["path"] for a in r["assetSelection"]]
        ]
        if runs and runs[0]["status"] in {"SUCCESS", "FAILURE", "CANCELED"}:
            break
        if time.monotonic() > deadline:
            state = runs[0]["status"] if runs else "no run launched"
            raise AssertionError(
                f"run of {asset} for partition {partition} not finished after {RUN_TIMEOUT_S}s ({state}):\n"
                f"{webserver.log_tail()}"
            )
        time.sleep(1)
    run = runs[0]
    # The person's view of the result: the run's own page says how it ended.
    page.goto(f"{webserver.url}/runs/{run['runId']}", wait_until="domcontentloaded")
    page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first.wait_for()
    _screenshot(page, f"run-{asset}")
    return run


@pytest.fixture(scope="module")
def launched_run(browser: Any, webserver: Any) -> dict[str, Any]:
    """One partition of raw_transactions, materialized from its asset page in the UI."""
    page = _new_page(browser)
    try:
        return _launch_partition_from_asset_page(
            page, webserver, "raw_transactions", webserver.landed_days[1]
        )
    finally:
        page.context.close()


def test_launching_one_partition_from_the_ui_succeeds(launched_run: dict[str, Any]) -> None:
    assert launched_run["status"] == "SUCCESS"
    assert launched_run["assetSelection"] == [{"path": ["raw_transactions"]}]


def test_asset_page_shows_metadata_of_the_materialization(
    page: Any, webserver: Any, launched_run: dict[str, Any]
) -> None:
    page.goto(f"{webserver.url}/assets/raw_transactions", wait_until="domcontentloaded")
    metadata = (
        page.get_by_role("heading", name="Metadata").or_(page.get_by_text("Metadata", exact=True)).first
    )
    metadata.wait_for()
    # Keys only the materialization's metadata shows (not `source_sha256`: the description names that
    # column too, so finding it proves nothing).
    for entry in ("partitions_in_run", "parse_errors", "bytes", "preview"):
        expect(page.get_by_text(entry, exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    # The status section: the latest materialization is the partition launched, with its row count.
    expect(page.get_by_text(webserver.landed_days[1], exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("Row count", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text(str(webserver.rows_per_day), exact=True).first).to_be_visible(
        timeout=UI_TIMEOUT_MS
    )
    _screenshot(page, "asset-metadata")


def test_asset_page_shows_check_results_after_a_ui_run(
    page: Any, webserver: Any, launched_run: dict[str, Any]
) -> None:
    run = _launch_partition_from_asset_page(
        page, webserver, "validated_transactions", webserver.landed_days[1]
    )
    assert run["status"] == "SUCCESS"
    page.goto(f"{webserver.url}/assets/validated_transactions?view=checks", wait_until="domcontentloaded")
    for check in ("schema_pass_rate", "volume_vs_trailing_days", "null_rates"):
        page.get_by_text(check, exact=True).first.wait_for()
    # Each check's row in the list shows its latest result, and the selected one its evaluation. The
    # volume check has no trailing day to compare this first validated day with: no result (skipped).
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(2, timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    _screenshot(page, "asset-checks")


DOCS_PARTITIONS_SCREENSHOT = REPO_ROOT / "docs" / "ui-partition-checks.png"


def test_partition_view_shows_each_days_check_result_of_a_ranged_run(
    page: Any, webserver: Any, launched_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 3-day single-run backfill with one bad day: the partition view shows which day failed."""
    import dagster as dg
    import polars as pl
    from dagster._core.instance.ref import InstanceRef

    from mlops_assets.defs.ingestion.assets import raw_transactions
    from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
    from mlops_assets.resources import build_resources
    from mlops_assets.settings import Settings

    bad = webserver.landed_days[2]
    landing = next((webserver.data_dir / "landing" / bad).glob("*.parquet"))
    frame = pl.read_parquet(landing)
    # A third of the day's amounts negative: its schema pass rate falls far below the 95 % threshold.
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(-1.0)
        .otherwise(pl.col("amount_eur"))
        .alias("amount_eur")
    ).write_parquet(landing)
    monkeypatch.setenv("DAGSTER_HOME", str(webserver.dagster_home))  # the instance's storage reads it
    settings = Settings(data_dir=webserver.data_dir, partitions_start=Settings.from_env().partitions_start)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(webserver.dagster_home))) as instance:
        result = dg.materialize(
            [raw_transactions, validated_and_quarantined_transactions],
            resources=build_resources(settings),
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": webserver.landed_days[0],
                "dagster/asset_partition_range_end": bad,
            },
            raise_on_error=False,
        )
    assert not result.success  # the blocking check failed the step, after storing every day's result
    by_day = {
        e.partition: e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == "schema_pass_rate"
    }
    assert by_day == {webserver.landed_days[0]: True, webserver.landed_days[1]: True, bad: False}

    # The partition view: the bad day's own materialization, with its own row count and pass rate.
    page.goto(f"{webserver.url}/assets/validated_transactions?view=partitions", wait_until="domcontentloaded")
    page.get_by_text(bad, exact=True).first.click()
    expect(page.get_by_text("0.665", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    _screenshot(page, "partition-metadata")
    # The check's partition view: which day passed and which failed.
    page.goto(f"{webserver.url}/assets/validated_transactions?view=checks", wait_until="domcontentloaded")
    page.get_by_text("schema_pass_rate", exact=True).first.click()
    page.get_by_text(f"{bad}: 66.50% of 200 raw rows pass the schema (threshold 95%)").wait_for()
    page.get_by_text("Partitions", exact=True).last.click()
    page.get_by_text(bad, exact=True).first.click()  # the failed day's evaluation beside the status bar
    page.get_by_text(f"{bad}: 66.50% of 200 raw rows pass the schema (threshold 95%)").first.wait_for()
    page.wait_for_timeout(1000)  # only for the picture (the status bar finishes rendering)
    path = _screenshot(page, "partition-checks")
    if not DOCS_PARTITIONS_SCREENSHOT.exists() or os.environ.get("MLOPS_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(path, DOCS_PARTITIONS_SCREENSHOT)
