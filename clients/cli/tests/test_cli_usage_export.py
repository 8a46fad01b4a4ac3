"""`energychain usage-export` asks billing for the range and format given, writes its bytes, and names a refusal."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from energychain_cli.main import app

from .conftest import FakeService

pytestmark = pytest.mark.unit
FEED = b'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"></feed>\n'


class Billing(FakeService):
    """Billing's export route as the client sees it: a feed for a good range, the field refusal otherwise."""

    seen: list[tuple[str, dict[str, list[str]], str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.seen.append((url.path, query, self.headers.get("Authorization")))
        if query.get("to") == ["2021-12-01"]:
            self.reply(200, FEED, "application/atom+xml")
            return
        self.reply_problem(422, "Unprocessable Content", "to", "must be after from")


@pytest.fixture
def billing(serve):
    return serve(Billing, url_setting="EC_BILLING_URL", username="luis", token="t-1")


def test_the_export_of_the_range_is_written_byte_for_byte_with_the_saved_login(billing, tmp_path):
    out = tmp_path / "november.xml"
    result = CliRunner().invoke(app, ["usage-export", "--from", "2021-11-01", "--to", "2021-12-01", "--format", "xml",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == FEED
    assert billing == [(
        "/resident/usage/greenbutton", {"from": ["2021-11-01"], "to": ["2021-12-01"], "format": ["xml"]}, "Bearer t-1"
    )]
    assert "wrote" in result.output


def test_a_refused_range_names_its_field_and_writes_no_file(billing, tmp_path):
    out = tmp_path / "none.csv"
    result = CliRunner().invoke(app, ["usage-export", "--from", "2021-11-01", "--to", "2021-10-01", "--format", "csv",
                                      "--out", str(out)])
    assert result.exit_code == 1
    assert "422" in result.output and "must be after from" in result.output
    assert billing[0][1]["format"] == ["csv"]
    assert not out.exists()


def test_an_unknown_format_stops_before_any_request(billing, tmp_path):
    result = CliRunner().invoke(app, ["usage-export", "--from", "2021-11-01", "--to", "2021-12-01", "--format", "pdf",
                                      "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "format" in result.output
    assert billing == []
