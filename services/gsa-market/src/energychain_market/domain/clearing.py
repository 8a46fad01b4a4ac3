"""Placing offers in hours, aggregating them into hourly orders, and clearing those orders.

The shape follows established market simulators (e.g. ASSUME's market roles): an
*order book* of orders (side, hour, volume, limit price) goes into a named
*clearing mechanism* that returns accepted and rejected orders with a reason. The
GSA's market today is one-sided: it sells aggregated reserve into a wholesale
market whose hourly price is given (a price taker, pay-as-clear). A two-sided
mechanism (buy and sell orders matched at a uniform price) can be added later as
another ``ClearingMechanism`` without touching placement, aggregation, allocation
or settlement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from energychain_market.domain.money import price_meets_minimum, usd_per_kwh_to_usd_per_mwh

Side = Literal["sell", "buy"]
Prices = Mapping[datetime, Decimal]  # UTC hour start -> $/MWh

NO_PRICE = "no_price"
NO_HOUR_MEETS_MINIMUM = "no_hour_meets_minimum_price"
BELOW_MINIMUM_AGGREGATE = "below_minimum_aggregate"
PRICE_BELOW_LIMIT = "price_below_limit"
UNSUPPORTED_SIDE = "unsupported_side"


@dataclass(frozen=True)
class MarketOffer:
    """An open offer as the clearing sees it: energy, minimum price, and the UTC hours of its delivery day."""

    offer_id: str
    house_id: str
    energy_wh: int
    min_price_usd_per_kwh: Decimal
    hours: tuple[datetime, ...]


@dataclass(frozen=True)
class Placement:
    """The hour an offer is sold in, or why it has none."""

    offer_id: str
    hour: datetime | None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Order:
    """One order in the order book: a side, an hour, a volume and a limit price."""

    order_id: str
    hour: datetime
    side: Side
    energy_wh: int
    limit_price_usd_per_mwh: Decimal
    member_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderOutcome:
    """What the mechanism did with one order: accepted volume and price, or the reason it was rejected."""

    order: Order
    accepted_wh: int
    price_usd_per_mwh: Decimal | None
    reason: str | None = None
    detail: str | None = None

    @property
    def cleared(self) -> bool:
        """True when any of the order's volume was accepted."""
        return self.accepted_wh > 0


@dataclass(frozen=True)
class ClearingResult:
    """Every order's outcome, in hour order."""

    mechanism: str
    outcomes: tuple[OrderOutcome, ...]

    @property
    def accepted(self) -> tuple[OrderOutcome, ...]:
        """Orders with accepted volume."""
        return tuple(o for o in self.outcomes if o.cleared)

    @property
    def rejected(self) -> tuple[OrderOutcome, ...]:
        """Orders with nothing accepted."""
        return tuple(o for o in self.outcomes if not o.cleared)


class ClearingMechanism(Protocol):
    """Clears an order book against the market: ``clear(orders, prices) -> ClearingResult``."""

    name: str

    def clear(self, orders: Sequence[Order], prices: Prices) -> ClearingResult:
        """Decide each order's accepted volume and price."""
        ...


@dataclass(frozen=True)
class OneSidedPayAsClear:
    """Sell orders are price takers at the hour's wholesale price, if they reach the minimum aggregate size."""

    min_aggregate_wh: int = 0
    name: str = "one_sided_pay_as_clear"

    def clear(self, orders: Sequence[Order], prices: Prices) -> ClearingResult:
        """Accept each sell order in full at its hour's price, or reject it with the reason."""
        outcomes = []
        for order in sorted(orders, key=lambda o: (o.hour, o.order_id)):
            outcomes.append(self._clear_one(order, prices.get(order.hour)))
        return ClearingResult(mechanism=self.name, outcomes=tuple(outcomes))

    def _clear_one(self, order: Order, price: Decimal | None) -> OrderOutcome:
        if order.side != "sell":
            return OrderOutcome(order, 0, None, UNSUPPORTED_SIDE, "a one-sided market takes sell orders only")
        if price is None:
            return OrderOutcome(order, 0, None, NO_PRICE, f"no wholesale price for {order.hour.isoformat()}")
        if order.energy_wh < self.min_aggregate_wh:
            return OrderOutcome(
                order,
                0,
                None,
                BELOW_MINIMUM_AGGREGATE,
                f"aggregate {order.energy_wh} Wh in {order.hour.isoformat()} is below the minimum "
                f"bid size {self.min_aggregate_wh} Wh",
            )
        if price < order.limit_price_usd_per_mwh:
            return OrderOutcome(
                order, 0, None, PRICE_BELOW_LIMIT,
                f"price {price} $/MWh is below the order's limit {order.limit_price_usd_per_mwh} $/MWh",
            )
        return OrderOutcome(order, order.energy_wh, price)


CLEARING_MECHANISMS: dict[str, Callable[..., ClearingMechanism]] = {
    "one_sided_pay_as_clear": OneSidedPayAsClear,
}


