"""The rules in domain/ are the code that bills: a change there alone changes a real invoice.

The worker runs on the real broker and database; the test changes the tariff's billing
basis and escalator in `energychain_billing.domain.tariff` only, and reads the invoice.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from energychain_billing.domain import tariff

from ..conftest import reading

pytestmark = pytest.mark.integration
UTC = timezone.utc

SEPT = [
    reading("house-01", datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500),
    reading("house-01", datetime(2021, 9, 20, 17, tzinfo=UTC), home=1000, imported=0),
]
AFTER_SEPT_CLOSE = datetime(2021, 10, 3, 12, tzinfo=UTC)


async def _september_line(infrastructure, tmp_path, kit) -> tuple[int, str, int]:
    async with kit.billing_api(infrastructure, tmp_path, "dom") as api:
        await api.meter.readings(*SEPT)
        await api.meter.watermark(AFTER_SEPT_CLOSE)

        async def invoices() -> int:
            return await api.db.fetchval("SELECT count(*) FROM invoices")

        await kit.wait_until(invoices, 1, what="the September invoice")
        invoice = (await api.client.get("/resident/invoices/house-01.2021-09", headers=api.token("house-01"))).json()
    (line,) = invoice["lines"]
    return line["energy_wh"], line["rate_usd_per_kwh"], line["amount_cents"]


async def test_the_invoice_bills_what_the_domain_rule_bills(infrastructure, tmp_path, kit):
    # Delivered energy: max(0, home - import) per hour = 1,500 + 1,000 Wh at $0.23 (house-01, year 1).
    assert await _september_line(infrastructure, tmp_path, kit) == (2500, "0.230000", 58)


async def test_changing_the_billing_basis_in_the_domain_alone_changes_the_invoice(
    infrastructure, tmp_path, kit, monkeypatch
):
    monkeypatch.setattr(tariff, "billed_wh", lambda *, home_wh, grid_import_wh, basis: home_wh)
    assert await _september_line(infrastructure, tmp_path, kit) == (3000, "0.230000", 69)


async def test_changing_the_escalated_rate_in_the_domain_alone_changes_the_invoice(
    infrastructure, tmp_path, kit, monkeypatch
):
    monkeypatch.setattr(tariff.Tariff, "rate_for_year", lambda self, year: Decimal("0.500000"))
    assert await _september_line(infrastructure, tmp_path, kit) == (2500, "0.500000", 125)
