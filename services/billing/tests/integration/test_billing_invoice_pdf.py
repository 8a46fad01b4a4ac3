"""Invoices as PDF downloads, through the real broker and database.

The test is the meter: it publishes readings and in-band watermarks to meter.readings,
billing's worker issues real invoices, one resident pays and the other does not, and the
residents download their invoices as PDFs from billing's API. Each document is read back
with pypdf (a PDF text extractor this project did not write) and compared with what the
JSON invoice route returns for the same invoice.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from pypdf import PdfReader

from energychain_shared import events, keys, topics
from energychain_shared.auth import Principal, Role, issue_token
from energychain_shared.kafka import make_producer

from energychain_billing.api import create_app

pytestmark = pytest.mark.integration
UTC = timezone.utc
PARLIER = ZoneInfo("America/Los_Angeles")


def reading(house: str, start: datetime, *, home: int, imported: int) -> events.MeterReadingRecorded:
    return events.MeterReadingRecorded(
        event_id=events.MeterReadingRecorded.id_for(house, start), occurred_at=start + timedelta(hours=1),
        producer="test-meter", house_id=house, interval_start=start, solar_wh=0, home_wh=home,
        battery_charged_wh=0, battery_discharged_wh=home - imported, grid_import_wh=imported, grid_export_wh=0,
        battery_level_pct=50, imbalance_wh=0, source_file="test", source_line=1,
    )


class Meter:
    """Publishes readings keyed by house and watermarks to every partition, in order."""

    def __init__(self, settings) -> None:
        self.topic = settings.topic(topics.METER_READINGS)
        self.producer = make_producer(settings, client_id="billing-test-meter")

    async def readings(self, *items: events.MeterReadingRecorded) -> None:
        for item in items:
            await (await self.producer.send(self.topic, events.encode(item), key=item.house_id.encode()))

    async def watermark(self, sim_time: datetime) -> None:
        for partition in range(topics.METER_READINGS.partitions):
            mark = events.ClockWatermarkReached(
                event_id=events.deterministic_id("test-watermark", partition, sim_time.isoformat()),
                occurred_at=sim_time, producer="test-meter", sim_time=sim_time, partition=partition,
            )
            await (await self.producer.send(self.topic, events.encode(mark), partition=partition))


SEPT = [
    reading("house-01", datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500),  # 1,500 Wh delivered
    reading("house-01", datetime(2021, 9, 20, 17, tzinfo=UTC), home=1000, imported=0),  # 1,000 Wh
    reading("house-02", datetime(2021, 9, 12, 17, tzinfo=UTC), home=4000, imported=0),  # 4,000 Wh
]
LATE_SEPT = reading("house-01", datetime(2021, 9, 25, 17, tzinfo=UTC), home=3000, imported=1000)  # 2,000 Wh, late
OCT = reading("house-01", datetime(2021, 10, 15, 17, tzinfo=UTC), home=1234, imported=1)  # 1,233 Wh
AFTER_SEPT_CLOSE = datetime(2021, 10, 3, 12, tzinfo=UTC)  # September closes 2021-10-03T07:00Z
AFTER_OCT_CLOSE = datetime(2021, 11, 3, 12, tzinfo=UTC)  # past September's due date (2021-10-24T07:00Z) too


@pytest.fixture
async def billing(infrastructure, tmp_path, kit):
    """Topics and a schema of their own, the worker running, the API app, tokens per resident."""
    prefix = f"{infrastructure.topic_prefix}bp-{uuid.uuid4().hex[:6]}."
    settings = kit.billing_settings(infrastructure, tmp_path / "keys", topic_prefix=prefix)
    from energychain_shared.kafka import ensure_topics

    await ensure_topics(settings)
    await kit.migrated(settings)
    worker = await kit.start_worker(settings)
    meter = Meter(settings)
    await meter.producer.start()
    app = create_app(settings, context=worker.ctx, producer=worker.producer)
    token_key = keys.load_private_key(settings.resolved_keys_dir, keys.TOKEN_KEY)

    def token(house: str) -> dict[str, str]:
        principal = Principal(role=Role.RESIDENT, subject=house, municipality_id="parlier", house_id=house)
        return {"Authorization": f"Bearer {issue_token(token_key, principal, ttl=timedelta(hours=1))}"}

    connection = await asyncpg.connect(settings.asyncpg_dsn, server_settings={"search_path": settings.billing_db_schema})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://billing") as client:
        yield meter, client, token, connection
    await connection.close()
    await meter.producer.stop()
    await worker.close()


def dollars(cents: int) -> str:
    """Integer cents as the invoice prints them: $1,234.56, -$0.30 (written here, not imported)."""
    return f"{'-' if cents < 0 else ''}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def pdf_text(document: bytes) -> str:
    """Every page's text, each run of white space made one space."""
    reader = PdfReader(io.BytesIO(document))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


