import math
import time

import numpy as np
import polars as pl
import pytest

from mlops_assets.defs.training.evaluation import evaluate, measure_latency, recall_at_precision


def _frame(labels: list[int], countries: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"is_fraud": labels, "country": countries, "merchant_category": ["fuel"] * len(labels)}
    )


def test_recall_at_precision_exact():
    y = np.array([1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    # Thresholds: 0.8 keeps {1,1} (precision 1, recall 2/3); 0.6 keeps 3 of 4 (precision 0.75, recall 1).
    assert recall_at_precision(y, p, 0.9) == (pytest.approx(2 / 3), pytest.approx(0.8))
    assert recall_at_precision(y, p, 0.75) == (pytest.approx(1.0), pytest.approx(0.6))
    assert recall_at_precision(np.array([0, 1]), np.array([0.9, 0.1]), 0.9) == (0.0, 1.0)


def test_evaluate_exact_metrics_and_slices():
    labels = [1, 0, 1, 0, 0, 1, 0, 0]
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.6, 0.1, 0.05])
    frame = _frame(labels, ["DE", "DE", "DE", "DE", "FR", "FR", "FR", "FR"])
    result = evaluate(frame, scores, target_precision=0.9, min_slice_positives=1)
    assert result.rows == 8 and result.positives == 3
    # ROC AUC: 15 pos-neg pairs, ranked correctly except (0.7 vs 0.8) and (0.6 vs 0.8): 13/15.
    assert result.roc_auc == pytest.approx(13 / 15)
    # Average precision: positives at ranks 1, 3, 4 -> (1 + 2/3 + 3/4) / 3.
    assert result.pr_auc == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    expected_brier = np.mean((scores - np.array(labels)) ** 2)
    assert result.brier == pytest.approx(expected_brier)
    expected_ll = -np.mean(
        [math.log(s) if y else math.log(1 - s) for y, s in zip(labels, scores, strict=True)]
    )
    assert result.log_loss == pytest.approx(expected_ll)
    assert (result.recall_at_precision, result.threshold_at_precision) == (
        pytest.approx(1 / 3),
        pytest.approx(0.9),
    )
    # DE: positives at ranks 1 and 3 -> (1 + 2/3) / 2; FR: its only positive ranks first -> 1.
    # merchant_category=fuel is the whole frame: the overall PR AUC.
    assert result.slice_pr_auc == {
        "country=DE": pytest.approx(5 / 6),
        "country=FR": pytest.approx(1.0),
        "merchant_category=fuel": pytest.approx(result.pr_auc),
    }
    assert result.skipped_slices == []
    metrics = result.metrics("holdout")
    assert metrics["holdout_recall_at_p90"] == pytest.approx(1 / 3)
    assert metrics["holdout_pr_auc.country.DE"] == pytest.approx(5 / 6)
    assert result.slices_frame()["slice"].to_list() == ["merchant_category=fuel", "country=DE", "country=FR"]


def test_small_slices_are_skipped_not_dropped():
    frame = _frame([1, 0, 1, 0, 0, 0], ["DE", "DE", "DE", "FR", "FR", "FR"])
    result = evaluate(frame, np.array([0.9, 0.1, 0.8, 0.2, 0.3, 0.1]), min_slice_positives=2)
    assert "country=FR" in result.skipped_slices and "country=FR" not in result.slice_pr_auc
    assert result.slice_pr_auc["country=DE"] == pytest.approx(1.0)


def test_evaluate_refuses_one_class():
    with pytest.raises(ValueError, match="needs both classes"):
        evaluate(_frame([0, 0], ["DE", "DE"]), np.array([0.1, 0.2]))


def test_latency_measures_single_rows_and_batches():
    calls: list[int] = []

    def predict(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        time.sleep(0.001 if len(x) == 1 else 0.0)
        return np.zeros(len(x))

    latency = measure_latency(predict, np.zeros((500, 3), dtype=np.float32), single_rows=20, batch_rows=300)
    assert calls == [1] * 21 + [300]  # one warm-up, 20 timed single rows, one batch
    assert 1.0 <= latency.single_row_p50_ms <= latency.single_row_p99_ms
    assert latency.batch_rows == 300 and latency.batch_rows_per_s > 0
    assert set(latency.metrics()) == {
        "latency_single_row_p50_ms",
        "latency_single_row_p99_ms",
        "batch_rows_per_s",
    }
