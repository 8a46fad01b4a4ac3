"""The resident's offer rules (the prototype's limits) and the offer life cycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from energychain_shared.rules import contract_year, escalated_rate

from energychain_market.domain.calendar import gate_closure, local_date

ALLOWED_RESERVE_PERCENTS = (25, 50, 75, 100)
PRICE_DECIMAL_PLACES = 6


class OfferStatus(StrEnum):
    """Where an offer is in its life: open -> cancelled | cleared | unsold; cleared -> settled."""

    OPEN = "open"
    CANCELLED = "cancelled"
    CLEARED = "cleared"
    UNSOLD = "unsold"
    SETTLED = "settled"


class OfferRefused(Exception):
    """An offer or cancellation broke a rule; ``rule`` names it, ``field`` the request field at fault."""

    def __init__(self, *, rule: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field
        self.message = message


class OfferConflict(OfferRefused):
    """Refused by the market's state, not by a field's value: no clock yet, an open offer already, not open any more."""


class OfferNotFound(OfferRefused):
    """The offer does not exist or is not the caller's."""


@dataclass(frozen=True)
class ResidentTerms:
    """What the offer rules need to know about a resident and its contract."""

    house_id: str
    municipality_id: str
    zone: ZoneInfo
    reserve_wh: int
    rate_usd_per_kwh: Decimal
    escalator_percent: Decimal
    contract_start: date


@dataclass(frozen=True)
class OfferRequest:
    """What the resident asks for."""

    reserve_percent: int
    delivery_day: date
    min_price_usd_per_kwh: Decimal


@dataclass(frozen=True)
class AcceptedOffer:
    """An offer that passed every rule, with its energy and the rate it was checked against."""

    reserve_percent: int
    delivery_day: date
    energy_wh: int
    min_price_usd_per_kwh: Decimal
    current_rate_usd_per_kwh: Decimal


def current_rate(terms: ResidentTerms, now: datetime) -> Decimal:
    """The resident's PPA rate for the contract year in force at ``now`` (local date)."""
    year = contract_year(terms.contract_start, local_date(now, terms.zone))
    return escalated_rate(terms.rate_usd_per_kwh, terms.escalator_percent, year)


def offered_energy_wh(reserve_wh: int, reserve_percent: int) -> int:
    """The share of the reserve offered, in whole Wh (rounded down: never more than the reserve)."""
    return reserve_wh * reserve_percent // 100


def validate_offer(
    request: OfferRequest,
    *,
    terms: ResidentTerms,
    now: datetime | None,
    max_price_usd_per_kwh: Decimal,
    gate_closure_hours_before: int = 0,
    has_open_offer_for_day: bool = False,
) -> AcceptedOffer:
    """Apply the offer rules in order; the first broken rule raises ``OfferRefused``."""
    if request.reserve_percent not in ALLOWED_RESERVE_PERCENTS:
        raise OfferRefused(
            rule="reserve_percent_allowed",
            field="reserve_percent",
            message=f"reserve_percent must be one of {list(ALLOWED_RESERVE_PERCENTS)}, got {request.reserve_percent}",
        )
    energy_wh = offered_energy_wh(terms.reserve_wh, request.reserve_percent)
    if energy_wh <= 0:
        raise OfferRefused(
            rule="reserve_available",
            field="reserve_percent",
            message=f"house {terms.house_id} has no battery reserve to offer (reserve_wh={terms.reserve_wh})",
        )
    price = request.min_price_usd_per_kwh
    if not price.is_finite() or -price.as_tuple().exponent > PRICE_DECIMAL_PLACES:  # type: ignore[operator]
        raise OfferRefused(
            rule="min_price_precision",
            field="min_price_usd_per_kwh",
            message=f"min_price_usd_per_kwh has at most {PRICE_DECIMAL_PLACES} decimal places, got {price}",
        )
    if now is None:
        raise OfferConflict(
            rule="clock_started",
            message="the simulated clock has not started yet: no current day to offer after",
        )
    today = local_date(now, terms.zone)
    if request.delivery_day <= today:
        raise OfferRefused(
            rule="delivery_day_after_today",
            field="delivery_day",
            message=f"delivery_day must be after the current simulated day {today.isoformat()}, "
            f"got {request.delivery_day.isoformat()}",
        )
    closure = gate_closure(request.delivery_day, terms.zone, hours_before=gate_closure_hours_before)
    if now >= closure:
        raise OfferRefused(
            rule="gate_closed",
            field="delivery_day",
            message=f"gate closure for {request.delivery_day.isoformat()} was {closure.isoformat()}; "
            f"the simulated time is {now.isoformat()}",
        )
    rate = current_rate(terms, now)
    if price < rate:
        raise OfferRefused(
            rule="min_price_at_least_ppa_rate",
            field="min_price_usd_per_kwh",
            message=f"min_price_usd_per_kwh must be at least the current PPA rate {rate.normalize()} $/kWh, got {price}",
        )
    if price > max_price_usd_per_kwh:
        raise OfferRefused(
            rule="min_price_at_most_maximum",
            field="min_price_usd_per_kwh",
            message=f"min_price_usd_per_kwh must be at most {max_price_usd_per_kwh} $/kWh, got {price}",
        )
    if has_open_offer_for_day:
        raise OfferConflict(
            rule="one_open_offer_per_day",
            field="delivery_day",
            message=f"house {terms.house_id} already has an open offer for {request.delivery_day.isoformat()}; "
            "cancel it first",
        )
    return AcceptedOffer(
        reserve_percent=request.reserve_percent,
        delivery_day=request.delivery_day,
        energy_wh=energy_wh,
        min_price_usd_per_kwh=price,
        current_rate_usd_per_kwh=rate,
    )


def ensure_cancellable(status: OfferStatus, *, offer_id: str) -> None:
    """Only an open offer may be cancelled; anything else (cleared, settled, unsold, cancelled) is a conflict."""
    if status is not OfferStatus.OPEN:
        raise OfferConflict(
            rule="cancel_only_open_offers",
            message=f"offer {offer_id} is {status.value}, not open: it can no longer be cancelled",
        )
