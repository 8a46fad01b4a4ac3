"""Late readings, redelivery, payments and past due, through the real broker and database.

The test is the meter: it publishes readings and in-band watermarks for the demo houses
directly to meter.readings, and talks to billing's API as the residents.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from energychain_shared import events, topics

from ..conftest import reading

pytestmark = pytest.mark.integration
UTC = timezone.utc


SEPT = [
    reading("house-01", datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500),  # 1,500 Wh delivered
    reading("house-01", datetime(2021, 9, 20, 17, tzinfo=UTC), home=1000, imported=0),  # 1,000 Wh
    reading("house-02", datetime(2021, 9, 12, 17, tzinfo=UTC), home=4000, imported=0),  # 4,000 Wh
]
LATE_SEPT = reading("house-01", datetime(2021, 9, 25, 17, tzinfo=UTC), home=3000, imported=1000)  # 2,000 Wh
OCT = reading("house-01", datetime(2021, 10, 15, 17, tzinfo=UTC), home=1000, imported=0)  # 1,000 Wh
# September (local) ends 2021-10-01T07:00Z; closes 48 h later; due 21 days after that.
AFTER_SEPT_CLOSE = datetime(2021, 10, 3, 12, tzinfo=UTC)
AFTER_OCT_CLOSE = datetime(2021, 11, 3, 12, tzinfo=UTC)


@pytest.fixture
async def billing(infrastructure, tmp_path, kit):
    """Topics and a schema of their own, the worker running, the API app, tokens per resident."""
    async with kit.billing_api(infrastructure, tmp_path, "bl") as api:
        yield api.settings, api.meter, api.client, api.token, api.db


async def _count(connection, query: str, *args):
    return await connection.fetchval(query, *args)


async def test_late_reading_is_an_adjustment_on_the_next_invoice_and_replaying_changes_nothing(billing, kit):
    settings, meter, client, token, db = billing
    await meter.readings(*SEPT)
    await meter.watermark(AFTER_SEPT_CLOSE)
    await kit.wait_until(lambda: _count(db, "SELECT count(*) FROM invoices"), 2, what="September invoices")
    await meter.readings(LATE_SEPT, OCT)
    await meter.watermark(AFTER_OCT_CLOSE)
    await kit.wait_until(lambda: _count(db, "SELECT count(*) FROM invoices"), 4, what="October invoices")

    october = (await client.get("/resident/invoices/house-01.2021-10", headers=token("house-01"))).json()
    assert [(line["kind"], line["energy_wh"], line["amount_cents"]) for line in october["lines"]] == [
        ("balance_forward", None, 58),  # September: 2,500 Wh x $0.23 = 57.5 cents, half-up to 58
        ("ppa_energy", 1000, 23),
        ("late_adjustment", 2000, 46),
    ]
    assert october["total_cents"] == 58 + 23 + 46
    september = (await client.get("/resident/invoices/house-01.2021-09", headers=token("house-01"))).json()
    assert [(line["kind"], line["energy_wh"]) for line in september["lines"]] == [("ppa_energy", 2500)]

    # Every partition past the October close first: each one's watermark adds billing's own watermark rows
    # to the outbox, and the snapshot is of the state after all of them.
    await kit.wait_until(lambda: db.fetchval("SELECT count(*) FROM progress WHERE watermark >= $1", AFTER_OCT_CLOSE),
                         topics.METER_READINGS.partitions, what="every partition past the October close")
    snapshot = await db.fetch("SELECT invoice_id, lines::text, total_cents FROM invoices ORDER BY invoice_id")
    outbox = await _count(db, "SELECT count(*) FROM outbox")
    # The same readings and watermarks once more: recorded once, invoiced once.
    await meter.readings(*SEPT, LATE_SEPT, OCT)
    await meter.watermark(AFTER_SEPT_CLOSE)
    await meter.watermark(AFTER_OCT_CLOSE)
    await asyncio.sleep(3)
    assert await db.fetch("SELECT invoice_id, lines::text, total_cents FROM invoices ORDER BY invoice_id") == snapshot
    assert await _count(db, "SELECT count(*) FROM outbox") == outbox
    assert await _count(db, "SELECT count(*) FROM hourly") == 5


BAD_PAYMENTS = [
    ({"amount": "-5.00", "method": "card"}, "amount", 422),
    ({"amount": "0", "method": "card"}, "amount", 422),
    ({"amount": "0.00", "method": "zelle"}, "amount", 422),
    ({"amount": "ten", "method": "card"}, "amount", 422),
    ({"amount": 10.5, "method": "card"}, "amount", 422),
    ({"amount": "12.345", "method": "card"}, "amount", 422),
    ({"amount": "12.00", "method": "cash"}, "method", 422),
    ({"amount": "12.00", "method": "card", "invoice_id": "house-01.1999-01"}, "invoice_id", 404),
    ({"amount": "12.00", "method": "card", "invoice_id": "house-02.2021-09"}, "invoice_id", 404),
]


async def test_bad_payment_requests_get_a_4xx_naming_the_field_and_change_nothing(billing, kit):
    settings, meter, client, token, db = billing
    await meter.readings(*SEPT)
    await meter.watermark(AFTER_SEPT_CLOSE)
    await kit.wait_until(lambda: _count(db, "SELECT count(*) FROM invoices"), 2, what="September invoices")
    before = (await client.get("/resident/account", headers=token("house-01"))).json()

    for body, field, status in BAD_PAYMENTS:
        answer = await client.post("/resident/payments", json=body, headers={**token("house-01"), "Idempotency-Key": "k-1"})
        assert (answer.status_code, answer.json()["field"]) == (status, field), (body, answer.text)
    assert await _count(db, "SELECT count(*) FROM payments") == 0
    assert await _count(
        db, "SELECT count(*) FROM outbox WHERE convert_from(payload, 'UTF8') LIKE '%PaymentReceived%'"
    ) == 0
    assert (await client.get("/resident/account", headers=token("house-01"))).json() == before


async def test_a_payment_is_recorded_once_per_key_and_the_unpaid_rest_goes_past_due(billing, kit):
    settings, meter, client, token, db = billing
    await meter.readings(*SEPT)
    await meter.watermark(AFTER_SEPT_CLOSE)
    await kit.wait_until(lambda: _count(db, "SELECT count(*) FROM invoices"), 2, what="September invoices")
    headers = {**token("house-01"), "Idempotency-Key": "pay-sept-1"}

    first = await client.post("/resident/payments", json={"amount": "0.30", "method": "venmo"}, headers=headers)
    again = await client.post("/resident/payments", json={"amount": "0.30", "method": "venmo"}, headers=headers)
    other = await client.post("/resident/payments", json={"amount": "0.31", "method": "venmo"}, headers=headers)
    missing_key = await client.post("/resident/payments", json={"amount": "0.30", "method": "venmo"}, headers=token("house-01"))

    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["payment_id"] == first.json()["payment_id"]
    assert first.json()["balance_cents"] == 58 - 30
    assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key"
    assert missing_key.status_code == 422 and "Idempotency-Key" in missing_key.text
    assert await _count(db, "SELECT count(*) FROM payments") == 1

    # The clock passes the due date (2021-10-24T07:00Z) with 28 cents unpaid.
    await meter.watermark(datetime(2021, 10, 25, tzinfo=UTC))
    await kit.wait_until(
        lambda: _count(db, "SELECT past_due_cents FROM invoices WHERE invoice_id = 'house-01.2021-09'"), 28,
        what="past due",
    )
    await kit.wait_until(
        lambda: _count(db, "SELECT past_due_cents FROM invoices WHERE invoice_id = 'house-02.2021-09'"), 92,
        what="house-02 past due (4,000 Wh x $0.23, unpaid)",
    )
    await asyncio.sleep(1.5)  # the relay publishes within a second
    published = [e for _, e in await kit.read_topic(settings, settings.topic(topics.PAST_DUE))]
    notices = {e.invoice_id: e.unpaid_cents for e in published if isinstance(e, events.InvoicePastDue)}
    assert notices == {"house-01.2021-09": 28, "house-02.2021-09": 92}
    payments = [e for _, e in await kit.read_topic(settings, settings.topic(topics.PAYMENTS))]
    received = [e for e in payments if isinstance(e, events.PaymentReceived)]
    assert [(e.amount_cents, e.method, e.occurred_at) for e in received] == [(30, "venmo", AFTER_SEPT_CLOSE)]
    # Billing's own watermarks follow on the billing topics.
    assert any(isinstance(e, events.ClockWatermarkReached) for e in payments)

    account = (await client.get("/resident/account", headers=token("house-01"))).json()
    assert (account["balance_cents"], account["past_due"], account["past_due_cents"]) == (28, True, 28)
    listed = (await client.get("/resident/invoices", headers=token("house-01"))).json()
    assert [(i["invoice_id"], i["paid_cents"], i["outstanding_cents"], i["status"]) for i in listed] == [
        ("house-01.2021-09", 30, 28, "past_due")
    ]
