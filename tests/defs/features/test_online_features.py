"""The Feast online store against the offline tables and the training dataset, on a real store in tmp_path."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
import polars as pl
import pytest
from feature_fixtures import START, materialized_metadata, range_tags, write_validated
from shared_fixtures import fail_or_skip

from mlops_assets.defs.features.assets import (
    customer_features,
    merchant_features,
    online_features,
    training_dataset,
)
from mlops_assets.feast_resource import FeastResource, redis_connection_string
from mlops_assets.feature_catalog import CUSTOMER_FEATURES, FEATURE_SERVICE_NAME, MERCHANT_FEATURES
from mlops_assets.resources import LakehouseResource
from mlops_assets.services import redis_service_from_url
from mlops_assets.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"
LAST = START + timedelta(days=2)


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


@pytest.fixture
def offline(settings: Settings, resources: dict, instance: dg.DagsterInstance) -> pl.DataFrame:
    """Three days of validated transactions with their feature tables materialized."""
    transactions = write_validated(settings, days=3)
    dg.materialize(
        [customer_features, merchant_features],
        resources=resources,
        instance=instance,
        tags=range_tags(START, LAST),
    )
    return transactions


@pytest.fixture(params=["sqlite", "redis"])
def feast(request: pytest.FixtureRequest, resources: dict) -> Iterator[FeastResource]:
    """The platform's Feast resource on SQLite, or on the local Redis under a throwaway project."""
    sqlite: FeastResource = resources["feast"]
    if request.param == "sqlite":
        yield sqlite
        return
    if not redis_available():
        fail_or_skip(f"no Redis at {REDIS_URL}")
    resource = FeastResource(
        repo_path=sqlite.repo_path,
        feast_dir=sqlite.feast_dir,
        lakehouse_dir=sqlite.lakehouse_dir,
        redis_url=REDIS_URL,
        project=f"test_{uuid.uuid4().hex[:10]}",
    )
    yield resource
    resource.feature_store().teardown()  # removes this project's keys from Redis


def latest_rows(lakehouse: LakehouseResource, table: str, key: str) -> dict[str, dict]:
    frame = lakehouse.scan_range(table, START, LAST + timedelta(days=1)).collect()  # type: ignore[union-attr]
    latest = frame.sort("event_timestamp", "transaction_id").group_by(key).last()
    return {row[key]: row for row in latest.iter_rows(named=True)}


def online_rows(feast: FeastResource, entity_rows: list[dict[str, str]]) -> list[dict]:
    store = feast.feature_store()
    response = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE_NAME), entity_rows=entity_rows
    ).to_dict()
    return [dict(zip(response, values, strict=True)) for values in zip(*response.values(), strict=True)]


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def mismatches(got: dict, expected: dict, names: tuple[str, ...]) -> list[str]:
    return [f"{n}: online {got[n]} != {expected[n]}" for n in names if not close(got[n], expected[n])]


def served(feast: FeastResource, key: str, ids: list[str], feature: str) -> set[str]:
    """The ids among `ids` for which the online store returns a value of `feature` (never null if served)."""
    other = "merchant_id" if key == "customer_id" else "customer_id"
    rows = online_rows(feast, [{key: i, other: "nobody"} for i in ids])
    return {row[key] for row in rows if row[feature] is not None}


def test_online_store_serves_every_entity_of_the_input_and_the_metadata_says_so(
    offline: pl.DataFrame, feast: FeastResource, resources: dict, instance: dg.DagsterInstance
) -> None:
    resources = {**resources, "feast": feast}
    result = dg.materialize(
        [online_features], resources=resources, instance=instance, tags=range_tags(START, LAST)
    )
    meta = materialized_metadata(result, "online_features")
    assert meta["online_store"] == feast.online_store_type
    # Independent of the lakehouse the asset counts from: the simulated input and what Feast returns.
    customers = sorted(set(offline["customer_id"]))
    merchants = sorted(set(offline["merchant_id"]))
    assert served(feast, "customer_id", [*customers, "c_unknown"], "cust_txn_count_30d") == set(customers)
    assert served(feast, "merchant_id", [*merchants, "m_unknown"], "merch_txn_count_7d") == set(merchants)
    assert meta["entities_written"] == {
        "customer_features": len(customers),
        "merchant_features": len(merchants),
    }
    # Each day's materialization counts that day's own rows and entities, not the run's.
    records = instance.fetch_materializations(dg.AssetKey("online_features"), limit=100).records
    stored = {r.partition_key: r.asset_materialization.metadata for r in records}
    daily = offline.group_by(pl.col("event_timestamp").dt.date().alias("day")).agg(
        pl.col("customer_id").n_unique().alias("customers"),
        pl.col("merchant_id").n_unique().alias("merchants"),
    )
    assert len(stored) == daily.height > 1
    for day, day_customers, day_merchants in daily.iter_rows():
        entities = stored[day.isoformat()]["entities_with_rows"].value
        assert entities == {"customer_features": day_customers, "merchant_features": day_merchants}
        assert stored[day.isoformat()]["dagster/row_count"].value == day_customers + day_merchants
    # The run's totals are said once, on its last day, not copied into every day as if they were its own.
    *earlier, last = sorted(stored)
    assert stored[last]["entities_written"].value == meta["entities_written"]
    assert not any("entities_written" in stored[day] for day in earlier)


