"""The invoice PDF: exact money, energy and rates, local dates, every line, the past-due notice; same input, same bytes.

The document is read back with pypdf, a PDF text extractor this project did not write.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from energychain_billing.invoice_pdf import (
    FONT_DIR, FONT_PACKAGE, InvoiceAccount, InvoiceFontMissing, format_cents, format_kwh, format_rate, local_time,
    past_due_notice, pdf_filename, period_dates, render_invoice_pdf,
)

pytestmark = pytest.mark.unit
LA = ZoneInfo("America/Los_Angeles")
UTC = timezone.utc
ACCOUNT = InvoiceAccount(
    name="Luis Martínez", address="8672 E Young Ave, Parlier, CA 93648", house_id="house-01",
    municipality="Parlier", zone=LA,
)


def invoice(**overrides) -> dict:
    """An invoice shaped as GET /resident/invoices/{id} returns it (the renderer prints amounts, it never prices)."""
    value = {
        "invoice_id": "house-01.2021-10", "period": "2021-10",
        "period_start": "2021-10-01T07:00:00+00:00", "period_end": "2021-11-01T07:00:00+00:00",
        "issued_at": "2021-11-03T07:00:00+00:00", "due_at": "2021-11-24T07:00:00+00:00",
        "total_cents": 123_456_789 + 58 + 23 + 47 - 1_250, "new_charges_cents": 123_456_789 + 23 + 47,
        "energy_wh": 1001, "paid_cents": 0, "outstanding_cents": 0, "status": "paid", "past_due": False,
        "lines": [
            {"number": 1, "kind": "balance_forward", "description": "balance carried forward", "energy_wh": None,
             "rate_usd_per_kwh": None, "amount_cents": 58},
            {"number": 2, "kind": "ppa_energy", "description": "PPA energy delivered (contract year 1)",
             "energy_wh": 1001, "rate_usd_per_kwh": "0.230000", "amount_cents": 23},
            {"number": 3, "kind": "ppa_energy", "description": "PPA energy delivered (contract year 2)",
             "energy_wh": 536_764_300, "rate_usd_per_kwh": "0.234600", "amount_cents": 123_456_789},
            {"number": 4, "kind": "late_adjustment", "description": "late readings of earlier periods (contract year 2)",
             "energy_wh": 2000, "rate_usd_per_kwh": "0.234600", "amount_cents": 47},
            {"number": 5, "kind": "trade_credit", "description": "reserve sold on the wholesale market, less the GSA fee",
             "energy_wh": None, "rate_usd_per_kwh": None, "amount_cents": -1_250},
        ],
    }
    value.update(overrides)
    return value


def text_of(document: bytes) -> str:
    """The document's text with every run of white space made one space."""
    reader = PdfReader(io.BytesIO(document))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_money_is_formatted_exactly_from_integer_cents():
    assert [format_cents(c) for c in (0, 7, 58, 100, 123_456_789, -30, -1_250)] == [
        "$0.00", "$0.07", "$0.58", "$1.00", "$1,234,567.89", "-$0.30", "-$12.50",
    ]


def test_energy_is_kwh_with_every_watt_hour():
    assert [format_kwh(wh) for wh in (0, 1, 999, 2500, 1_234_567)] == ["0.000", "0.001", "0.999", "2.500", "1,234.567"]


def test_rates_keep_every_stated_decimal_and_drop_only_trailing_zeros():
    assert [format_rate(r) for r in ("0.230000", "0.234600", "0.239292", "1")] == ["0.23", "0.2346", "0.239292", "1.00"]


def test_periods_and_dates_are_local_to_the_municipality():
    # November 2021 in Parlier: daylight time ends on the 7th, so the period's end is 08:00 UTC.
    start, end = datetime(2021, 11, 1, 7, tzinfo=UTC), datetime(2021, 12, 1, 8, tzinfo=UTC)
    assert period_dates(start, end, LA) == ("2021-11-01", "2021-11-30")
    assert local_time(datetime(2021, 10, 24, 7, tzinfo=UTC), LA) == "2021-10-24 00:00 PDT"
    assert local_time(datetime(2021, 12, 24, 8, tzinfo=UTC), LA) == "2021-12-24 00:00 PST"


def test_the_pdf_holds_the_account_period_dates_every_line_and_the_total():
    document = render_invoice_pdf(invoice(), ACCOUNT)
    assert document.startswith(b"%PDF-")
    text = text_of(document)
    for expected in (
        "Luis Martínez", "8672 E Young Ave, Parlier, CA 93648", "house-01", "Parlier", "house-01.2021-10",
        "October 2021: 2021-10-01 to 2021-10-31 (America/Los_Angeles)",
        "Issue date 2021-11-03 00:00 PDT",
        "Due date 2021-11-23 23:00 PST",  # 21 days after issue, across the end of daylight time
        "# Description Energy (kWh) Rate ($/kWh) Amount",
        "1 balance carried forward $0.58",
        "2 PPA energy delivered (contract year 1) 1.001 0.23 $0.23",
        "3 PPA energy delivered (contract year 2) 536,764.300 0.2346 $1,234,567.89",
        "4 late readings of earlier periods (contract year 2) 2.000 0.2346 $0.47",
        "5 reserve sold on the wholesale market, less the GSA fee -$12.50",
        "Balance carried forward $0.58", "Charges this period $1,234,556.09", "Total $1,234,556.67",
    ):
        assert expected in text, expected
    assert "PAST DUE" not in text


def test_a_past_due_invoice_carries_the_notice_with_the_unpaid_amount():
    overdue = invoice(paid_cents=30, outstanding_cents=28, status="past_due", past_due=True)
    text = text_of(render_invoice_pdf(overdue, ACCOUNT))
    assert "PAST DUE" in text
    assert "$0.28 of this invoice was not paid by its due date, 2021-11-23 23:00 PST." in text
    assert "Status past due" in text
    assert past_due_notice(invoice(), LA) is None


def test_an_invoice_without_a_balance_carried_shows_none():
    first = invoice(lines=invoice()["lines"][1:2], total_cents=23)
    text = text_of(render_invoice_pdf(first, ACCOUNT))
    assert "carried forward" not in text
    assert "Total $0.23" in text


def test_the_same_invoice_gives_the_same_bytes():
    assert render_invoice_pdf(invoice(), ACCOUNT) == render_invoice_pdf(invoice(), ACCOUNT)


def test_a_missing_font_is_named_with_the_package_that_installs_it(tmp_path):
    with pytest.raises(InvoiceFontMissing) as caught:
        render_invoice_pdf(invoice(), ACCOUNT, font_dir=tmp_path)
    assert str(tmp_path / "DejaVuSans.ttf") in str(caught.value)
    assert f"apt-get install {FONT_PACKAGE}" in str(caught.value)


def test_the_font_is_installed_here():
    assert (FONT_DIR / "DejaVuSans.ttf").is_file(), f"apt-get install {FONT_PACKAGE}"


def test_the_file_name_is_the_invoice_id_with_safe_characters_only():
    assert pdf_filename("house-01.2021-09") == "invoice-house-01.2021-09.pdf"
    assert pdf_filename('a"b/c;d é') == "invoice-a_b_c_d__.pdf"


def test_an_invoice_without_lines_says_so_and_totals_zero():
    empty = invoice(lines=[], total_cents=0, new_charges_cents=0, energy_wh=0)
    text = text_of(render_invoice_pdf(empty, ACCOUNT))
    assert "No lines: nothing was billed or carried forward this period." in text
    assert "Total $0.00" in text
