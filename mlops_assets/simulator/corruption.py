"""Bad rows in the simulated landing files: a seeded share of rows broken the way real feeds break.

Real card feeds are never clean: a field arrives empty, a refund is sent as a negative payment, an
upstream system starts writing categories in capitals, a country comes as lower case, a retry sends the
same payment twice, a late row from yesterday's batch lands in today's file, a label is garbled. A
simulator that never produces such rows leaves the quarantine empty and its code unexercised, so
`corrupt_rows` breaks a share of a day's rows in exactly one of these ways each.

Every corruption breaks one rule of the validation schema (`defs/validation/schema.py`) and nothing else
about the row, so validation must quarantine exactly the corrupted rows, each with that rule as the reason.
The manifest returned beside the frame says which rows were broken and how; tests compare it with the
quarantine. The same frame, share and seed always break the same rows in the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

from mlops_assets.domain import (
    AMOUNT_EUR,
    COUNTRY,
    CUSTOMER_ID,
    DEVICE,
    EVENT_TIMESTAMP,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
    MERCHANT_CATEGORY,
    MERCHANT_ID,
    TRANSACTION_ID,
)

# Mixed into each day's seed so the corruption draws never coincide with the simulator's own streams.
_SEED_SALT: Final[int] = 0xBAD


@dataclass(frozen=True)
class Corruption:
    """One way a row breaks: its name, the column it breaks and how (an expression on that column).

    `broken` is None for `duplicate_id`, whose value is another row's id (see `_duplicate_sources`).
    """

    name: str
    column: str
    broken: Callable[[pl.Expr], pl.Expr] | None


DUPLICATE_ID: Final[str] = "duplicate_id"
CORRUPTIONS: Final[tuple[Corruption, ...]] = (
    Corruption("missing_customer_id", CUSTOMER_ID, lambda _: pl.lit(None, pl.String)),
    Corruption("missing_merchant_id", MERCHANT_ID, lambda _: pl.lit(None, pl.String)),
    Corruption("missing_amount", AMOUNT_EUR, lambda _: pl.lit(None, pl.Float64)),
    Corruption("missing_device", DEVICE, lambda _: pl.lit(None, pl.String)),
    # A refund or reversal sent through the payment feed.
    Corruption("negative_amount", AMOUNT_EUR, lambda c: -c.abs()),
    # An upstream system that changed its spelling: "GROCERY" is not a category the contract knows.
    Corruption("unknown_category", MERCHANT_CATEGORY, lambda c: c.str.to_uppercase()),
    # "de" instead of "DE": not an ISO 3166 alpha-2 code as the contract spells it.
    Corruption("malformed_country", COUNTRY, lambda c: c.str.to_lowercase()),
    # A late row of yesterday's batch in today's file.
    Corruption("timestamp_previous_day", EVENT_TIMESTAMP, lambda c: c - pl.duration(days=1)),
    # A label that is neither 0 nor 1 (a "-1 = unknown" convention of the source).
    Corruption("invalid_label", IS_FRAUD, lambda _: pl.lit(-1, pl.Int8)),
    # A label stamped before its payment happened (a clock or timezone error upstream).
    Corruption(
        "label_before_event",
        LABEL_AVAILABLE_AT,
        lambda _: pl.col(EVENT_TIMESTAMP) - pl.duration(hours=1),
    ),
    # A retry that sent an earlier payment's id again.
    Corruption(DUPLICATE_ID, TRANSACTION_ID, None),
)

MANIFEST_SCHEMA: Final[dict[str, pl.DataType]] = {
    "row": pl.Int64(),
    TRANSACTION_ID: pl.String(),
    "corruption": pl.String(),
    "column": pl.String(),
}


def check_share(share: float) -> float:
    """`share` itself if it is a fraction in [0, 1], else a ValueError naming it."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"bad row share {share}: expected a fraction between 0 and 1")
    return share


def _duplicate_sources(targets: np.ndarray, n: int) -> np.ndarray:
    """For each duplicate target position, the nearest earlier row that is not itself a duplicate target.

    The copied id must stay on a row that keeps it, and come earlier in the file, so that the target is
    the *later* copy (validation keeps the first copy of an id and rejects the others). -1 where no
    such row exists (a target at the top of the file): that row is left intact.
    """
    is_target = np.zeros(n, dtype=bool)
    is_target[targets] = True
    keepers = np.flatnonzero(~is_target)
    index = np.searchsorted(keepers, targets) - 1
    return np.where(index >= 0, keepers[np.maximum(index, 0)], -1)


def corrupt_rows(
    frame: pl.DataFrame, share: float, seed: int, day: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Break about `share` of `frame`'s rows, one corruption each, drawn from `seed` and `day`.

    Args:
        frame: one day of valid transactions, in file order.
        share: the probability that a row is broken (0 leaves the frame as it is).
        seed: the simulation's seed; with `day` it fixes which rows break and how.
        day: the day the frame belongs to.

    Returns:
        The frame with the same rows, columns and order, and a manifest with one row per broken row:
        its position in the frame (`row`), its `transaction_id` as written, the `corruption` and `column`.

    """
    check_share(share)
    n = frame.height
    rng = np.random.default_rng((seed, day.toordinal(), _SEED_SALT))
    # Both draws are made for every row, so a row's fate does not depend on the share of the others.
    hit = rng.random(n) < share
    kind = rng.integers(len(CORRUPTIONS), size=n)
    names = np.array([c.name for c in CORRUPTIONS])

    duplicate_index = [c.name for c in CORRUPTIONS].index(DUPLICATE_ID)
    targets = np.flatnonzero(hit & (kind == duplicate_index))
    sources = _duplicate_sources(targets, n)
    hit[targets[sources < 0]] = False
    targets, sources = targets[sources >= 0], sources[sources >= 0]

    rows = np.flatnonzero(hit)
    if rows.size == 0:
        return frame, pl.DataFrame(schema=MANIFEST_SCHEMA)
    marked = frame.with_columns(
        pl.Series("_corruption", [None] * n, dtype=pl.String).scatter(rows, names[kind[rows]].tolist()),
        pl.Series("_copied_id", [None] * n, dtype=pl.String).scatter(
            targets, frame[TRANSACTION_ID].gather(sources)
        ),
    )
    broken = {column: pl.col(column) for column in frame.columns}
    for corruption in CORRUPTIONS:
        value = (
            pl.col("_copied_id")
            if corruption.broken is None
            else corruption.broken(pl.col(corruption.column))
        )
        broken[corruption.column] = (
            pl.when(pl.col("_corruption") == corruption.name).then(value).otherwise(broken[corruption.column])
        )
    result = marked.select(expr.cast(frame.schema[column]).alias(column) for column, expr in broken.items())
    columns = {c.name: c.column for c in CORRUPTIONS}
    manifest = pl.DataFrame(
        {
            "row": rows.astype(np.int64),
            TRANSACTION_ID: result[TRANSACTION_ID].gather(rows),
            "corruption": names[kind[rows]],
            "column": [columns[name] for name in names[kind[rows]]],
        },
        schema=MANIFEST_SCHEMA,
    )
    return result, manifest
