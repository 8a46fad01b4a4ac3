"""`energychain usage-export` asks billing for the range and format given, writes its bytes, and names a refusal."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from energychain_cli.client import save_session
from energychain_cli.main import app
from energychain_shared.settings import CommonSettings

pytestmark = pytest.mark.unit
FEED = b'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"></feed>\n'


class Billing(BaseHTTPRequestHandler):
    """Billing's export route as the client sees it: a feed for a good range, the field refusal otherwise."""

    seen: list[tuple[str, dict[str, list[str]], str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.seen.append((url.path, query, self.headers.get("Authorization")))
        if query.get("to") == ["2021-12-01"]:
            self.send_response(200)
            self.send_header("Content-Type", "application/atom+xml")
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            self.wfile.write(FEED)
            return
        body = json.dumps({"type": "about:blank", "title": "Unprocessable Content", "status": 422, "detail": "to: must be after from",
                           "field": "to"}).encode()
        self.send_response(422)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def billing(tmp_path, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Billing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("EC_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("EC_BILLING_URL", f"http://127.0.0.1:{server.server_address[1]}")
    save_session(CommonSettings(), username="luis", token="t-1")
    Billing.seen = []
    yield Billing.seen
    server.shutdown()
    server.server_close()


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
