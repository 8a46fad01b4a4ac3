"""Exact money and price arithmetic: integer Wh, integer cents, Decimal prices."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

KWH_PER_MWH = 1000
WH_PER_MWH = 1_000_000
CENTS_PER_USD = 100


def round_half_up_cents(amount_cents: Decimal) -> int:
    """Round an exact amount in cents half-up to whole cents."""
    return int(amount_cents.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usd_per_kwh_to_usd_per_mwh(price: Decimal) -> Decimal:
    """$/kWh -> $/MWh, exactly (x1000)."""
    return price * KWH_PER_MWH


def usd_per_mwh_to_usd_per_kwh(price: Decimal) -> Decimal:
    """$/MWh -> $/kWh, exactly (/1000)."""
    return price / KWH_PER_MWH


def price_meets_minimum(price_usd_per_mwh: Decimal, min_usd_per_kwh: Decimal) -> bool:
    """True when an hourly $/MWh price is at or above an offer's $/kWh minimum (exact compare)."""
    return price_usd_per_mwh >= usd_per_kwh_to_usd_per_mwh(min_usd_per_kwh)


def proceeds_cents(energy_wh: int, price_usd_per_mwh: Decimal) -> int:
    """Value of ``energy_wh`` at a $/MWh price, rounded half-up to the cent (negative prices pay 0)."""
    exact = Decimal(energy_wh) * price_usd_per_mwh * CENTS_PER_USD / WH_PER_MWH
    return max(0, round_half_up_cents(exact))


def fee_cents(proceeds: int, fee_percent: Decimal) -> int:
    """The GSA's fee on ``proceeds`` cents, rounded half-up to the cent."""
    return round_half_up_cents(Decimal(proceeds) * fee_percent / 100)
