"""`batch_predictions`: the champion scores validated partitions through `model_inputs`."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl
import pytest

from mlops_assets.defs.features.assets import customer_features, merchant_features
from mlops_assets.defs.features.model_inputs import model_inputs
from mlops_assets.defs.monitoring.predictions import batch_predictions, score_inputs, split_by_day
from mlops_assets.defs.training import registry
from mlops_assets.defs.training.data import SplitConfig, feature_matrix
from mlops_assets.defs.training.flow import train_and_register
from mlops_assets.defs.training.lightgbm_model import LightGBMParams
from mlops_assets.feature_catalog import ID_COLUMNS, MODEL_FEATURES
from mlops_assets.simulator import SimulationConfig, simulate_day

START = date(2025, 3, 1)
DAYS = 3
SCORED_AT = datetime(2025, 3, 5, tzinfo=UTC)


def _fake_model(features=MODEL_FEATURES, threshold: str = "0.5") -> registry.LoadedModel:
    def predict(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-np.nan_to_num(x[:, 0])))

    tags = {registry.THRESHOLD_TAG: threshold}
    return registry.LoadedModel("fraud_test", "7", "lightgbm", tuple(features), "run", tags, predict)


def _inputs(n: int = 4) -> pl.DataFrame:
    values = {f: [0.0] * n for f in MODEL_FEATURES}
    values[MODEL_FEATURES[0]] = [-2.0, 0.0, 2.0, None][:n]
    ids = {c: [f"{c}-{i}" for i in range(n)] for c in ("transaction_id", "customer_id", "merchant_id")}
    return pl.DataFrame({**ids, **values}, schema_overrides={f: pl.Float64 for f in MODEL_FEATURES})


def test_a_ranged_run_splits_its_scores_by_event_day_and_loses_none():
    at = [datetime(2025, 3, d, h, tzinfo=UTC) for d, h in ((1, 0), (3, 23), (1, 12))]
    scored = pl.DataFrame({"transaction_id": ["a", "b", "c"], "event_timestamp": at})
    days = [START + timedelta(days=i) for i in range(DAYS)]
    by_day = split_by_day(scored, days)
    assert {d: f["transaction_id"].to_list() for d, f in by_day.items()} == {
        date(2025, 3, 1): ["a", "c"],
        date(2025, 3, 2): [],
        date(2025, 3, 3): ["b"],
    }
    assert by_day[date(2025, 3, 2)].schema == scored.schema
    with pytest.raises(ValueError, match=r"event days outside the run: 2025-03-03: 1 rows"):
        split_by_day(scored, days[:2])


def test_score_inputs_adds_score_flag_and_model_columns():
    scored = score_inputs(_inputs(), _fake_model(threshold="0.6"), MODEL_FEATURES, SCORED_AT)
    assert scored.columns[-5:] == ["score", "is_flagged", "model_name", "model_version", "scored_at"]
    expected = [1 / (1 + np.exp(2)), 0.5, 1 / (1 + np.exp(-2)), 0.5]  # a null feature arrives as NaN
    np.testing.assert_allclose(scored["score"].to_numpy(), expected, rtol=1e-6)  # float32 inputs
    assert scored["is_flagged"].to_list() == [False, False, True, False]
    assert set(scored["model_name"]) == {"fraud_test"} and set(scored["model_version"]) == {"7"}
    assert scored["scored_at"].to_list() == [SCORED_AT] * 4


def test_score_inputs_refuses_other_features_naming_them():
    model = _fake_model(features=(*MODEL_FEATURES[:-1], "cust_legacy_score"))
    with pytest.raises(registry.FeatureMismatchError) as info:
        score_inputs(_inputs(), model, MODEL_FEATURES, SCORED_AT)
    assert "no longer computed: ['cust_legacy_score']" in str(info.value)
    assert f"does not know: ['{MODEL_FEATURES[-1]}']" in str(info.value)


def test_score_inputs_refuses_nan_and_infinite_features():
    broken = _inputs().with_columns(pl.Series(MODEL_FEATURES[1], [np.nan, np.inf, 0.0, np.inf]))
    with pytest.raises(
        ValueError, match=f"NaN or infinite feature values, refusing to score: {MODEL_FEATURES[1]}: 3 rows"
    ):
        score_inputs(broken, _fake_model(), MODEL_FEATURES, SCORED_AT)


def test_score_inputs_on_an_empty_day_keeps_the_schema():
    scored = score_inputs(_inputs().clear(), _fake_model(), MODEL_FEATURES, SCORED_AT)
    assert scored.height == 0 and scored.schema["score"] == pl.Float64


def _synthetic_training(features: tuple[str, ...], days: int = 10, rows: int = 300) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    n = days * rows
    x = rng.normal(size=(n, len(features)))
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 2 * x[:, 0])))).astype(np.int8)
    ts = pl.Series(
        [
            datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=int(s))
            for s in np.sort(rng.integers(0, days * 86400, n))
        ],
        dtype=pl.Datetime("us", "UTC"),
    )
    frame = pl.DataFrame({"event_timestamp": ts, "is_fraud": y, "country": ["DE"] * n})
    return frame.with_columns([pl.Series(f, x[:, i]) for i, f in enumerate(features)])


def _champion(store, name: str, features: tuple[str, ...]) -> str:
    outcome = train_and_register(
        _synthetic_training(features),
        "lightgbm",
        features,
        store,
        feature_service="test",
        split_config=SplitConfig(validation_days=2, holdout_days=2, min_rows=100, min_positives=5),
        params=LightGBMParams(max_rounds=20, num_leaves=7, min_data_in_leaf=20, num_threads=1),
        latency_rows=5,
        model_name=name,
    )
    store.client().set_registered_model_alias(name, registry.CHAMPION, outcome.version)
    return outcome.version


@pytest.fixture
def feature_partitions(settings, resources, instance) -> pl.DataFrame:
    """Three days of validated transactions and their feature partitions, materialized for real."""
    config = SimulationConfig(start=START, days=DAYS, rows_per_day=120)
    frames = []
    for i in range(DAYS):
        frame = simulate_day(START + timedelta(days=i), config)
        resources["lakehouse"].write_partition("validated_transactions", START + timedelta(days=i), frame)
        frames.append(frame)
    last = START + timedelta(days=DAYS - 1)
    result = dg.materialize(
        [customer_features, merchant_features],
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": START.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    assert result.success
    return pl.concat(frames)


def _run(resources, instance, model_name: str = "fraud_lightgbm") -> dg.ExecuteInProcessResult:
    last = START + timedelta(days=DAYS - 1)
    return dg.materialize(
        [batch_predictions],
        resources=resources,
        instance=instance,
        run_config={"ops": {"batch_predictions": {"config": {"model_name": model_name}}}},
        tags={
            "dagster/asset_partition_range_start": START.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
        raise_on_error=False,
    )


def _error(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    return (error.cause or error).message


def test_batch_predictions_end_to_end(resources, instance, feature_partitions):
    lakehouse, store = resources["lakehouse"], resources["mlflow"]

    # No champion yet: a clear failure, nothing written.
    no_champion = _run(resources, instance)
    assert not no_champion.success
    assert "fraud_lightgbm has no champion version yet" in _error(no_champion)
    assert not lakehouse.partition_path("batch_predictions", START).exists()

    version = _champion(store, "fraud_lightgbm", MODEL_FEATURES)
    result = _run(resources, instance)
    assert result.success
    events = result.get_asset_materialization_events()  # one per partition of the single run
    assert sorted(e.partition for e in events) == ["2025-03-01", "2025-03-02", "2025-03-03"]
    for event in events:  # each day carries its own row count, not the run's total
        metadata = {k: v.value for k, v in event.materialization.metadata.items()}
        day_rows = feature_partitions.filter(
            pl.col("event_timestamp").dt.date().cast(pl.String) == event.partition
        )
        assert metadata["dagster/row_count"] == day_rows.height
        assert (metadata["model_name"], metadata["model_version"]) == ("fraud_lightgbm", version)
    champion = registry.load_champion(store.client(), "fraud_lightgbm")
    for i in range(DAYS):
        day = START + timedelta(days=i)
        scored = lakehouse.read_partition("batch_predictions", day)
        inputs = model_inputs(lakehouse, day, day + timedelta(days=1))
        assert scored.columns[: len(ID_COLUMNS) + len(MODEL_FEATURES)] == [*ID_COLUMNS, *MODEL_FEATURES]
        assert scored["transaction_id"].to_list() == inputs["transaction_id"].to_list()
        np.testing.assert_allclose(
            scored["score"].to_numpy(), champion.predict(feature_matrix(inputs, MODEL_FEATURES))
        )
        assert set(scored["model_version"]) == {version} and set(scored["model_name"]) == {"fraud_lightgbm"}
        assert (scored["event_timestamp"].dt.date() == day).all()


def test_champion_with_other_features_is_refused(resources, instance, feature_partitions):
    legacy = (*MODEL_FEATURES[:-1], "cust_legacy_score")
    _champion(resources["mlflow"], "fraud_legacy", legacy)
    result = _run(resources, instance, model_name="fraud_legacy")
    assert not result.success
    message = _error(result)
    assert "champion fraud_legacy v1 was trained on a different feature list" in message
    assert "no longer computed: ['cust_legacy_score']" in message
    assert f"does not know: ['{MODEL_FEATURES[-1]}']" in message
    assert not resources["lakehouse"].partition_path("batch_predictions", START).exists()


@pytest.mark.slow
def test_lineage_from_landing_files_to_batch_predictions(settings, resources, instance):
    """raw -> validated -> features -> training_dataset -> fraud_model -> promotion -> batch_predictions."""
    from mlops_assets.defs.features.assets import training_dataset
    from mlops_assets.defs.ingestion.assets import raw_transactions
    from mlops_assets.defs.training.assets import fraud_model, model_promotion
    from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
    from mlops_assets.simulator import write_days

    days = 14
    last = START + timedelta(days=days - 1)
    write_days(SimulationConfig(start=START, days=days, rows_per_day=300), settings.data_dir)
    day_range = {
        "dagster/asset_partition_range_start": START.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }
    upstream = dg.materialize(
        [raw_transactions, validated_and_quarantined_transactions, customer_features, merchant_features],
        resources=resources,
        instance=instance,
        tags=day_range,
    )
    assert upstream.success
    training = dg.materialize(
        [training_dataset, fraud_model, model_promotion],
        selection=["training_dataset", "fraud_model/lightgbm", "model_promotion"],
        resources=resources,
        instance=instance,
        run_config={
            "ops": {
                # Every label, even those that arrive after the window: enough fraud rows for a tiny model.
                "training_dataset": {"config": {"label_cutoff": "2026-01-01T00:00:00+00:00"}},
                "fraud_model": {
                    "config": {
                        "validation_days": 3,
                        "holdout_days": 3,
                        "min_rows": 500,
                        "min_positives": 10,
                        "lightgbm_max_rounds": 30,
                        "num_threads": 1,
                    }
                },
                "model_promotion": {"config": {"min_pr_auc": 0.0, "min_roc_auc": 0.0}},
            }
        },
    )
    assert training.success
    promotion = next(
        e
        for e in training.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("model_promotion")
    )
    assert promotion.materialization.metadata["champion_version"].value == "1"

    scored = dg.materialize([batch_predictions], resources=resources, instance=instance, tags=day_range)
    assert scored.success
    predictions = (
        resources["lakehouse"].scan_range("batch_predictions", START, last + timedelta(days=1)).collect()
    )
    validated = (
        resources["lakehouse"].scan_range("validated_transactions", START, last + timedelta(days=1)).collect()
    )
    assert sorted(predictions["transaction_id"]) == sorted(validated["transaction_id"])
    assert set(predictions["model_version"]) == {"1"}
    assert predictions["score"].is_between(0, 1).all()
