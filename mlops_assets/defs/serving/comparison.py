"""Champion against challenger on served traffic: agreement, correlation, decision flips, paired PR AUC.

The paired difference in PR AUC uses a paired bootstrap over the same transactions (both models scored
every one of them, so resampling rows keeps the pairing). The promotion gate has no bootstrap yet;
`paired_pr_auc_difference` is a plain function of (labels, score a, score b) so the gate's statistic
can replace it, or reuse it, without touching the asset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import numpy as np
import polars as pl

from mlops_assets.defs.serving.contract import (
    CHALLENGER_FLAG,
    CHALLENGER_SCORE,
    CHAMPION_FLAG,
    CHAMPION_SCORE,
)
from mlops_assets.domain import IS_FRAUD, LABEL_AVAILABLE_AT, TRANSACTION_ID

BOOTSTRAP_SAMPLES: Final[int] = 1000
MIN_LABELLED_POSITIVES: Final[int] = 5


@dataclass(frozen=True)
class ShadowSummary:
    """How the challenger's answers compare with the champion's on one day's served traffic."""

    requests: int
    shadow_scored: int
    shadow_errors: int
    agreement: float | None
    score_correlation: float | None
    flips_to_decline: int
    flips_to_approve: int
    mean_abs_score_diff: float | None

    def metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata (None stays None)."""
        return asdict(self)


def summarize_shadow(log: pl.DataFrame) -> ShadowSummary:
    """Agreement (same decision), Pearson correlation of scores, flips both ways, on rows with both scores."""
    both = log.filter(pl.col(CHALLENGER_SCORE).is_not_null())
    errors = int(log["shadow_error"].is_not_null().sum())
    if both.height == 0:
        return ShadowSummary(log.height, 0, errors, None, None, 0, 0, None)
    champion, challenger = both[CHAMPION_FLAG], both[CHALLENGER_FLAG]
    correlation = None
    if both.height >= 2 and both[CHAMPION_SCORE].std() and both[CHALLENGER_SCORE].std():
        correlation = float(
            np.corrcoef(both[CHAMPION_SCORE].to_numpy(), both[CHALLENGER_SCORE].to_numpy())[0, 1]
        )
    return ShadowSummary(
        requests=log.height,
        shadow_scored=both.height,
        shadow_errors=errors,
        agreement=float((champion == challenger).mean()),  # type: ignore[arg-type]
        score_correlation=correlation,
        flips_to_decline=int((~champion & challenger).sum()),
        flips_to_approve=int((champion & ~challenger).sum()),
        mean_abs_score_diff=float((both[CHAMPION_SCORE] - both[CHALLENGER_SCORE]).abs().mean()),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class PairedDifference:
    """PR AUC of challenger minus champion on the same rows, with a bootstrap confidence interval."""

    difference: float
    low: float
    high: float
    level: float
    rows: int
    positives: int


def paired_pr_auc_difference(
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    samples: int = BOOTSTRAP_SAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Challenger PR AUC minus champion PR AUC, and the percentile CI of a paired bootstrap.

    Resamples that draw no positive are redrawn by skipping them (PR AUC is undefined there).
    """
    from sklearn.metrics import average_precision_score  # ~1 s to import: only when labels are mature

    rng = np.random.default_rng(seed)
    n = len(y)
    diffs = []
    for _ in range(samples):
        idx = rng.integers(0, n, n)
        if not y[idx].any():
            continue
        diffs.append(
            average_precision_score(y[idx], challenger[idx]) - average_precision_score(y[idx], champion[idx])
        )
    point = float(average_precision_score(y, challenger) - average_precision_score(y, champion))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail]) if diffs else (float("nan"), float("nan"))
    return PairedDifference(point, float(low), float(high), level, n, int(y.sum()))


def mature_labels(
    log: pl.DataFrame, validated: pl.DataFrame | None, day: date, as_of: datetime, maturity_days: int
) -> tuple[pl.DataFrame | None, str]:
    """The shadow-scored rows joined with their labels known at `as_of`, or None and why not yet."""
    if day > (as_of - timedelta(days=maturity_days)).date():
        return None, (
            f"labels of {day} are not mature until {day + timedelta(days=maturity_days)} "
            f"({maturity_days} days; as of {as_of.date()})"
        )
    if validated is None:
        return None, f"no validated_transactions partition for {day}: labels unknown"
    labelled = log.filter(pl.col(CHALLENGER_SCORE).is_not_null()).join(
        validated.filter(pl.col(LABEL_AVAILABLE_AT) <= as_of).select(TRANSACTION_ID, IS_FRAUD),
        on=TRANSACTION_ID,
    )
    positives = int(labelled[IS_FRAUD].sum()) if labelled.height else 0
    if positives < MIN_LABELLED_POSITIVES:
        return (
            None,
            f"{positives} labelled frauds among the shadow-scored rows (at least {MIN_LABELLED_POSITIVES})",
        )
    return labelled, "mature"
