"""Stacking many small frames into one, each row labelled with the frame it came from."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl


def stack_labelled(frames: Sequence[pl.DataFrame], labels: pl.Series) -> pl.DataFrame:
    """The frames one under the other, plus the column `labels.name`: each row's frame's label.

    A ranged run handles its days as one frame. Adding the label with `with_columns(pl.lit(...))` on
    each frame first is one small query per frame, about 0.1 ms each: 40 ms for a year of days. Here
    it is one concatenation and one gather, whatever the number of frames (empty frames included).
    """
    if len(frames) != labels.len():
        raise ValueError(f"{len(frames)} frames but {labels.len()} labels")
    if frames and labels.name in frames[0].columns:
        raise ValueError(
            f"the label column {labels.name!r} would replace the frames' own column of that name"
        )
    heights = [frame.height for frame in frames]
    rows_frame = pl.Series(np.repeat(np.arange(len(frames), dtype=np.uint32), heights), dtype=pl.UInt32)
    return pl.concat(frames).with_columns(labels.gather(rows_frame).alias(labels.name))
