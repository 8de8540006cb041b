from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from mlops_assets.defs.training.data import (
    SplitConfig,
    TrainingDataError,
    check_training_frame,
    combined_hash,
    feature_matrix,
    partition_hashes,
    prepare_splits,
    split_by_time,
)
from mlops_assets.domain import AMOUNT_EUR, COUNTRY, EVENT_TIMESTAMP, IS_FRAUD, TRANSACTION_ID


def test_split_is_by_whole_days_in_time_order(training_frame, features):
    split = split_by_time(training_frame, SplitConfig(validation_days=3, holdout_days=2))
    windows = split.windows()
    assert [str(d) for d in windows["train"]] == ["2025-03-01", "2025-03-07"]
    assert [str(d) for d in windows["validation"]] == ["2025-03-08", "2025-03-10"]
    assert [str(d) for d in windows["holdout"]] == ["2025-03-11", "2025-03-12"]
    assert split.train[EVENT_TIMESTAMP].max() < split.validation[EVENT_TIMESTAMP].min()
    assert split.validation[EVENT_TIMESTAMP].max() < split.holdout[EVENT_TIMESTAMP].min()
    assert split.train.height + split.validation.height + split.holdout.height == training_frame.height
    assert split.train.columns == training_frame.columns


def test_split_needs_enough_days(training_frame):
    with pytest.raises(TrainingDataError, match="covers 12 days; a time split needs at least 14"):
        split_by_time(training_frame, SplitConfig(validation_days=7, holdout_days=6))


def test_one_class_only_is_refused(training_frame, features):
    legit = training_frame.with_columns(pl.lit(0, dtype=pl.Int8).alias(IS_FRAUD))
    with pytest.raises(TrainingDataError, match=r"only class\(es\) \[0\] in 6000 rows"):
        prepare_splits(legit, features, SplitConfig(3, 3, min_rows=100))


def test_too_few_rows_is_refused(training_frame, features):
    with pytest.raises(TrainingDataError, match="6000 rows, fewer than the minimum of 10000"):
        prepare_splits(training_frame, features, SplitConfig(3, 3, min_rows=10_000))


def test_too_few_positives_in_train_part_is_refused(training_frame, features):
    # Fraud only in the newest days: the whole window passes, the train part does not.
    late = training_frame.with_columns(
        pl.when(pl.col(EVENT_TIMESTAMP).dt.day() >= 7).then(pl.col(IS_FRAUD)).otherwise(0).alias(IS_FRAUD)
    )
    with pytest.raises(TrainingDataError, match="train data: label is_fraud has only class"):
        prepare_splits(late, features, SplitConfig(3, 3, min_rows=100, min_positives=10))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), "f_velocity: 2 NaN"),
        (float("inf"), "f_velocity: 2 infinite"),
        (None, "f_velocity: 2 null"),
    ],
)
def test_nan_infinite_and_null_features_are_refused(training_frame, features, value, expected):
    broken = training_frame.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([5, 77]))
        .then(value)
        .otherwise(pl.col("f_velocity"))
        .alias("f_velocity")
    )
    with pytest.raises(TrainingDataError, match=f"invalid feature values \\({expected}\\)"):
        check_training_frame(broken, features, 1, 1)


def test_nulls_are_allowed_in_nullable_features_and_become_nan(training_frame, features):
    frame = training_frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("f_noise")).alias("f_noise")
    )
    check_training_frame(frame, features, 1, 1, nullable=("f_noise",))  # no error
    matrix = feature_matrix(frame.head(4), features)
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    assert np.isnan(matrix[:3, 3]).all() and not np.isnan(matrix[3, 3])


def test_non_numeric_feature_is_refused(training_frame):
    with pytest.raises(TrainingDataError, match="feature country is String, expected numeric"):
        check_training_frame(training_frame, [COUNTRY], 1, 1)


def test_partition_hashes_ignore_row_order_and_see_content(training_frame):
    hashes = partition_hashes(training_frame)
    assert len(hashes) == 12 and min(hashes) == "2025-03-01" and max(hashes) == "2025-03-12"
    assert partition_hashes(training_frame.sample(fraction=1.0, shuffle=True, seed=3)) == hashes
    changed = training_frame.with_columns(
        pl.when(pl.col(TRANSACTION_ID) == "tx-0000000")
        .then(99.0)
        .otherwise(pl.col(AMOUNT_EUR))
        .alias(AMOUNT_EUR)
    )
    changed_hashes = partition_hashes(changed)
    assert [d for d in hashes if hashes[d] != changed_hashes[d]] == ["2025-03-01"]
    assert combined_hash(hashes) != combined_hash(changed_hashes)
    assert combined_hash(hashes) == combined_hash(dict(reversed(hashes.items())))


def test_split_keeps_utc_day_boundaries(training_frame):
    # A row one microsecond before midnight UTC belongs to the earlier day.
    last_train_ts = training_frame[EVENT_TIMESTAMP].min() + timedelta(days=1) - timedelta(microseconds=1)
    frame = pl.concat(
        [training_frame, training_frame.head(1).with_columns(pl.lit(last_train_ts).alias(EVENT_TIMESTAMP))]
    )
    split = split_by_time(frame, SplitConfig(3, 3))
    assert split.train.filter(pl.col(EVENT_TIMESTAMP) == last_train_ts).height == 1


def test_holdout_is_the_newest_days_present_wherever_the_window_ends(training_frame):
    # training_dataset ends LABEL_MATURITY_DAYS before its label cutoff, and a day may have no rows:
    # the parts count days present in the frame, never back from a cutoff or from today.
    missing = [date(2025, 3, 5), date(2025, 3, 11), date(2025, 3, 12)]
    frame = training_frame.filter(~pl.col(EVENT_TIMESTAMP).dt.date().is_in(missing))
    windows = split_by_time(frame, SplitConfig(validation_days=3, holdout_days=3)).windows()
    assert windows == {
        "train": (date(2025, 3, 1), date(2025, 3, 3)),
        "validation": (date(2025, 3, 4), date(2025, 3, 7)),  # 4, 6, 7: three days present
        "holdout": (date(2025, 3, 8), date(2025, 3, 10)),
    }
