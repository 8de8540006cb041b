"""Model performance once delayed labels arrive: PR AUC on the rows whose label is known as of a time.

A transaction's `is_fraud` may only be used from its `label_available_at` on (chargebacks take weeks).
So performance is measured over a trailing window of scored days, on the rows labelled as of the
evaluation time, and only when enough of the window is labelled: otherwise the verdict is `pending`,
never `pass` (an unlabelled day says nothing about the model).

Fraud labels arrive later than genuine ones, so an early measurement sees fewer positives than the
final one; the coverage floor (`min_label_coverage`) keeps such biased measurements out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import numpy as np
import polars as pl

LABEL_COLUMN: Final[str] = "is_fraud"
LABEL_AVAILABLE_COLUMN: Final[str] = "label_available_at"

PerformanceStatus = Literal["pass", "fail", "pending"]


@dataclass(frozen=True)
class PerformanceConfig:
    """How much labelled evidence a verdict needs, and how large a drop fails it."""

    window_days: int = 14
    min_label_coverage: float = 0.9
    min_positives: int = 10
    tolerance: float = 0.1  # absolute PR AUC drop below the baseline that fails the check


@dataclass(frozen=True)
class PerformanceResult:
    """PR AUC over the labelled rows of a window, and whether it can be trusted yet."""

    rows: int
    labelled_rows: int
    positives: int
    pr_auc: float | None
    status: PerformanceStatus
    reason: str
    baseline_pr_auc: float | None = None

    @property
    def label_coverage(self) -> float:
        """Share of the window's rows whose label has arrived."""
        return self.labelled_rows / self.rows if self.rows else 0.0

    def metadata(self) -> dict[str, object]:
        """Plain values for the check's metadata."""
        return {
            "status": self.status,
            "reason": self.reason,
            "pr_auc": self.pr_auc,
            "baseline_pr_auc": self.baseline_pr_auc,
            "rows": self.rows,
            "labelled_rows": self.labelled_rows,
            "label_coverage": round(self.label_coverage, 4),
            "positives": self.positives,
        }


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR AUC as average precision, equal to `sklearn.metrics.average_precision_score` (ties grouped).

    NaN when there is no positive (precision-recall is undefined without one).
    """
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    positives = labels.sum()
    if labels.size == 0 or positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order]
    # The last index of each run of equal scores: one threshold per distinct score.
    last_of_run = np.flatnonzero(np.diff(sorted_scores, append=-np.inf) != 0)
    true_positives = np.cumsum(sorted_labels)[last_of_run]
    predicted_positives = last_of_run + 1
    precision = true_positives / predicted_positives
    recall = true_positives / positives
    recall_steps = np.diff(recall, prepend=0.0)
    return float(np.sum(recall_steps * precision))


def labelled_as_of(frame: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Rows whose label has arrived by `as_of` (a label is not data before it exists)."""
    return frame.filter(
        pl.col(LABEL_COLUMN).is_not_null() & (pl.col(LABEL_AVAILABLE_COLUMN) <= pl.lit(as_of))
    )


def evaluate_performance(
    scored: pl.DataFrame,
    as_of: datetime,
    score_column: str,
    baseline_pr_auc: float | None,
    config: PerformanceConfig | None = None,
) -> PerformanceResult:
    """PR AUC of `score_column` on the rows labelled by `as_of`, judged against the baseline.

    `pending` when the labels have not arrived (coverage or positives below the floors) or there is
    no baseline to compare with; `fail` when PR AUC fell more than `tolerance` below the baseline.
    """
    config = config or PerformanceConfig()
    rows = scored.height
    labelled = labelled_as_of(scored, as_of) if rows else scored
    positives = int(labelled[LABEL_COLUMN].sum()) if labelled.height else 0
    pr_auc = (
        average_precision(labelled[LABEL_COLUMN].to_numpy(), labelled[score_column].to_numpy())
        if positives
        else float("nan")
    )
    measured = None if np.isnan(pr_auc) else round(pr_auc, 6)

    def result(status: PerformanceStatus, reason: str) -> PerformanceResult:
        return PerformanceResult(
            rows=rows,
            labelled_rows=labelled.height,
            positives=positives,
            pr_auc=measured,
            status=status,
            reason=reason,
            baseline_pr_auc=baseline_pr_auc,
        )

    as_of_text = as_of.isoformat(timespec="seconds")
    if rows == 0:
        return result("pending", "no scored rows in the window")
    coverage = labelled.height / rows
    if coverage < config.min_label_coverage:
        return result(
            "pending",
            f"labels not yet arrived: {labelled.height} of {rows} rows labelled as of "
            f"{as_of_text} ({coverage:.0%} < {config.min_label_coverage:.0%})",
        )
    if positives < config.min_positives:
        return result(
            "pending",
            f"{positives} labelled frauds as of {as_of_text}; at least "
            f"{config.min_positives} are needed for a stable PR AUC",
        )
    if baseline_pr_auc is None:
        return result(
            "pending", f"PR AUC {pr_auc:.3f} measured, but the model has no baseline PR AUC to compare"
        )
    drop = baseline_pr_auc - pr_auc
    if drop > config.tolerance:
        return result(
            "fail",
            f"PR AUC {pr_auc:.3f} is {drop:.3f} below the baseline {baseline_pr_auc:.3f} "
            f"(tolerance {config.tolerance})",
        )
    return result(
        "pass",
        f"PR AUC {pr_auc:.3f} vs baseline {baseline_pr_auc:.3f} (drop {drop:.3f} <= {config.tolerance})",
    )