async def download(client, headers, invoice_id: str) -> tuple[dict, str]:
    """The invoice from the JSON route and the text of its PDF."""
    answer = await client.get(f"/resident/invoices/{invoice_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    document = await client.get(f"/resident/invoices/{invoice_id}/pdf", headers=headers)
    assert document.status_code == 200, document.text
    assert document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"] == f'attachment; filename="invoice-{invoice_id}.pdf"'
    assert document.content.startswith(b"%PDF-")
    return answer.json(), pdf_text(document.content)


def assert_pdf_matches(detail: dict, text: str) -> None:
    """Each line's number, description and amount, the total and the due date, as the JSON route returns them."""
    for line in detail["lines"]:
        row = f"{line['number']} {line['description']} "
        assert row in text, (row, text)
        after = text[text.index(row) + len(row):]
        # the amount ends the row: energy and rate (if any) come between the description and it
        assert dollars(line["amount_cents"]) in after.split(" ", 3)[:3], (line, after[:80])
    assert f"Total {dollars(detail['total_cents'])}" in text
    due = datetime.fromisoformat(detail["due_at"]).astimezone(PARLIER)
    assert f"Due date {due:%Y-%m-%d}" in text
    assert detail["invoice_id"] in text


async def _count(connection, query: str, *args):
    return await connection.fetchval(query, *args)


async def test_a_resident_downloads_each_real_invoice_as_a_pdf_with_its_lines_total_due_date_and_past_due_notice(
    billing, kit
):
    meter, client, token, db = billing
    await meter.readings(*SEPT)
    await meter.watermark(AFTER_SEPT_CLOSE)
    await kit.wait_until(lambda: _count(db, "SELECT count(*) FROM invoices"), 2, what="September invoices")
    # house-02 pays September in full before it is due; house-01 pays nothing.
    paid = await client.post("/resident/payments", json={"amount": "0.92", "method": "ach"},
                             headers={**token("house-02"), "Idempotency-Key": "pdf-sept"})
    assert paid.status_code == 201, paid.text
    await meter.readings(LATE_SEPT, OCT)
    await meter.watermark(AFTER_OCT_CLOSE)
    await kit.wait_until(lambda: _count(db, "SELECT count(*) FROM invoices"), 4, what="October invoices")
    await kit.wait_until(
        lambda: _count(db, "SELECT count(*) FROM invoices WHERE period = '2021-09' AND past_due_cents IS NOT NULL"), 2,
        what="September's due date applied",
    )

    # Past due: house-01's September, unpaid.
    detail, text = await download(client, token("house-01"), "house-01.2021-09")
    assert (detail["status"], detail["past_due"], detail["outstanding_cents"]) == ("past_due", True, 58)
    assert_pdf_matches(detail, text)
    assert "PAST DUE" in text
    assert f"{dollars(detail['outstanding_cents'])} of this invoice was not paid by its due date" in text
    for expected in ("Luis Martinez", "8672 E Young Ave, Parlier, CA 93648", "house-01", "Parlier",
                     "September 2021: 2021-09-01 to 2021-09-30 (America/Los_Angeles)",
                     "2.500 0.23 $0.58"):  # 2,500 Wh at $0.23/kWh = 57.5 cents, half-up
        assert expected in text, expected

    # Open, with a balance carried forward, this period's energy and a late adjustment.
    detail, text = await download(client, token("house-01"), "house-01.2021-10")
    assert [line["kind"] for line in detail["lines"]] == ["balance_forward", "ppa_energy", "late_adjustment"]
    assert (detail["status"], detail["past_due"]) == ("open", False)
    assert_pdf_matches(detail, text)
    assert "Balance carried forward $0.58" in text
    assert "1.233 0.23 $0.28" in text  # 1,233 Wh exactly: 28.359 cents
    assert "PAST DUE" not in text

    # Paid before its due date: no notice.
    detail, text = await download(client, token("house-02"), "house-02.2021-09")
    assert (detail["status"], detail["past_due"], detail["paid_cents"]) == ("paid", False, 92)
    assert_pdf_matches(detail, text)
    assert "Chauncy Laubach" in text and "Status paid" in text
    assert "PAST DUE" not in text

    # Nothing billed in October: an invoice without lines still downloads.
    detail, text = await download(client, token("house-02"), "house-02.2021-10")
    assert detail["lines"] == [] and detail["total_cents"] == 0
    assert_pdf_matches(detail, text)


async def test_another_residents_invoice_pdf_is_not_found_like_its_json(billing, kit):
    meter, client, token, db = billing
    await meter.readings(*SEPT)
    await meter.watermark(AFTER_SEPT_CLOSE)
    await kit.wait_until(lambda: _count(db, "SELECT count(*) FROM invoices"), 2, what="September invoices")

    for invoice_id in ("house-01.2021-09", "house-02.1999-01"):
        as_json = await client.get(f"/resident/invoices/{invoice_id}", headers=token("house-02"))
        as_pdf = await client.get(f"/resident/invoices/{invoice_id}/pdf", headers=token("house-02"))
        assert as_json.status_code == as_pdf.status_code == 404
        same = {"type", "title", "status", "detail", "field"}  # the same problem; only `instance` (the path) differs
        assert {k: as_pdf.json()[k] for k in same} == {k: as_json.json()[k] for k in same}
        assert as_pdf.json()["field"] == "invoice_id"
    assert (await client.get("/resident/invoices/house-01.2021-09/pdf")).status_code == 401
    assert (await client.get("/resident/invoices/house-01.2021-09/pdf", headers=token("house-01"))).status_code == 200
