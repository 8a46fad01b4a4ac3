"""`energychain program amend|move|import`: what the CLI sends billing's administration API, and a refusal named."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from energychain_cli.main import app

from .conftest import FakeService

pytestmark = pytest.mark.unit


class Billing(FakeService):
    """The administration routes as the CLI sees them: every POST recorded and accepted, an earlier amendment refused."""

    seen: list = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, body))
        if body.get("effective_date") == "2021-01-01":
            self.reply_problem(409, "Conflict", "effective_date", "a later amendment takes a later date",
                               rule="amended_from_a_later_date")
            return
        self.reply_json(201, {**body, "event_ids": ["e-1"]})


@pytest.fixture
def billing(serve):
    return serve(Billing, url_setting="EC_BILLING_URL", username="gsa-operator", token="t-1")


def test_amend_sends_only_the_terms_named_from_the_day_given(billing):
    result = CliRunner().invoke(app, ["program", "amend", "house-01", "--from", "2022-03-01", "--rate", "0.21",
                                      "--reserve", "3000"])
    assert result.exit_code == 0, result.output
    assert billing == [("/admin/residents/house-01/amendments",
                        {"effective_date": "2022-03-01", "rate_usd_per_kwh": "0.21", "reserve_wh": 3000})]
    assert "amended from 2022-03-01" in result.output


def test_an_amendment_refused_exits_1_naming_the_field(billing):
    result = CliRunner().invoke(app, ["program", "amend", "house-01", "--from", "2021-01-01", "--rate", "0.21"])
    assert result.exit_code == 1 and "effective_date" in result.output


def test_move_sends_the_municipality_and_the_day(billing):
    result = CliRunner().invoke(app, ["program", "move", "house-01", "--to", "reedley", "--from", "2022-05-01"])
    assert result.exit_code == 0, result.output
    assert billing == [("/admin/residents/house-01/moves", {"effective_date": "2022-05-01", "municipality_id": "reedley"})]


def test_import_enrols_with_the_starting_terms_then_sends_each_later_change(billing, tmp_path):
    contract = {"rate_usd_per_kwh": "0.2", "battery_wh": 10000, "reserve_wh": 2000, "start_date": "2021-06-27",
                "end_date": "2022-07-23"}
    amendment = {"effective_date": "2022-01-01", "rate_usd_per_kwh": "0.19", "escalator_percent": "2",
                 "reserve_wh": 2000, "billing_basis": "delivered"}
    move = {"effective_date": "2022-03-01", "municipality_id": "reedley"}
    registry = {"municipalities": [{"municipality_id": "parlier", "name": "Parlier"}],
                "residents": [{"house_id": "house-01", "username": "luis", "name": "Luis", "address": "1 Main St",
                               "municipality_id": "parlier", "contract": contract, "amendments": [amendment],
                               "moves": [move]}]}
    file = tmp_path / "registry.json"
    file.write_text(json.dumps(registry))
    result = CliRunner().invoke(app, ["program", "import", str(file)])
    assert result.exit_code == 0, result.output
    enrolled = {**registry["residents"][0], "contract": {k: v for k, v in contract.items() if k != "end_date"}}
    for later in ("amendments", "moves"):
        enrolled.pop(later)
    assert billing == [
        ("/admin/municipalities", registry["municipalities"][0]),
        ("/admin/residents", enrolled),
        ("/admin/residents/house-01/amendments", amendment),
        ("/admin/residents/house-01/moves", move),
        ("/admin/residents/house-01/end", {"end_date": "2022-07-23"}),
    ]
    assert "1 residents enrolled, 3 later changes" in result.output
