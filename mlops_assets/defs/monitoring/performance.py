"""Model performance once delayed labels arrive: PR AUC on the rows whose label is known as of a time.

A transaction's `is_fraud` may only be used from its `label_available_at` on (chargebacks take weeks).
Fraud labels arrive later than genuine ones: three days after a payment about 97 % of rows carry a
label but only about 65 % of the frauds do, so a share of labelled *rows* says little about whether
the frauds are in. Performance is therefore judged only on scored days that are at least
`LABEL_MATURITY_DAYS` old as of the evaluation instant (by then about 95 % of fraud labels have
arrived); rows of younger days are left out, and a window with no mature day is `pending`, never
`pass` (an unlabelled day says nothing about the model). On the mature rows, `min_label_coverage`
guards against a label feed that stopped altogether, and `min_positives` against a PR AUC measured on
a handful of frauds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import polars as pl

from mlops_assets.defs.features.dataset import day_start, labelled_as_of
from mlops_assets.domain import EVENT_TIMESTAMP, IS_FRAUD, LABEL_MATURITY_DAYS

PerformanceStatus = Literal["pass", "fail", "pending"]


@dataclass(frozen=True)
class PerformanceConfig:
    """How much labelled evidence a verdict needs, and how large a drop fails it."""

    window_days: int = 14
    min_label_coverage: float = 0.9  # of the mature rows: catches a label feed that stopped
    min_positives: int = 10
    tolerance: float = 0.1  # absolute PR AUC drop below the baseline that fails the check
    label_maturity_days: int = LABEL_MATURITY_DAYS


@dataclass(frozen=True)
class PerformanceResult:
    """PR AUC over the labelled rows of the mature days of a window, and whether it can be trusted yet."""

    rows: int
    labelled_rows: int
    positives: int
    pr_auc: float | None
    status: PerformanceStatus
    reason: str
    baseline_pr_auc: float | None = None
    immature_rows: int = 0
    window: tuple[date, date] | None = None  # first and last mature day judged

    @property
    def label_coverage(self) -> float:
        """Share of the judged (mature) rows whose label has arrived."""
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
            "immature_rows": self.immature_rows,
            "window": f"{self.window[0]}..{self.window[1]}" if self.window else None,
        }


def last_mature_day(as_of: datetime, maturity_days: int = LABEL_MATURITY_DAYS) -> date:
    """The newest day whose every payment is at least `maturity_days` old at `as_of`."""
    return (as_of - timedelta(days=maturity_days)).date() - timedelta(days=1)


def evaluate_performance(
    scored: pl.DataFrame,
    as_of: datetime,
    score_column: str,
    baseline_pr_auc: float | None,
    config: PerformanceConfig | None = None,
) -> PerformanceResult:
    """PR AUC of `score_column` on the mature days' rows labelled by `as_of`, judged against the baseline.

    `pending` when no scored day is mature yet, when the labels have not arrived (coverage or positives
    below the floors) or there is no baseline to compare with; `fail` when PR AUC fell more than
    `tolerance` below the baseline.
    """
    from sklearn.metrics import average_precision_score  # lazily: keeps the code location's load fast

    config = config or PerformanceConfig()
    if scored.height == 0:
        return PerformanceResult(0, 0, 0, None, "pending", "no scored rows in the window", baseline_pr_auc)
    newest = last_mature_day(as_of, config.label_maturity_days)
    mature = scored.filter(pl.col(EVENT_TIMESTAMP) < day_start(newest + timedelta(days=1)))
    immature_rows = scored.height - mature.height
    rows = mature.height
    labelled = labelled_as_of(mature, as_of)
    positives = int(labelled[IS_FRAUD].sum()) if labelled.height else 0
    pr_auc = (
        float(average_precision_score(labelled[IS_FRAUD].to_numpy(), labelled[score_column].to_numpy()))
        if positives
        else None
    )
    measured = None if pr_auc is None else round(pr_auc, 6)
    days = mature[EVENT_TIMESTAMP].dt.date()
    window: tuple[date, date] | None = (days.min(), days.max()) if rows else None  # type: ignore[assignment]

    def result(status: PerformanceStatus, reason: str) -> PerformanceResult:
        return PerformanceResult(
            rows=rows,
            labelled_rows=labelled.height,
            positives=positives,
            pr_auc=measured,
            status=status,
            reason=reason,
            baseline_pr_auc=baseline_pr_auc,
            immature_rows=immature_rows,
            window=window,
        )

    as_of_text = as_of.isoformat(timespec="seconds")
    if rows == 0:
        return result(
            "pending",
            f"labels immature: none of the {immature_rows} scored rows is from a day at least "
            f"{config.label_maturity_days} days old as of {as_of_text} (newest mature day {newest})",
        )
    coverage = labelled.height / rows
    if coverage < config.min_label_coverage:
        return result(
            "pending",
            f"labels not yet arrived: {labelled.height} of {rows} rows of mature days labelled as of "
            f"{as_of_text} ({coverage:.0%} < {config.min_label_coverage:.0%})",
        )
    if positives < config.min_positives:
        return result(
            "pending",
            f"{positives} labelled frauds as of {as_of_text}; at least "
            f"{config.min_positives} are needed for a stable PR AUC",
        )
    assert pr_auc is not None  # positives > 0
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
