"""Label-free performance estimates: what precision, recall and PR AUC a day probably has, before labels.

Fraud labels arrive weeks late, so the realized PR AUC of a day is known only after
`LABEL_MATURITY_DAYS`. Confidence-based performance estimation (CBPE, as in NannyML) estimates it now:
with calibrated probabilities, each row is "fraud with probability p", so the expected confusion matrix
at the decision threshold is

- expected true positives = sum of p over the flagged rows, false positives = sum of (1 - p) over them,
- expected false negatives = sum of p over the rows not flagged,

and the expected precision-recall curve follows by ranking the rows by score. The calibration (scores to
probabilities) is an isotonic regression fitted at training time on the model's validation window
(`training.calibration`, stored on the model version): rows the model early-stopped on but never
fitted, so its scores there look like scores on new data.

**Its limit: it cannot see concept drift.** The estimate assumes that P(fraud | score) is what it was on
the validation window. Covariate drift (the inputs move) shows in the estimate; a change in what fraud
looks like (concept drift) leaves the scores, and therefore the estimate, where they were while the
realized PR AUC collapses. Only the realized metric, once labels mature, reveals that; the gap between
the two is itself the signal.

Hand-written because no pinned library does it: NannyML is not a dependency (and pins an old pandas),
Evidently 0.7 has no performance estimation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlops_assets.defs.training.calibration import Calibration


@dataclass(frozen=True)
class PerformanceEstimate:
    """Precision and recall at the decision threshold and PR AUC: expected, or realized from labels."""

    rows: int
    flagged: int
    positives: float  # expected frauds (estimate) or counted frauds (realized)
    precision: float
    recall: float
    pr_auc: float


def _ranked_average_precision(scores: np.ndarray, fraud: np.ndarray) -> float:
    """Average precision of `scores` against `fraud` (0/1 labels, or probabilities for the expectation)."""
    order = np.argsort(-scores, kind="stable")
    hits = fraud[order]
    total = hits.sum()
    if total <= 0:
        return float("nan")
    precision_at_rank = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(np.sum(precision_at_rank * hits) / total)


def _at_threshold(scores: np.ndarray, fraud: np.ndarray, threshold: float) -> PerformanceEstimate:
    flagged = scores >= threshold
    true_positives = float(fraud[flagged].sum())
    positives = float(fraud.sum())
    return PerformanceEstimate(
        rows=len(scores),
        flagged=int(flagged.sum()),
        positives=positives,
        precision=true_positives / flagged.sum() if flagged.any() else float("nan"),
        recall=true_positives / positives if positives > 0 else float("nan"),
        pr_auc=_ranked_average_precision(scores, fraud),
    )


def estimate_performance(
    scores: np.ndarray, calibration: Calibration, threshold: float
) -> PerformanceEstimate:
    """The expected confusion matrix at `threshold` and expected PR AUC, from scores alone (no labels)."""
    scores = np.asarray(scores, dtype=np.float64)
    return _at_threshold(scores, calibration.apply(scores), threshold)


def realized_performance(scores: np.ndarray, labels: np.ndarray, threshold: float) -> PerformanceEstimate:
    """The same metrics from the labels, once they have arrived, for comparison with the estimate."""
    scores = np.asarray(scores, dtype=np.float64)
    return _at_threshold(scores, np.asarray(labels, dtype=np.float64), threshold)
