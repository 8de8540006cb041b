"""Many small frames stacked into one, each row labelled with its frame."""

from datetime import date

import polars as pl
import pytest

from mlops_assets.frames import stack_labelled


def test_each_row_carries_its_frames_label_empty_frames_included() -> None:
    frames = [
        pl.DataFrame({"x": [1, 2]}),
        pl.DataFrame({"x": []}, schema={"x": pl.Int64}),
        pl.DataFrame({"x": [3]}),
    ]
    labels = pl.Series("day", [date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)], pl.Date)
    stacked = stack_labelled(frames, labels)
    assert stacked.to_dicts() == [
        {"x": 1, "day": date(2026, 1, 1)},
        {"x": 2, "day": date(2026, 1, 1)},
        {"x": 3, "day": date(2026, 1, 3)},
    ]
    assert stacked.schema == pl.Schema({"x": pl.Int64, "day": pl.Date})


def test_a_label_per_frame_is_required() -> None:
    with pytest.raises(ValueError, match="2 frames but 1 labels"):
        stack_labelled([pl.DataFrame({"x": [1]})] * 2, pl.Series("day", [1]))


def test_a_frames_own_column_is_never_replaced_by_the_label() -> None:
    with pytest.raises(ValueError, match="'day' would replace the frames' own column"):
        stack_labelled([pl.DataFrame({"day": [1]})], pl.Series("day", [2]))
