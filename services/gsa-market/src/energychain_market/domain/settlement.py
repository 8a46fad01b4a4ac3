"""Settling a cleared offer against the meter: delivered energy, proceeds, fee, credit, refill."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from energychain_market.domain.money import fee_cents, proceeds_cents

NO_METER_READING = "no_meter_reading"
NO_BATTERY_DISCHARGE = "no_battery_discharge"
PARTIAL_DELIVERY = "partial_delivery"


@dataclass(frozen=True)
class SettlementFigures:
    """The money and energy of one settled offer; credit = proceeds - fee, refill = delivered."""

    offered_wh: int
    delivered_wh: int
    proceeds_cents: int
    fee_cents: int
    credit_cents: int
    refill_wh: int
    shortfall_reason: str | None


def settle(
    *,
    cleared_wh: int,
    metered_discharge_wh: int | None,
    price_usd_per_mwh: Decimal,
    fee_percent: Decimal,
) -> SettlementFigures:
    """Delivered = min(cleared, metered battery discharge in the hour); proceeds at the clearing price less the fee."""
    if metered_discharge_wh is None:
        delivered, reason = 0, f"{NO_METER_READING}: no reading for the delivery hour once the meter watermark passed it"
    else:
        delivered = min(cleared_wh, metered_discharge_wh)
        if delivered == 0 and cleared_wh > 0:
            reason = f"{NO_BATTERY_DISCHARGE}: metered battery discharge 0 Wh, cleared {cleared_wh} Wh"
        elif delivered < cleared_wh:
            reason = f"{PARTIAL_DELIVERY}: metered battery discharge {metered_discharge_wh} Wh < cleared {cleared_wh} Wh"
        else:
            reason = None
    proceeds = proceeds_cents(delivered, price_usd_per_mwh)
    fee = fee_cents(proceeds, fee_percent)
    return SettlementFigures(
        offered_wh=cleared_wh,
        delivered_wh=delivered,
        proceeds_cents=proceeds,
        fee_cents=fee,
        credit_cents=proceeds - fee,
        refill_wh=delivered,
        shortfall_reason=reason,
    )
