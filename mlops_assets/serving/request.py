"""The request body of `POST /score`: the landing contract without the label, checked like validation.

The rules come from `domain` (the same constants the pandera schema uses), so a transaction the service
accepts is one validation would accept, and a rejected field gets a 422 naming the field and the rule.
The schema is pydantic, not pandera: it validates one dict per request in microseconds, where a
pandera frame validation costs milliseconds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mlops_assets.domain import COUNTRY_CODE_PATTERN, DEVICES, MAX_AMOUNT_EUR, MERCHANT_CATEGORIES


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("event_timestamp needs a UTC offset (e.g. 2026-01-10T12:00:00Z)")
    return value.astimezone(UTC)


MerchantCategory = Literal[MERCHANT_CATEGORIES]  # type: ignore[valid-type]
Device = Literal[DEVICES]  # type: ignore[valid-type]


class Transaction(BaseModel):
    """One card payment to score (`domain.TRANSACTION_COLUMNS` without `is_fraud`, `label_available_at`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction_id: Annotated[str, Field(min_length=1)]
    event_timestamp: Annotated[datetime, AfterValidator(_utc)]
    customer_id: Annotated[str, Field(min_length=1)]
    merchant_id: Annotated[str, Field(min_length=1)]
    merchant_category: MerchantCategory
    country: Annotated[str, Field(pattern=COUNTRY_CODE_PATTERN)]
    device: Device
    amount_eur: Annotated[float, Field(gt=0, le=MAX_AMOUNT_EUR, allow_inf_nan=False)]

    def row(self) -> dict[str, Any]:
        """The transaction as a plain dict (UTC timestamp)."""
        return self.model_dump()


class ScoreBatch(BaseModel):
    """Several transactions scored in one call, in order (each one sees the ones before it)."""

    model_config = ConfigDict(extra="forbid")

    transactions: Annotated[list[Transaction], Field(min_length=1, max_length=1000)]


class WrongDayError(ValueError):
    """A transaction outside the day the service's entity state is current for."""


def require_day(transaction: Transaction, day: date, index: int | None = None) -> None:
    """Refuse a transaction that is not on `day`: the state would be from the wrong day for it."""
    if transaction.event_timestamp.date() != day:
        where = "event_timestamp" if index is None else f"transactions.{index}.event_timestamp"
        raise WrongDayError(
            f"{where}: {transaction.event_timestamp.isoformat()} is not on the serving day "
            f"{day.isoformat()} (the day after the online store's last materialization)"
        )
