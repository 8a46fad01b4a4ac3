"""Rules that more than one service applies: the one home of each (standard library only).

- Contract years: year n of a PPA contract begins on the (n-1)th anniversary of its start
  date, local midnight in the municipality's zone; days before the start are in year 1; a
  29 February start has its anniversary on 28 February in common years.
- The escalated rate of year n: rate x (1 + escalator)^(n-1), half-up to six decimals.
- Canonical JSON: what is hashed and signed (sorted keys, no whitespace, UTF-8).
Billing invoices with these, the market checks offer floors against them, the ledger and
every producer hash and sign with the last.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

RATE_QUANTUM = Decimal("0.000001")  # $/kWh: PPA rates are stated, billed and offered to six decimals


def anniversary(start: date, years: int) -> date:
    """The ``years``-th anniversary of ``start`` (28 February for a 29 February start in a common year)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return date(start.year + years, 2, 28)


def contract_year(start: date, on: date) -> int:
    """Contract year (1-based) in force on the local day ``on``; year 1 also covers days before the start."""
    years = on.year - start.year
    if years > 0 and on < anniversary(start, years):
        years -= 1
    return max(1, years + 1)


def year_start(start: date, year: int, zone: ZoneInfo) -> datetime:
    """When contract year ``year`` begins (UTC): local midnight of its anniversary."""
    return datetime.combine(anniversary(start, year - 1), time(0), tzinfo=zone).astimezone(timezone.utc)


def contract_year_at(start: date, instant: datetime, zone: ZoneInfo) -> int:
    """Contract year of the hour starting at ``instant`` (aware), by its local date in ``zone``."""
    return contract_year(start, instant.astimezone(zone).date())


def escalated_rate(rate_usd_per_kwh: Decimal, escalator_percent: Decimal, year: int) -> Decimal:
    """The PPA rate of contract year n: rate x (1 + escalator)^(n-1), half-up to six decimals."""
    if year < 1:
        raise ValueError(f"contract years start at 1, got {year}")
    factor = (Decimal(1) + escalator_percent / Decimal(100)) ** (year - 1)
    return (rate_usd_per_kwh * factor).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8. Used for hashing and signing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
