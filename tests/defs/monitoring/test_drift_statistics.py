"""Drift statistics: exact values on hand-made histograms, agreement with scipy, and the bad inputs."""

import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from mlops_assets.defs.monitoring.drift import (
    DriftConfig,
    ReferenceWindowError,
    chi_square,
    compare_to_reference,
    equal_mass_groups,
    fine_histogram,
    jensen_shannon,
    ks_statistic,
    profile_reference,
    psi,
    summarize,
)

RNG = np.random.default_rng(7)


def drift_table(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    numeric: list[str],
    categorical: list[str],
    config: DriftConfig | None = None,
) -> pl.DataFrame:
    """Profile `reference` and compare `current` with it, as `drift_report` does for each day."""
    return compare_to_reference(profile_reference(reference, numeric, categorical, config), current, config)


def _row(table: pl.DataFrame, feature: str) -> dict:
    return table.filter(pl.col("feature") == feature).row(0, named=True)


def test_psi_exact_value_and_symmetry_of_identical_histograms() -> None:
    # ref 50/50, cur 25/75: (0.25-0.5)ln(0.5) + (0.75-0.5)ln(1.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert psi(np.array([50, 50]), np.array([25, 75])) == pytest.approx(expected, rel=1e-12)
    assert psi(np.array([3, 7, 0]), np.array([30, 70, 0])) == 0.0


def test_psi_empty_bin_is_large_but_finite() -> None:
    value = psi(np.array([100, 0]), np.array([50, 50]))
    assert math.isfinite(value)
    assert value == pytest.approx((0.5 - 1) * math.log(0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4))


def test_ks_statistic_is_the_largest_cdf_gap() -> None:
    assert ks_statistic(np.array([1, 1, 2]), np.array([2, 1, 1])) == pytest.approx(0.25)
    assert ks_statistic(np.array([5, 0]), np.array([0, 5])) == 1.0


def test_ks_matches_scipy_exactly_on_values_that_fall_on_the_grid() -> None:
    reference = RNG.integers(0, 50, 3000).astype(float)
    current = RNG.integers(3, 55, 1200).astype(float)
    table = drift_table(pl.DataFrame({"x": reference}), pl.DataFrame({"x": current}), ["x"], [])
    scipy_result = ks_2samp(reference, current, method="asymp")
    row = _row(table, "x")
    assert row["ks_statistic"] == pytest.approx(scipy_result.statistic, abs=1e-12)
    assert row["ks_pvalue"] == pytest.approx(scipy_result.pvalue, rel=1e-9)


def test_ks_on_continuous_values_is_within_grid_resolution_of_scipy() -> None:
    reference = RNG.lognormal(3, 1, 50_000)
    current = RNG.lognormal(3.1, 1, 20_000)
    row = _row(drift_table(pl.DataFrame({"x": reference}), pl.DataFrame({"x": current}), ["x"], []), "x")
    assert row["ks_statistic"] == pytest.approx(ks_2samp(reference, current).statistic, abs=0.002)


def test_chi_square_matches_scipy_and_a_single_category_is_no_evidence() -> None:
    ref, cur = np.array([30, 50, 20]), np.array([10, 60, 30])
    expected = chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert chi_square(ref, cur) == pytest.approx((expected.statistic, expected.pvalue))
    assert chi_square(np.array([40]), np.array([25])) == (0.0, 1.0)
    # A category empty on both sides is dropped, not a zero-expected cell.
    assert chi_square(np.array([30, 0, 70]), np.array([30, 0, 70])) == pytest.approx((0.0, 1.0))


def test_jensen_shannon_bounds() -> None:
    assert jensen_shannon(np.array([1, 2, 3]), np.array([10, 20, 30])) == pytest.approx(0.0, abs=1e-7)
    assert jensen_shannon(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)


def test_fine_histogram_under_and_overflow() -> None:
    counts = fine_histogram(np.array([-5.0, 0.0, 0.49, 0.5, 0.99, 1.0, 7.0]), 0.0, 1.0, bins=2)
    assert counts.tolist() == [1, 2, 2, 2]


