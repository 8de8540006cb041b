"""Analysts query the lakehouse through DuckDB views while runs write, with no copy and no lock."""

from __future__ import annotations

from datetime import date

import dagster as dg
from shared_fixtures import land_days

from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
from mlops_assets.resources import connect_lakehouse


def test_views_read_the_partitions_in_place_and_see_rewrites(settings, resources, instance) -> None:
    land_days(settings, date(2026, 1, 1), 2, rows_per_day=100)
    assets = [raw_transactions, validated_and_quarantined_transactions]
    dg.materialize(assets, resources=resources, instance=instance, partition_key="2026-01-01")
    con = connect_lakehouse(settings.lakehouse_dir)
    assert con.sql("SELECT count(*) FROM validated_transactions").fetchall() == [(100,)]
    # A run writes while the analyst's connection stays open: no lock, and the view sees new partitions.
    dg.materialize(assets, resources=resources, instance=instance, partition_key="2026-01-02")
    by_day = con.sql(
        "SELECT date::VARCHAR, count(*) FROM validated_transactions GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert by_day == [("2026-01-01", 100), ("2026-01-02", 100)]
    tables = {r[0] for r in con.sql("SHOW TABLES").fetchall()}
    assert {"raw_transactions", "validated_transactions", "quarantined_transactions"} <= tables
