"""Turn `training_dataset` into model-ready splits: checks, a time-based split, matrices and content hashes.

The split is by calendar day of `event_timestamp` (UTC): the oldest days train, the next days
validate (early stopping), the newest days are the holdout that every metric and promotion decision
uses. Nothing is shuffled across time, so no model ever sees a day later than the one it is judged on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from mlops_assets.domain import COUNTRY, EVENT_TIMESTAMP, IS_FRAUD, MERCHANT_CATEGORY

DAY = "_day"
SLICE_COLUMNS: tuple[str, ...] = (COUNTRY, MERCHANT_CATEGORY)


class TrainingDataError(ValueError):
    """The training window cannot produce a trustworthy model; the message says why."""


@dataclass(frozen=True)
class SplitConfig:
    """How many of the newest days validate and hold out, and the least data worth training on."""

    validation_days: int = 7
    holdout_days: int = 7
    min_rows: int = 1_000
    min_positives: int = 20


@dataclass(frozen=True)
class TimeSplit:
    """Train, validation and holdout frames, and the day windows they cover (inclusive)."""

    train: pl.DataFrame
    validation: pl.DataFrame
    holdout: pl.DataFrame

    def windows(self) -> dict[str, tuple[date, date]]:
        """First and last day of each part, for params, model cards and metadata."""
        return {name: day_window(frame) for name, frame in self.parts().items()}

    def parts(self) -> dict[str, pl.DataFrame]:
        """The three parts by name."""
        return {"train": self.train, "validation": self.validation, "holdout": self.holdout}


def day_window(frame: pl.DataFrame) -> tuple[date, date]:
    """First and last UTC day of `event_timestamp` in the frame."""
    days = frame.get_column(EVENT_TIMESTAMP).dt.date()
    return days.min(), days.max()  # type: ignore[return-value]


def check_training_frame(
    frame: pl.DataFrame,
    features: Sequence[str],
    min_rows: int,
    min_positives: int,
    name: str = "training",
    nullable: Collection[str] = (),
) -> None:
    """Raise `TrainingDataError` for data no model should be trained or judged on.

    Refuses missing columns, too few rows, a single class, too few fraud cases, NaN or infinite feature
    values (a bug upstream: LightGBM would silently treat them as missing and torch would emit NaN
    losses), and nulls outside the `nullable` features (those are null where undefined, by contract).
    """
    missing = [c for c in (*features, IS_FRAUD, EVENT_TIMESTAMP) if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"{name} data: missing columns {missing}")
    if frame.height < min_rows:
        raise TrainingDataError(f"{name} data: {frame.height} rows, fewer than the minimum of {min_rows}")
    classes = sorted(frame.get_column(IS_FRAUD).unique().to_list())
    if classes != [0, 1]:
        raise TrainingDataError(
            f"{name} data: label {IS_FRAUD} has only class(es) {classes} in {frame.height} rows; "
            "a classifier needs both fraud (1) and legitimate (0) rows"
        )
    positives = int(frame.get_column(IS_FRAUD).sum())
    if positives < min_positives:
        raise TrainingDataError(
            f"{name} data: {positives} fraud rows, fewer than the minimum of {min_positives}"
        )
    bad: dict[str, str] = {}
    for column in features:
        series = frame.get_column(column)
        if not series.dtype.is_numeric():
            raise TrainingDataError(f"{name} data: feature {column} is {series.dtype}, expected numeric")
        problems = []
        if series.dtype.is_float():
            nan, inf = int(series.is_nan().sum()), int(series.is_infinite().sum())
            problems += [f"{nan} NaN"] if nan else []
            problems += [f"{inf} infinite"] if inf else []
        if column not in nullable and series.null_count():
            problems.append(f"{series.null_count()} null")
        if problems:
            bad[column] = ", ".join(problems)
    if bad:
        detail = "; ".join(f"{c}: {p}" for c, p in bad.items())
        raise TrainingDataError(f"{name} data: invalid feature values ({detail})")


def split_by_time(frame: pl.DataFrame, config: SplitConfig) -> TimeSplit:
    """Split by whole UTC days: oldest for training, then validation, newest for the holdout.

    The parts are counted in days present in `frame`, from its newest day backwards: nothing here assumes
    the frame ends at "today" or at the label cutoff. The holdout (and validation) labels are mature
    because `training_dataset` itself ends `domain.LABEL_MATURITY_DAYS` before its label cutoff (rows
    whose label had not arrived by the cutoff are dropped there, and on younger days that would drop
    most frauds but no legitimate rows). Whatever window the dataset was built with, the holdout is its
    newest mature days; a dataset built with `label_maturity_days=0` gets a fraud-poor, biased holdout,
    and that choice is recorded on the dataset's materialization.
    """
    with_day = frame.with_columns(pl.col(EVENT_TIMESTAMP).dt.date().alias(DAY))
    days = with_day.get_column(DAY).unique().sort().to_list()
    needed = config.validation_days + config.holdout_days + 1
    if len(days) < needed:
        raise TrainingDataError(
            f"training data covers {len(days)} days; a time split needs at least {needed} "
            f"(>= 1 train, {config.validation_days} validation, {config.holdout_days} holdout)"
        )
    holdout_start = days[-config.holdout_days]
    validation_start = days[-(config.holdout_days + config.validation_days)]

    def part(lo: date | None, hi: date | None) -> pl.DataFrame:
        condition = pl.lit(True)
        if lo is not None:
            condition &= pl.col(DAY) >= lo
        if hi is not None:
            condition &= pl.col(DAY) < hi
        return with_day.filter(condition).sort(EVENT_TIMESTAMP).drop(DAY)

    return TimeSplit(
        train=part(None, validation_start),
        validation=part(validation_start, holdout_start),
        holdout=part(holdout_start, None),
    )


def prepare_splits(
    frame: pl.DataFrame, features: Sequence[str], config: SplitConfig, nullable: Collection[str] = ()
) -> TimeSplit:
    """Check the whole window, split it by time, then check each part can train or judge a model."""
    check_training_frame(frame, features, config.min_rows, config.min_positives, nullable=nullable)
    split = split_by_time(frame, config)
    # Validation and holdout need both classes for AUCs; fewer rows are fine there.
    check_training_frame(split.train, features, 1, max(1, config.min_positives // 2), "train", nullable)
    check_training_frame(split.validation, features, 1, 1, "validation", nullable)
    check_training_frame(split.holdout, features, 1, 1, "holdout", nullable)
    return split


def feature_matrix(frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The features as a C-contiguous float32 matrix, columns in the given order; nulls become NaN."""
    return np.ascontiguousarray(frame.select([pl.col(c).cast(pl.Float32) for c in features]).to_numpy())


def labels(frame: pl.DataFrame) -> np.ndarray:
    """The label as an int vector."""
    return frame.get_column(IS_FRAUD).cast(pl.Int32).to_numpy()


def partition_hashes(frame: pl.DataFrame) -> dict[str, str]:
    """A content hash per UTC day: independent of row order and file layout (stable for the pinned polars)."""
    hashes: dict[str, str] = {}
    with_day = frame.with_columns(pl.col(EVENT_TIMESTAMP).dt.date().alias(DAY))
    for (day,), part in with_day.sort(DAY).group_by(DAY, maintain_order=True):
        row_hashes = np.sort(part.drop(DAY).hash_rows(seed=0).to_numpy())
        hashes[day.isoformat()] = hashlib.sha256(row_hashes.tobytes()).hexdigest()[:16]
    return hashes


def combined_hash(hashes: dict[str, str]) -> str:
    """One hash of the whole window from the per-day hashes."""
    text = ",".join(f"{day}={value}" for day, value in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