def test_equal_mass_groups_never_split_a_discrete_value() -> None:
    # Two values of equal mass: one cut between them (the trailing group holds what lies beyond).
    assert equal_mass_groups(np.array([0, 50, 0, 50, 0]), groups=10).tolist() == [0, 2, 4]
    assert equal_mass_groups(np.array([10] * 10), groups=5).tolist() == [0, 2, 4, 6, 8]


def test_same_distribution_is_stable_and_a_shift_drifts() -> None:
    n = 5000
    reference = pl.DataFrame({"amount": RNG.lognormal(3, 1, n), "device": RNG.choice(["a", "b", "c"], n)})
    same = pl.DataFrame({"amount": RNG.lognormal(3, 1, 2000), "device": RNG.choice(["a", "b", "c"], 2000)})
    shifted = pl.DataFrame(
        {
            "amount": RNG.lognormal(3, 1, 2000) * 1.8,
            "device": RNG.choice(["a", "b", "c"], 2000, p=[0.7, 0.2, 0.1]),
        }
    )
    profile = profile_reference(reference, ["amount"], ["device"])
    stable = compare_to_reference(profile, same)
    assert stable["status"].to_list() == ["stable", "stable"]
    assert summarize(stable).drift_share == 0.0
    drifted = compare_to_reference(profile, shifted)
    assert drifted["status"].to_list() == ["drifted", "drifted"]
    assert _row(drifted, "amount")["psi"] > 0.2
    assert _row(drifted, "device")["js_distance"] > 0.1
    summary = summarize(drifted)
    assert summary.drifted == ("amount", "device")
    assert summary.drift_share == 1.0


def test_new_categories_are_named() -> None:
    reference = pl.DataFrame({"country": ["DE"] * 300 + ["FR"] * 100})
    current = pl.DataFrame({"country": ["DE"] * 60 + ["BR"] * 30 + ["NG"] * 10})
    row = _row(drift_table(reference, current, [], ["country"]), "country")
    assert row["new_categories"] == "BR, NG"
    assert row["drifted"] is True
    assert "new categories: BR, NG" in row["reason"]


def test_empty_or_small_reference_is_a_clear_error() -> None:
    with pytest.raises(ReferenceWindowError, match="reference window has 0 rows; at least 200"):
        profile_reference(pl.DataFrame({"x": []}, schema={"x": pl.Float64}), ["x"], [])
    with pytest.raises(ReferenceWindowError, match="has 50 rows; at least 100"):
        profile_reference(pl.DataFrame({"x": np.ones(50)}), ["x"], [], DriftConfig(min_reference_rows=100))


def test_small_partition_skips_every_feature_with_the_reason() -> None:
    reference = pl.DataFrame({"x": RNG.normal(size=500), "k": RNG.choice(["a", "b"], 500)})
    table = drift_table(reference, reference.head(10), ["x"], ["k"])
    assert table["status"].to_list() == ["skipped", "skipped"]
    assert table["reason"][0] == "partition has 10 rows; at least 30 are needed to judge drift"
    summary = summarize(table)
    assert (summary.evaluated, summary.drift_share) == (0, 0.0)


def test_feature_missing_from_partition_counts_as_drifted() -> None:
    reference = pl.DataFrame({"x": RNG.normal(size=500), "y": RNG.normal(size=500)})
    table = drift_table(reference, reference.select("x"), ["x", "y"], [])
    assert _row(table, "y")["status"] == "missing"
    assert summarize(table).drifted == ("y",)


def test_feature_missing_from_reference_is_skipped_not_drifted() -> None:
    reference = pl.DataFrame({"x": RNG.normal(size=500)})
    current = pl.DataFrame({"x": RNG.normal(size=100), "y": RNG.normal(size=100)})
    table = drift_table(reference, current, ["x", "y"], [])
    assert _row(table, "y")["status"] == "skipped"
    assert summarize(table).skipped == {"y": "not in the reference window: nothing to compare with"}


def test_all_null_partition_column_drifts_through_the_null_bin() -> None:
    reference = pl.DataFrame({"x": RNG.normal(size=500), "k": RNG.choice(["a", "b"], 500)})
    current = pl.DataFrame({"x": [None] * 100, "k": [None] * 100}, schema={"x": pl.Float64, "k": pl.String})
    table = drift_table(reference, current, ["x"], ["k"], DriftConfig(numeric_method="ks"))
    x, k = _row(table, "x"), _row(table, "k")
    assert (x["status"], x["method"], x["null_share_current"]) == ("drifted", "psi", 1.0)
    assert x["reason"].startswith("all values are null in the partition")
    assert (k["status"], k["method"]) == ("drifted", "psi")


