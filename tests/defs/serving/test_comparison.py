"""Pure functions of the serving assets: shadow summary, paired PR AUC, label maturity, parity."""

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from mlops_assets.defs.serving.comparison import mature_labels, paired_pr_auc_difference, summarize_shadow
from mlops_assets.defs.serving.parity import feature_parity, score_parity

DAY = date(2025, 3, 14)


def _log(champion: list[float], challenger: list[float | None], threshold: float = 0.5) -> pl.DataFrame:
    n = len(champion)
    return pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "champion_score": champion,
            "champion_flagged": [s >= threshold for s in champion],
            "challenger_score": challenger,
            "challenger_flagged": [None if s is None else s >= threshold for s in challenger],
            "shadow_error": [None if s is not None else "boom" for s in challenger],
        },
        schema_overrides={
            "challenger_score": pl.Float64,
            "challenger_flagged": pl.Boolean,
            "shadow_error": pl.String,
        },
    )


def test_summarize_shadow_counts_agreement_flips_and_errors():
    summary = summarize_shadow(_log([0.1, 0.6, 0.7, 0.2, 0.9], [0.2, 0.4, 0.8, 0.6, None]))
    assert (summary.requests, summary.shadow_scored, summary.shadow_errors) == (5, 4, 1)
    assert summary.agreement == 0.5  # t0 and t2 agree; t1 flips to approve, t3 to decline
    assert (summary.flips_to_decline, summary.flips_to_approve) == (1, 1)
    assert summary.mean_abs_score_diff == pytest.approx((0.1 + 0.2 + 0.1 + 0.4) / 4)
    assert summary.score_correlation == pytest.approx(
        np.corrcoef([0.1, 0.6, 0.7, 0.2], [0.2, 0.4, 0.8, 0.6])[0, 1]
    )


def test_summarize_shadow_without_a_challenger():
    summary = summarize_shadow(_log([0.1, 0.6], [None, None]))
    assert summary.shadow_scored == 0 and summary.agreement is None and summary.score_correlation is None


def test_paired_difference_of_identical_models_is_zero_and_a_better_model_wins():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.2).astype(int)
    noise = rng.random(400)
    same = paired_pr_auc_difference(y, noise, noise, samples=200)
    assert same.difference == 0.0 and same.low == 0.0 and same.high == 0.0
    better = paired_pr_auc_difference(y, noise, y * 0.5 + noise * 0.5, samples=200)
    assert better.low > 0 and better.low <= better.difference <= better.high
    assert (better.rows, better.positives) == (400, int(y.sum()))


def test_mature_labels_waits_for_maturity_and_enough_frauds():
    log = _log([0.1] * 6, [0.2] * 6)
    validated = pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(6)],
            "is_fraud": [1, 1, 1, 1, 1, 0],
            "label_available_at": [datetime(2025, 3, 20, tzinfo=UTC)] * 5
            + [datetime(2025, 5, 1, tzinfo=UTC)],
        }
    )
    young = datetime(2025, 3, 20, tzinfo=UTC)
    frame, reason = mature_labels(log, validated, DAY, young, 16)
    assert frame is None and "not mature until 2025-03-30" in reason
    as_of = datetime(2025, 4, 1, tzinfo=UTC)
    frame, reason = mature_labels(log, validated, DAY, as_of, 16)
    assert reason == "mature" and frame is not None and frame.height == 5  # t5's label is not there yet
    frame, reason = mature_labels(log, validated.head(4), DAY, as_of, 16)
    assert frame is None and reason.startswith("4 labelled frauds")
    assert mature_labels(log, None, DAY, as_of, 16)[1].startswith("no validated_transactions partition")


def test_feature_parity_counts_mismatches_nulls_and_tolerance():
    batch = pl.DataFrame({"transaction_id": ["a", "b", "c"], "f": [1.0, None, 3.0], "g": [1.0, 2.0, 3.0]})
    served = pl.DataFrame(
        {
            "transaction_id": ["a", "b", "c", "d"],
            "f": [1.0 + 1e-12, None, 3.5, 0.0],
            "g": [1.0, 2.0, None, 0.0],
        }
    )
    table = feature_parity(served, batch, ["f", "g"], exact=["g"])
    rows = {r["feature"]: r for r in table.to_dicts()}
    assert rows["f"] == {
        "feature": "f",
        "claimed_exact": False,
        "rows": 3,  # d was not scored by batch
        "mismatches": 1,  # c; a differs by 1e-12, within tolerance
        "max_abs_error": pytest.approx(0.5),
        "null_mismatches": 0,
    }
    assert rows["g"]["mismatches"] == 1 and rows["g"]["null_mismatches"] == 1 and rows["g"]["claimed_exact"]


def test_score_parity_pairs_by_transaction_and_keeps_the_last_retry():
    batch = pl.DataFrame({"transaction_id": ["a", "b"], "score": [0.1, 0.2]})
    served = pl.DataFrame({"transaction_id": ["a", "b", "b"], "champion_score": [0.1, 0.9, 0.2 + 1e-9]})
    assert score_parity(served, batch, "champion_score", "score") == {
        "rows": 2,
        "mismatches": 0,
        "max_abs_error": pytest.approx(1e-9),
    }
