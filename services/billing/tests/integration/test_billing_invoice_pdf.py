"""Invoices as PDF downloads, through the real broker and database.

The test is the meter: it publishes readings and in-band watermarks to meter.readings,
billing's worker issues real invoices, one resident pays and the other does not, and the
residents download their invoices as PDFs from billing's API. Each document is read back
with pypdf (a PDF text extractor this project did not write) and compared with what the
JSON invoice route returns for the same invoice.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from ..conftest import reading

pytestmark = pytest.mark.integration
UTC = timezone.utc
PARLIER = ZoneInfo("America/Los_Angeles")


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
    async with kit.billing_api(infrastructure, tmp_path, "bp") as api:
        yield api.meter, api.client, api.token, api.db


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