def test_all_null_reference_column_is_skipped() -> None:
    reference = pl.DataFrame({"x": [None] * 300}, schema={"x": pl.Float64})
    table = drift_table(reference, pl.DataFrame({"x": RNG.normal(size=100)}), ["x"], [])
    assert _row(table, "x")["status"] == "skipped"


def test_single_category_and_constant_numeric() -> None:
    reference = pl.DataFrame({"k": ["only"] * 300, "c": [5.0] * 300})
    same = drift_table(reference, pl.DataFrame({"k": ["only"] * 50, "c": [5.0] * 50}), ["c"], ["k"])
    assert same["status"].to_list() == ["stable", "stable"]
    k = _row(same, "k")
    assert (k["chi2_statistic"], k["chi2_pvalue"], k["js_distance"]) == (
        0.0,
        1.0,
        pytest.approx(0.0, abs=1e-7),
    )
    moved = drift_table(reference, pl.DataFrame({"k": ["other"] * 50, "c": [9.0] * 50}), ["c"], ["k"])
    assert moved["status"].to_list() == ["drifted", "drifted"]
    assert _row(moved, "k")["js_distance"] == pytest.approx(1.0)


def test_methods_are_configurable() -> None:
    reference = pl.DataFrame({"x": RNG.normal(size=2000), "k": RNG.choice(["a", "b"], 2000)})
    current = pl.DataFrame({"x": RNG.normal(0.3, 1, 1000), "k": RNG.choice(["a", "b"], 1000, p=[0.6, 0.4])})
    config = DriftConfig(numeric_method="ks", categorical_method="chisquare")
    table = drift_table(reference, current, ["x"], ["k"], config)
    x, k = _row(table, "x"), _row(table, "k")
    assert (x["method"], x["score"]) == ("ks", x["ks_statistic"])
    assert (k["method"], k["score"], k["status"]) == ("chisquare", k["chi2_pvalue"], "drifted")
    with pytest.raises(ValueError, match="numeric_method 'energy'"):
        DriftConfig(numeric_method="energy")  # type: ignore[arg-type]


def test_nan_is_treated_as_null() -> None:
    reference = pl.DataFrame({"x": RNG.normal(size=400)})
    current = pl.DataFrame({"x": np.r_[RNG.normal(size=90), [np.nan] * 10]})
    row = _row(drift_table(reference, current, ["x"], []), "x")
    assert row["null_share_current"] == pytest.approx(0.1)


def test_wasserstein_is_within_grid_resolution_of_scipy_and_normalized_by_the_reference_std() -> None:
    reference = RNG.lognormal(3, 1, 200_000)
    current = RNG.lognormal(3, 1, 100_000) * 1.5  # amounts up by half
    row = _row(drift_table(pl.DataFrame({"x": reference}), pl.DataFrame({"x": current}), ["x"], []), "x")
    expected = wasserstein_distance(reference, current) / reference.std()
    # The tails beyond the reference's 0.1 %/99.9 % quantiles count at the grid's edge: a lower bound.
    assert row["wasserstein"] == pytest.approx(expected, rel=0.05)
    assert row["wasserstein"] <= expected
    assert (row["method"], row["status"]) == ("wasserstein", "drifted")
    # PSI on ten bins does not see it: the reason the effect size decides by default.
    assert row["psi"] < 0.2


def test_auto_uses_a_test_with_a_small_reference_and_the_effect_size_with_a_large_one() -> None:
    def frame(rows: int) -> pl.DataFrame:
        return pl.DataFrame({"x": RNG.normal(size=rows), "k": RNG.choice(["a", "b"], rows)})

    small = profile_reference(frame(800), ["x"], ["k"])
    assert compare_to_reference(small, frame(500))["method"].to_list() == ["ks_pvalue", "chisquare"]
    large = profile_reference(frame(5000), ["x"], ["k"])
    table = compare_to_reference(large, frame(400))  # a small day against a large reference
    assert table["method"].to_list() == ["wasserstein", "jensenshannon"]
    assert table["status"].to_list() == ["stable", "stable"]