def test_online_equals_offline_table_and_training_dataset(
    offline: pl.DataFrame, feast: FeastResource, resources: dict, instance: dg.DagsterInstance
) -> None:
    """Skew check of the materialization path: the online vector of an entity equals the training row of
    the entity's *last* transaction (features as of it, it included).

    It does not say the online vector is the model input of a new payment: that one must also include
    the payment itself (see the `online_features` docstring).
    """
    resources = {**resources, "feast": feast}
    dg.materialize([online_features], resources=resources, instance=instance, tags=range_tags(START, LAST))
    config = {"ops": {"training_dataset": {"config": {"label_cutoff": "2030-01-01T00:00:00"}}}}
    dg.materialize([training_dataset], resources=resources, instance=instance, run_config=config)
    lakehouse: LakehouseResource = resources["lakehouse"]
    training = {
        row["transaction_id"]: row for row in lakehouse.read_table("training_dataset").iter_rows(named=True)
    }
    customers = latest_rows(lakehouse, "customer_features", "customer_id")
    merchants = latest_rows(lakehouse, "merchant_features", "merchant_id")
    merchant_last_txn = {m: row["transaction_id"] for m, row in merchants.items()}

    sample = sorted(customers)[:: max(1, len(customers) // 40)]
    entity_rows = [
        {"customer_id": c, "merchant_id": training[customers[c]["transaction_id"]]["merchant_id"]}
        for c in sample
    ]
    problems: list[str] = []
    for entity, got in zip(entity_rows, online_rows(feast, entity_rows), strict=True):
        customer, merchant = entity["customer_id"], entity["merchant_id"]
        problems += mismatches(got, customers[customer], CUSTOMER_FEATURES)
        problems += mismatches(got, training[customers[customer]["transaction_id"]], CUSTOMER_FEATURES)
        problems += mismatches(got, merchants[merchant], MERCHANT_FEATURES)
        problems += mismatches(got, training[merchant_last_txn[merchant]], MERCHANT_FEATURES)
    assert len(entity_rows) >= 20
    assert not problems, problems[:10]


def test_unknown_entity_gets_feast_nulls(
    offline: pl.DataFrame, resources: dict, instance: dg.DagsterInstance
) -> None:
    dg.materialize([online_features], resources=resources, instance=instance, partition_key=LAST.isoformat())
    (row,) = online_rows(resources["feast"], [{"customer_id": "nobody", "merchant_id": "nowhere"}])
    assert row["customer_id"] == "nobody"
    assert all(row[name] is None for name in (*CUSTOMER_FEATURES, *MERCHANT_FEATURES))


def test_backfilling_an_older_day_does_not_overwrite_newer_online_values(
    offline: pl.DataFrame, feast: FeastResource, resources: dict, instance: dg.DagsterInstance
) -> None:
    resources = {**resources, "feast": feast}
    lakehouse: LakehouseResource = resources["lakehouse"]
    dg.materialize([online_features], resources=resources, instance=instance, partition_key=LAST.isoformat())
    older = dg.materialize(
        [online_features], resources=resources, instance=instance, partition_key=START.isoformat()
    )

    first_day = lakehouse.read_partition("customer_features", START)
    newest = latest_rows(lakehouse, "customer_features", "customer_id")
    # Customers active on the first day and again later: the first day's values are stale for them.
    stale = first_day.sort("event_timestamp").group_by("customer_id").last()
    moved_on = [
        c
        for c, ts in zip(stale["customer_id"], stale["event_timestamp"], strict=True)
        if newest[c]["event_timestamp"] > ts
    ][:30]
    assert len(moved_on) >= 10
    got = online_rows(feast, [{"customer_id": c, "merchant_id": "m00000"} for c in moved_on])
    problems = [
        p for c, row in zip(moved_on, got, strict=True) for p in mismatches(row, newest[c], CUSTOMER_FEATURES)
    ]
    assert not problems, problems[:10]
    assert materialized_metadata(older, "online_features")["extended_to_newer_materialization"] is True


def test_redis_url_becomes_a_feast_connection_string() -> None:
    assert redis_connection_string("redis://127.0.0.1:6379/0") == "127.0.0.1:6379,db=0"
    assert (
        redis_connection_string("rediss://:p%40ss@cache:6380/2") == "cache:6380,db=2,password=p@ss,ssl=true"
    )
    assert redis_connection_string("redis://cache") == "cache:6379"
    # Feast's own form, which the production preflight also accepts, is read by the same parser.
    assert (
        redis_connection_string("cache:6381,password=pw,db=3,ssl=true")
        == "cache:6381,db=3,password=pw,ssl=true"
    )
    url = "redis://:pw@cache.internal:6380/2"
    assert redis_connection_string(url).startswith(redis_service_from_url("preflight", url).address + ",")
    with pytest.raises(ValueError, match=r"MLOPS_REDIS_URL.*'http'"):
        redis_connection_string("http://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="MLOPS_REDIS_URL"):
        redis_connection_string("cache:port")
