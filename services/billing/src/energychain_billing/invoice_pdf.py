"""An invoice as a PDF document: bytes from the invoice the API returns and the account it belongs to.

Pure: no database, no network, no clock; the only file it reads is the font. The same
invoice and account give the same bytes (the document is dated at the invoice's issue).

Money is integer cents and energy integer Wh, formatted exactly (no floats); rates are the
API's decimal strings. Dates are local to the municipality (America/Los_Angeles for Parlier).
The text is set in DejaVu Sans (Debian's fonts-dejavu-core), a Unicode TrueType font, so any
name or address prints as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = "DejaVuSans.ttf"
FONT_BOLD = "DejaVuSans-Bold.ttf"
FONT_PACKAGE = "fonts-dejavu-core"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
PAST_DUE_TITLE = "PAST DUE"


class InvoiceFontMissing(FileNotFoundError):
    """The TrueType font the invoice is set in is not installed."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"font {path} is missing: install it with `apt-get install {FONT_PACKAGE}`")
        self.path = path


@dataclass(frozen=True)
class InvoiceAccount:
    """The account header of an invoice, as the registry has it."""

    name: str
    address: str
    house_id: str
    municipality: str
    zone: ZoneInfo


# ------------------------------------------------------------------ formatting
def format_cents(cents: int) -> str:
    """123456 -> "$1,234.56"; -30 -> "-$0.30" (a credit)."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(int(cents)), 100)
    return f"{sign}${whole:,}.{rest:02d}"


def format_kwh(wh: int) -> str:
    """Watt-hours as kWh with every decimal: 2500 -> "2.500", 1 -> "0.001", 1234567 -> "1,234.567"."""
    sign = "-" if wh < 0 else ""
    whole, rest = divmod(abs(int(wh)), 1000)
    return f"{sign}{whole:,}.{rest:03d}"


def format_rate(text: str) -> str:
    """A rate string as stated, without trailing zeros past the cent: "0.230000" -> "0.23", "0.234600" -> "0.2346"."""
    rate = Decimal(text)
    exponent = min(rate.normalize().as_tuple().exponent, -2)
    return f"{rate.quantize(Decimal(1).scaleb(exponent)):f}"


def local_date(instant: datetime, zone: ZoneInfo) -> str:
    """The local calendar date of an instant: YYYY-MM-DD."""
    return instant.astimezone(zone).date().isoformat()


def local_time(instant: datetime, zone: ZoneInfo) -> str:
    """The local date and time of an instant with the zone's abbreviation: "2021-10-24 00:00 PDT"."""
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def period_dates(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """First and last local day of a period [start, end): end is the next period's local midnight."""
    last = end.astimezone(zone).date() - timedelta(days=1)
    return local_date(start, zone), last.isoformat()


def period_name(label: str) -> str:
    """"2021-09" -> "September 2021"."""
    year, month = label.split("-")
    return f"{MONTHS[int(month) - 1]} {int(year)}"


def pdf_filename(invoice_id: str) -> str:
    """The download's file name: invoice-<id>.pdf, with only safe characters."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in invoice_id)
    return f"invoice-{safe}.pdf"


def _instant(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def past_due_notice(invoice: Mapping[str, Any], zone: ZoneInfo) -> str | None:
    """The notice printed on a past-due invoice (the API's ``past_due``), None otherwise."""
    if not invoice.get("past_due"):
        return None
    return (
        f"{format_cents(int(invoice['outstanding_cents']))} of this invoice was not paid by its due date, "
        f"{local_time(_instant(invoice['due_at']), zone)}. Your municipality's escrow may cover it; "
        "your next payments repay that first."
    )


# ------------------------------------------------------------------ the document
def _fonts(font_dir: Path) -> tuple[Path, Path]:
    paths = (font_dir / FONT_REGULAR, font_dir / FONT_BOLD)
    for path in paths:
        if not path.is_file():
            raise InvoiceFontMissing(path)
    return paths


def render_invoice_pdf(invoice: Mapping[str, Any], account: InvoiceAccount, *, font_dir: Path = FONT_DIR) -> bytes:
    """The invoice (as ``GET /resident/invoices/{id}`` returns it) as a one-or-more-page PDF (US Letter)."""
    regular, bold = _fonts(font_dir)
    zone = account.zone
    issued_at, due_at = _instant(invoice["issued_at"]), _instant(invoice["due_at"])
    first_day, last_day = period_dates(_instant(invoice["period_start"]), _instant(invoice["period_end"]), zone)
    lines = list(invoice["lines"])
    carried = sum(int(line["amount_cents"]) for line in lines if line.get("kind") == "balance_forward")
    total = int(invoice["total_cents"])

    pdf = FPDF(orientation="portrait", unit="mm", format="letter")
    pdf.set_creation_date(issued_at)
    pdf.set_title(f"Invoice {invoice['invoice_id']}")
    pdf.set_author("EnergyChain billing")
    pdf.set_subject(f"Community solar PPA invoice, {period_name(invoice['period'])}")
    pdf.set_creator("EnergyChain billing")
    pdf.set_lang("en-US")
    pdf.add_font("DejaVu", "", regular)
    pdf.add_font("DejaVu", "B", bold)
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()
    width = pdf.epw

    def text(value: str, *, size: float = 10, style: str = "", height: float = 5.5, align: str = "L") -> None:
        pdf.set_font("DejaVu", style, size)
        pdf.multi_cell(width, height, value, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def pairs(rows: list[tuple[str, str]]) -> None:
        pdf.set_font("DejaVu", "", 10)
        with pdf.table(col_widths=(32, width - 32), width=width, first_row_as_headings=False, borders_layout="NONE",
                       text_align=("LEFT", "LEFT"), line_height=5.5, padding=(0.6, 1, 0.6, 0)) as table:
            for label, value in rows:
                row = table.row()
                row.cell(label, style=FontFace(emphasis="BOLD"))
                row.cell(value)

    # Heading
    text("EnergyChain", size=18, style="B", height=8)
    text("Community solar PPA invoice", size=11, height=6)
    pdf.ln(3)

    text("Account", size=12, style="B", height=7)
    pairs([
        ("Resident", account.name),
        ("Address", account.address),
        ("House", account.house_id),
        ("Municipality", account.municipality),
    ])
    pdf.ln(3)

    text("Invoice", size=12, style="B", height=7)
    pairs([
        ("Invoice", str(invoice["invoice_id"])),
        ("Billing period", f"{period_name(invoice['period'])}: {first_day} to {last_day} ({zone.key})"),
        ("Issue date", local_time(issued_at, zone)),
        ("Due date", local_time(due_at, zone)),
    ])
    pdf.ln(3)

    notice = past_due_notice(invoice, zone)
    if notice is not None:
        pdf.set_draw_color(176, 0, 32)
        pdf.set_fill_color(253, 236, 238)
        pdf.set_text_color(120, 0, 20)
        pdf.set_font("DejaVu", "B", 11)
        pdf.multi_cell(width, 6.5, PAST_DUE_TITLE, border="LTR", fill=True, align="L", padding=(1.5, 3, 0, 3),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(width, 5.5, notice, border="LBR", fill=True, align="L", padding=(0, 3, 1.5, 3),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.set_draw_color(0, 0, 0)
        pdf.ln(3)

    text("Lines", size=12, style="B", height=7)
    pdf.set_font("DejaVu", "", 9.5)
    pdf.set_draw_color(160, 160, 160)
    with pdf.table(col_widths=(9, width - 9 - 28 - 24 - 32, 28, 24, 32), width=width,
                   text_align=("RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT"), line_height=5.2,
                   borders_layout="HORIZONTAL_LINES", padding=(1.2, 1.5),
                   headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)), repeat_headings=1) as table:
        table.row(("#", "Description", "Energy (kWh)", "Rate ($/kWh)", "Amount"))
        for line in lines:
            energy = line.get("energy_wh")
            rate = line.get("rate_usd_per_kwh")
            table.row((
                str(line["number"]), str(line["description"]),
                "" if energy is None else format_kwh(int(energy)),
                "" if rate is None else format_rate(str(rate)),
                format_cents(int(line["amount_cents"])),
            ))
    pdf.set_draw_color(0, 0, 0)
    if not lines:
        pdf.ln(1)
        text("No lines: nothing was billed or carried forward this period.", size=9.5)
    pdf.ln(3)

    summary = []
    if carried:
        summary.append(("Balance carried forward" if carried > 0 else "Credit carried forward", format_cents(carried)))
    summary.append(("Charges this period", format_cents(total - carried)))
    summary.append(("Total", format_cents(total)))
    summary.append(("Paid", format_cents(int(invoice.get("paid_cents", 0)))))
    summary.append(("Outstanding", format_cents(int(invoice.get("outstanding_cents", 0)))))
    summary.append(("Status", str(invoice.get("status", "")).replace("_", " ")))
    pdf.set_font("DejaVu", "", 10)
    with pdf.table(col_widths=(50, 38), width=88, align="RIGHT", first_row_as_headings=False,
                   borders_layout="NONE", text_align=("LEFT", "RIGHT"), line_height=5.8,
                   padding=(0.5, 1)) as table:
        for label, value in summary:
            emphasis = "BOLD" if label == "Total" else None
            row = table.row(style=FontFace(emphasis=emphasis))
            row.cell(label)
            row.cell(value)
    pdf.ln(6)

    pdf.set_text_color(90, 90, 90)
    text(
        "Amounts in US dollars. Energy in kWh to the watt-hour; each energy line is billed at the PPA rate of its "
        f"contract year and rounded half-up to the cent. Dates and times are {zone.key}. Paid, outstanding and "
        "status are as of this download.",
        size=8, height=4,
    )
    return bytes(pdf.output())