def place_offer(offer: MarketOffer, prices: Prices) -> Placement:
    """The highest-priced hour of the offer's day whose price meets its minimum; ties go to the earliest hour."""
    priced = [(hour, prices[hour]) for hour in offer.hours if hour in prices]
    if not priced:
        return Placement(offer.offer_id, None, NO_PRICE, "no wholesale prices for the delivery day")
    eligible = [(hour, price) for hour, price in priced if price_meets_minimum(price, offer.min_price_usd_per_kwh)]
    if not eligible:
        best = max(price for _, price in priced)
        return Placement(
            offer.offer_id,
            None,
            NO_HOUR_MEETS_MINIMUM,
            f"the day's highest price {best} $/MWh is below the offer's minimum "
            f"{usd_per_kwh_to_usd_per_mwh(offer.min_price_usd_per_kwh)} $/MWh",
        )
    hour, _ = min(eligible, key=lambda item: (-item[1], item[0]))
    return Placement(offer.offer_id, hour)


def aggregate(
    offers: Sequence[MarketOffer],
    placements: Mapping[str, Placement],
    *,
    order_id_for: Callable[[datetime], str],
) -> tuple[Order, ...]:
    """One sell order per hour: the sum of the offers placed there, limited by their highest minimum."""
    by_hour: dict[datetime, list[MarketOffer]] = defaultdict(list)
    for offer in offers:
        hour = placements[offer.offer_id].hour
        if hour is not None:
            by_hour[hour].append(offer)
    orders = []
    for hour in sorted(by_hour):
        members = sorted(by_hour[hour], key=lambda o: o.offer_id)
        orders.append(
            Order(
                order_id=order_id_for(hour),
                hour=hour,
                side="sell",
                energy_wh=sum(o.energy_wh for o in members),
                # Every member accepts any price at or above its own minimum, so the highest one bounds them all.
                limit_price_usd_per_mwh=max(usd_per_kwh_to_usd_per_mwh(o.min_price_usd_per_kwh) for o in members),
                member_ids=tuple(o.offer_id for o in members),
            )
        )
    return tuple(orders)


def allocate(accepted_wh: int, members: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Share an order's accepted Wh among its members pro rata; leftover Wh by largest remainder, then id."""
    total = sum(energy for _, energy in members)
    if accepted_wh >= total:
        return {member_id: energy for member_id, energy in members}
    shares = {member_id: accepted_wh * energy // total for member_id, energy in members}
    remainders = sorted(members, key=lambda m: (-(accepted_wh * m[1] % total), m[0]))
    for member_id, _ in remainders[: accepted_wh - sum(shares.values())]:
        shares[member_id] += 1
    return shares


@dataclass(frozen=True)
class OfferOutcome:
    """What clearing decided for one offer."""

    offer_id: str
    house_id: str
    cleared: bool
    hour: datetime | None
    order_id: str | None
    cleared_wh: int
    price_usd_per_mwh: Decimal | None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class DayClearing:
    """A delivery day's order book, the mechanism's result and every offer's outcome."""

    orders: tuple[Order, ...]
    result: ClearingResult
    offer_outcomes: tuple[OfferOutcome, ...]


def clear_day(
    offers: Sequence[MarketOffer],
    prices: Prices,
    *,
    mechanism: ClearingMechanism,
    order_id_for: Callable[[datetime], str],
) -> DayClearing:
    """Place, aggregate and clear one delivery day's open offers; every offer gets an outcome."""
    placements = {offer.offer_id: place_offer(offer, prices) for offer in offers}
    orders = aggregate(offers, placements, order_id_for=order_id_for)
    result = mechanism.clear(orders, prices)
    by_offer: dict[str, tuple[OrderOutcome, int]] = {}
    offers_by_id = {offer.offer_id: offer for offer in offers}
    for outcome in result.outcomes:
        members = [(member, offers_by_id[member].energy_wh) for member in outcome.order.member_ids]
        shares = allocate(outcome.accepted_wh, members) if outcome.cleared else {m: 0 for m, _ in members}
        for member, share in shares.items():
            by_offer[member] = (outcome, share)
    outcomes = []
    for offer in sorted(offers, key=lambda o: o.offer_id):
        placement = placements[offer.offer_id]
        if placement.hour is None:
            outcomes.append(
                OfferOutcome(offer.offer_id, offer.house_id, False, None, None, 0, None, placement.reason, placement.detail)
            )
            continue
        order_outcome, share = by_offer[offer.offer_id]
        if share > 0:
            outcomes.append(
                OfferOutcome(
                    offer.offer_id, offer.house_id, True, placement.hour, order_outcome.order.order_id,
                    share, order_outcome.price_usd_per_mwh,
                )
            )
        else:
            outcomes.append(
                OfferOutcome(
                    offer.offer_id, offer.house_id, False, placement.hour, order_outcome.order.order_id,
                    0, None, order_outcome.reason, order_outcome.detail,
                )
            )
    return DayClearing(orders=orders, result=result, offer_outcomes=tuple(outcomes))
