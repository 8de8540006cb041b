"""The paired cluster bootstrap: weighted metrics equal sklearn's, and intervals behave as they must."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from mlops_assets.defs.training.bootstrap import paired_bootstrap, weighted_metrics


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_metrics_equal_sklearn_with_sample_weights(ties: bool) -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(2_000) < 0.1).astype(np.int8)
    scores = labels * 0.8 + rng.random(2_000)
    if ties:  # coarse scores, as a small tree ensemble gives
        scores = np.round(scores, 1)
    weights = rng.integers(0, 4, size=2_000).astype(float)
    pr, roc = weighted_metrics(labels, scores, weights)
    assert pr == pytest.approx(average_precision_score(labels, scores, sample_weight=weights), abs=1e-12)
    assert roc == pytest.approx(roc_auc_score(labels, scores, sample_weight=weights), abs=1e-12)


def _rows(n: int, fraud_rate: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < fraud_rate).astype(np.int8)
    clusters = rng.integers(0, n // 4, size=n)
    good = labels * 1.5 + rng.normal(size=n)
    return labels, clusters, good


def test_identical_models_have_a_zero_width_interval() -> None:
    labels, clusters, good = _rows(3_000, 0.05, 0)
    result = paired_bootstrap(labels, clusters, good, good.copy(), replicates=200)
    assert (result.pr_auc_gain.low, result.pr_auc_gain.point, result.pr_auc_gain.high) == (0.0, 0.0, 0.0)
    assert result.roc_auc_gain.point == 0.0
    assert (result.rows, result.positives) == (3_000, int(labels.sum()))


def test_clearly_better_model_has_an_interval_above_zero_and_a_seeded_result() -> None:
    labels, clusters, good = _rows(20_000, 0.02, 1)
    weak = good + np.random.default_rng(9).normal(scale=2.0, size=len(good))
    result = paired_bootstrap(labels, clusters, good, weak, confidence=0.95, replicates=300, seed=4)
    pr, roc = result.pr_auc_gain, result.roc_auc_gain
    assert pr.low > 0.05 and pr.low < pr.point < pr.high
    assert roc.low > 0.0
    again = paired_bootstrap(labels, clusters, good, weak, confidence=0.95, replicates=300, seed=4)
    assert again == result
    narrower = paired_bootstrap(labels, clusters, good, weak, confidence=0.5, replicates=300, seed=4)
    assert pr.low < narrower.pr_auc_gain.low < narrower.pr_auc_gain.high < pr.high


def test_a_small_holdout_gives_a_wide_interval_around_a_small_gain() -> None:
    labels, clusters, good = _rows(400, 0.05, 2)
    nudged = good + np.random.default_rng(5).normal(scale=0.3, size=len(good))
    result = paired_bootstrap(labels, clusters, good, nudged, replicates=500)
    assert result.pr_auc_gain.low < 0.0 < result.pr_auc_gain.high
    assert result.pr_auc_gain.high - result.pr_auc_gain.low > 0.02


def test_mismatched_lengths_and_levels_are_refused() -> None:
    labels, clusters, good = _rows(100, 0.1, 3)
    with pytest.raises(ValueError, match="one entry per row"):
        paired_bootstrap(labels, clusters[:-1], good, good)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap(labels, clusters, good, good, confidence=95)
