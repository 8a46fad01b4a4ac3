"""`energychain invoice-pdf` writes exactly the bytes billing sends, with the login's token, and names a refusal."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from energychain_cli.main import app

from .conftest import FakeService

pytestmark = pytest.mark.unit
DOCUMENT = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF\n"


class Billing(FakeService):
    """Billing's PDF route as seen from the client: one invoice of one bearer, 404 otherwise."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/resident/invoices/house-01.2021-09/pdf" and self.headers.get("Authorization") == "Bearer t-1":
            self.reply(200, DOCUMENT, "application/pdf",
                       Content_Disposition='attachment; filename="invoice-house-01.2021-09.pdf"')
            return
        self.reply_problem(404, "Not Found", "invoice_id", "no invoice on this account")


@pytest.fixture
def billing(serve):
    return serve(Billing, url_setting="EC_BILLING_URL", username="luis", token="t-1")


def test_the_pdf_is_written_byte_for_byte_with_the_saved_login(billing, tmp_path):
    out = tmp_path / "september.pdf"
    result = CliRunner().invoke(app, ["invoice-pdf", "house-01.2021-09", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == DOCUMENT
    assert billing == [("/resident/invoices/house-01.2021-09/pdf", "Bearer t-1")]
    assert "wrote" in result.output and "house-01.2021-09" in result.output


def test_an_invoice_that_is_not_yours_is_refused_and_no_file_is_written(billing, tmp_path):
    out = tmp_path / "other.pdf"
    result = CliRunner().invoke(app, ["invoice-pdf", "house-02.2021-09", "--out", str(out)])
    assert result.exit_code == 1
    assert "404" in result.output and "no invoice on this account" in result.output
    assert not out.exists()


def test_an_invoice_id_is_sent_as_one_path_segment(billing, tmp_path):
    CliRunner().invoke(app, ["invoice-pdf", "../account", "--out", str(tmp_path / "x.pdf")])
    assert billing[0][0] == "/resident/invoices/..%2Faccount/pdf"
