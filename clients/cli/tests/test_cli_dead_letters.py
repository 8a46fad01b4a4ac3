"""`energychain dead-letters list|redrive` call meter-ingest's dead-letter routes with the login's token and say what came back."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from energychain_cli.main import app

from .conftest import FakeService

pytestmark = pytest.mark.unit
READING = {
    "id": "6b1f0c3e-0000-5000-8000-000000000001", "kind": "reading", "reason": "negative_value",
    "detail": "HOME CONSUMPTION (kWh): -0.60 kWh is negative", "occurred_at": "2021-11-07T10:00:00Z",
    "dead_lettered_at": "2026-12-01T10:00:00Z", "position": "meter.readings.dlq:3:12", "house_id": "house-01",
    "source_file": "house-01.csv", "source_line": 4, "raw": "2021-11-07T01:00:00,0,0,0,-0.60,0,0.60,40",
    "entry_id": None, "producer": None, "request": None,
    "resolution": {"reading_event_id": "r-9", "raw": "fixed", "redriven_by": "gsa-operator",
                   "resolved_at": "2026-12-01T11:00:00Z"},
}
APPEND = {
    "id": "6b1f0c3e-0000-5000-8000-000000000002", "kind": "ledger_append", "reason": "bad_signature",
    "detail": "the signature does not verify", "occurred_at": "2021-09-01T07:00:00Z",
    "dead_lettered_at": "2026-12-01T10:00:00Z", "position": "ledger.appends.dlq:1:0", "house_id": None,
    "source_file": None, "source_line": None, "raw": None, "entry_id": "invoice-x", "producer": "billing",
    "request": {"entry_id": "invoice-x"}, "resolution": None,
}


class MeterIngest(FakeService):
    """The two dead-letter routes as the client sees them."""

    seen: list[tuple[str, str, dict | None, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append(("GET", self.path, None, self.headers.get("Authorization")))
        self.reply_json(200, {"caught_up": True, "total": 2, "unresolved": 1,
                           "by_reason": {"bad_signature": 1, "negative_value": 1}, "dead_letters": [READING, APPEND],
                           "this_process": {"total": 0, "by_reason": {}}})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(("POST", self.path, body, self.headers.get("Authorization")))
        if self.path.startswith(f"/dead-letters/{READING['id']}/"):
            self.reply_problem(409, "Conflict", "dead_letter_id", "already re-driven by gsa-operator as reading r-9",
                               rule="already_redriven")
            return
        self.reply_json(200, {"dead_letter_id": "dl-7", "reading_event_id": "r-10", "house_id": "house-01",
                           "source_file": "house-01.csv", "source_line": 7, "redriven_by": "gsa-operator",
                           "resolved_at": "2026-12-01T12:00:00Z"})


@pytest.fixture
def meter_ingest(serve, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one table row per dead letter
    return serve(MeterIngest, url_setting="EC_METER_INGEST_URL", username="gsa-operator", token="t-gsa")


def test_the_list_sends_the_filters_with_times_in_utc_and_shows_each_dead_letter_and_the_counts(meter_ingest):
    result = CliRunner().invoke(app, ["dead-letters", "list", "--kind", "reading", "--reason", "negative_value",
                                      "--since", "2021-11-07", "--until", "2021-11-08T00:00:00-08:00"])
    assert result.exit_code == 0, result.output
    ((method, path, _, token),) = meter_ingest
    url = urlsplit(path)
    assert (method, url.path, token) == ("GET", "/dead-letters", "Bearer t-gsa")
    assert parse_qs(url.query) == {"kind": ["reading"], "reason": ["negative_value"], "limit": ["200"],
                                   "since": ["2021-11-07T00:00:00+00:00"], "until": ["2021-11-08T00:00:00-08:00"]}
    out = result.output
    assert READING["id"] in out and "house-01.csv:4" in out and READING["raw"] in out and "reading r-9 by" in out
    assert APPEND["id"] in out and "billing entry invoice-x" in out and "the signature does not verify" in out
    assert "2 dead letters (1 unresolved, 2 shown): bad_signature 1, negative_value 1" in out


def test_a_redrive_posts_the_corrected_row_and_names_the_reading_it_became(meter_ingest):
    row = "2021-11-07T04:00:00,0,0,0,0.50,0,0.50,100"
    result = CliRunner().invoke(app, ["dead-letters", "redrive", "dl/7", "--raw", row])
    assert result.exit_code == 0, result.output
    assert meter_ingest == [("POST", "/dead-letters/dl%2F7/redrive", {"raw": row}, "Bearer t-gsa")]
    assert "house-01.csv:7 of house-01 is reading r-10" in result.output


def test_a_refused_redrive_says_why_and_fails(meter_ingest):
    result = CliRunner().invoke(app, ["dead-letters", "redrive", READING["id"], "--raw", "x"])
    assert result.exit_code == 1
    assert "409" in result.output and "already re-driven by gsa-operator" in result.output
