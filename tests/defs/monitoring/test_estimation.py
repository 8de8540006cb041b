"""Label-free performance estimates: exact on a hand-made case; close to the realized metric on simulated
data without concept drift; blind to concept drift (the documented limit), measured on the same data."""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from shared_fixtures import rows_between_days, simulated_model_inputs

from mlops_assets.defs.monitoring.estimation import estimate_performance, realized_performance
from mlops_assets.defs.training.calibration import Calibration, fit_calibration
from mlops_assets.defs.training.data import feature_matrix, labels
from mlops_assets.defs.training.evaluation import evaluate
from mlops_assets.defs.training.lightgbm_model import LightGBMParams, train_lightgbm
from mlops_assets.feature_catalog import MODEL_FEATURES
from mlops_assets.simulator import SimulationConfig

# Stated tolerances: on six days without concept drift (about 90 frauds), the estimate is within
# ESTIMATE_TOLERANCE of the realized value (absolute); precision and recall at the decision threshold
# within RATE_TOLERANCE.
ESTIMATE_TOLERANCE = 0.1
RATE_TOLERANCE = 0.15
START = date(2025, 1, 1)
CONFIG = SimulationConfig(
    start=START,
    days=90,
    rows_per_day=1000,
    drift_start=START + timedelta(days=60),
    drift_kinds=("concept",),
)


def test_expected_confusion_matrix_and_pr_auc_on_a_hand_made_case():
    identity = Calibration((0.0, 1.0), (0.0, 1.0))
    estimate = estimate_performance(np.array([0.9, 0.8, 0.3, 0.1]), identity, threshold=0.5)
    assert (estimate.rows, estimate.flagged) == (4, 2)
    assert estimate.positives == pytest.approx(2.1)
    assert estimate.precision == pytest.approx(1.7 / 2)
    assert estimate.recall == pytest.approx(1.7 / 2.1)
    # Expected precision at each rank (0.9, 0.85, 0.6667, 0.525) weighted by each row's fraud probability.
    assert estimate.pr_auc == pytest.approx((0.9 * 0.9 + 0.85 * 0.8 + 2 / 3 * 0.3 + 0.525 * 0.1) / 2.1)
    realized = realized_performance(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 0, 1, 0]), 0.5)
    assert (realized.precision, realized.recall, realized.pr_auc) == (
        0.5,
        0.5,
        pytest.approx((1 + 2 / 3) / 2),
    )


def test_calibration_is_monotone_bounded_and_survives_its_tag():
    rng = np.random.default_rng(0)
    scores = rng.random(5_000)
    fraud = (rng.random(5_000) < scores**3).astype(int)
    calibration = fit_calibration(scores, fraud)
    assert len(calibration.scores) <= 100
    probabilities = calibration.apply(np.linspace(-1, 2, 50))
    assert np.all(np.diff(probabilities) >= 0) and probabilities.min() >= 0 and probabilities.max() <= 1
    assert calibration.apply(np.array([0.5]))[0] == pytest.approx(0.125, abs=0.05)
    assert Calibration.from_json(calibration.to_json()).apply(scores) == pytest.approx(
        calibration.apply(scores), abs=1e-3
    )
    with pytest.raises(ValueError, match="both fraud and genuine"):
        fit_calibration(scores, np.zeros(5_000))


@pytest.fixture(scope="module")
def dataset() -> pl.DataFrame:
    return simulated_model_inputs(CONFIG)


def _days(frame: pl.DataFrame, first: int, last: int) -> pl.DataFrame:
    return rows_between_days(frame, START, first, last)


def test_estimate_tracks_the_realized_metric_without_concept_drift_and_misses_concept_drift(dataset):
    train, valid = _days(dataset, 30, 49), _days(dataset, 50, 53)
    model = train_lightgbm(
        feature_matrix(train, MODEL_FEATURES), labels(train), feature_matrix(valid, MODEL_FEATURES),
        labels(valid), MODEL_FEATURES, LightGBMParams(num_threads=1, max_rounds=300),
    )  # fmt: skip
    valid_scores = model.predict(feature_matrix(valid, MODEL_FEATURES))
    calibration = fit_calibration(valid_scores, labels(valid))
    threshold = evaluate(valid, valid_scores).threshold_at_precision

    def both(first: int, last: int):
        days = _days(dataset, first, last)
        scores = model.predict(feature_matrix(days, MODEL_FEATURES))
        return estimate_performance(scores, calibration, threshold), realized_performance(
            scores, labels(days), threshold
        )

    estimate, realized = both(54, 59)  # no drift: the days right after validation
    assert abs(estimate.pr_auc - realized.pr_auc) <= ESTIMATE_TOLERANCE
    assert abs(estimate.precision - realized.precision) <= RATE_TOLERANCE
    assert abs(estimate.recall - realized.recall) <= RATE_TOLERANCE
    assert estimate.positives == pytest.approx(realized.positives, rel=0.3)

    # Concept drift: the old kind of attack disappears, so fewer rows score high and the estimate falls
    # (measured 0.52 -> 0.19); but it still reads P(fraud | score) from before the drift, while the new
    # fraud scores low: the realized PR AUC is at chance (0.011). The estimate cannot see that part.
    estimate, realized = both(60, 89)
    assert realized.pr_auc < 0.03
    assert estimate.pr_auc > 10 * realized.pr_auc and estimate.pr_auc - realized.pr_auc > 0.1
