"""The program administration API on the real broker and database: municipalities and residents enrolled
while billing runs, billed without a restart; the rules' refusals; the registry topic folds to the same state.

The registry seed file of this test holds nothing: everything comes through the API.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from energychain_shared import events, topics
from energychain_shared.auth import Role
from energychain_shared.registry_feed import RegistryFeed

from ..conftest import reading

pytestmark = pytest.mark.integration
UTC = timezone.utc
FOWLER = {"municipality_id": "fowler", "name": "Fowler", "timezone": "America/Los_Angeles",
          "escrow": {"endowment_cents": 50000, "share_percent": "4", "cap_cents": 200000}}


def rosa(**contract) -> dict:
    terms = {"rate_usd_per_kwh": "0.20", "escalator_percent": "2", "battery_wh": 10000, "reserve_wh": 2000,
             "start_date": "2021-09-01", "billing_basis": "delivered", **contract}
    return {"house_id": "house-9", "username": "rosa", "name": "Rosa Diaz", "address": "1 Main St, Fowler",
            "municipality_id": "fowler", "contract": terms}


CSV_HEADER = ("house_id,username,name,address,municipality_id,rate_usd_per_kwh,escalator_percent,battery_wh,"
              "reserve_wh,start_date,billing_basis\n")
CSV_ROWS = "".join(f"house-{n},user{n},Resident {n},{n} Elm St,fowler,0.21,2,10000,1000,2021-09-01,delivered\n"
                   for n in range(20, 23))
AFTER_SEPT_CLOSE = datetime(2021, 10, 3, 12, tzinfo=UTC)


@pytest.fixture
async def api(infrastructure, tmp_path, kit):
    async with kit.billing_api(infrastructure, tmp_path, "adm", registry_path=tmp_path / "no-seed.json") as running:
        yield running


async def test_houses_enrolled_while_billing_runs_are_billed_without_a_restart(api, kit):
    gsa = api.token("gsa-admin", role=Role.GSA)
    # A reading of a house nobody enrolled yet is not billed.
    await api.meter.readings(reading("house-9", datetime(2021, 9, 5, 17, tzinfo=UTC), home=3000, imported=1000))
    await api.meter.watermark(datetime(2021, 9, 6, tzinfo=UTC))
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM progress WHERE watermark > '2021-09-01'"),
                         12, what="the first watermark applied")
    assert await api.db.fetchval("SELECT count(*) FROM hourly") == 0

    assert (await api.client.post("/admin/municipalities", json=FOWLER, headers=gsa)).status_code == 201
    enrolled = await api.client.post("/admin/residents", json=rosa(), headers=gsa)
    assert enrolled.status_code == 201, enrolled.text
    # Enrolled live: the worker, running since before, bills the house's September from its next readings.
    await api.meter.readings(reading("house-9", datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500),
                             reading("house-9", datetime(2021, 9, 20, 17, tzinfo=UTC), home=1000, imported=0))
    await api.meter.watermark(AFTER_SEPT_CLOSE)
    total = await kit.wait_until(
        lambda: api.db.fetchval("SELECT total_cents FROM invoices WHERE invoice_id = 'house-9.2021-09'"), 50,
        what="house-9's September invoice")
    assert total == 50  # 2,500 Wh delivered at $0.20/kWh (the first, unenrolled reading was never billed)
    invoice = await api.db.fetchrow("SELECT municipality_id FROM invoices WHERE invoice_id = 'house-9.2021-09'")
    assert invoice["municipality_id"] == "fowler"

    listed = (await api.client.get("/admin/residents", params={"municipality_id": "fowler"}, headers=gsa)).json()
    assert [r["house_id"] for r in listed] == ["house-9"]
    one = (await api.client.get("/admin/residents/house-9", headers=gsa)).json()
    assert one["contract"]["rate_usd_per_kwh"] == "0.20"
    assert [(h["change"], h["recorded_by"]) for h in one["history"]] == [("enrolled", "gsa-admin")]


async def test_the_same_enrolment_twice_changes_nothing_and_other_terms_are_a_conflict(api):
    gsa = api.token("gsa-admin", role=Role.GSA)
    assert (await api.client.post("/admin/municipalities", json=FOWLER, headers=gsa)).status_code == 201
    assert (await api.client.post("/admin/municipalities", json=FOWLER, headers=gsa)).status_code == 200
    other_town = await api.client.post("/admin/municipalities", json={**FOWLER, "name": "Fowler City"}, headers=gsa)
    assert other_town.status_code == 409 and other_town.json()["rule"] == "registered_with_other_terms"

    first = await api.client.post("/admin/residents", json=rosa(), headers=gsa)
    again = await api.client.post("/admin/residents", json=rosa(), headers=gsa)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["event_ids"] == []
    conflict = await api.client.post("/admin/residents", json=rosa(rate_usd_per_kwh="0.25"), headers=gsa)
    assert conflict.status_code == 409
    assert conflict.json()["field"] == "house_id" and conflict.json()["rule"] == "registered_with_other_terms"
    taken = await api.client.post("/admin/residents", json={**rosa(), "house_id": "house-10"}, headers=gsa)
    assert taken.status_code == 409 and taken.json()["field"] == "username"

    on_the_topic = await read_registry(api.settings)
    assert [type(e).__name__ for e in on_the_topic] == ["MunicipalityOnboarded", "ResidentEnrolled"]


async def test_invalid_requests_get_a_4xx_naming_the_field_and_change_nothing(api):
    gsa = api.token("gsa-admin", role=Role.GSA)
    unknown_town = await api.client.post("/admin/residents", json=rosa(), headers=gsa)
    assert unknown_town.status_code == 422 and unknown_town.json()["field"] == "municipality_id"
    too_big_reserve = await api.client.post("/admin/residents", json=rosa(reserve_wh=20000), headers=gsa)
    assert too_big_reserve.status_code == 422 and "reserve_wh exceeds battery_wh" in too_big_reserve.text
    bad_zone = await api.client.post("/admin/municipalities", json={**FOWLER, "timezone": "Mars/Olympus"}, headers=gsa)
    assert bad_zone.status_code == 422 and bad_zone.json()["field"] == "timezone"
    resident = await api.client.post("/admin/municipalities", json=FOWLER, headers=api.token("house-01"))
    assert resident.status_code == 403
    assert await api.db.fetchval("SELECT count(*) FROM registry_changes") == 0
    assert await read_registry(api.settings) == []


async def test_bulk_enrolment_takes_every_row_or_none(api):
    token = api.token("gsa-admin", role=Role.GSA)
    assert (await api.client.post("/admin/municipalities", json=FOWLER, headers=token)).status_code == 201
    gsa = {**token, "Content-Type": "text/csv"}
    bad = CSV_ROWS + "house-23,user23,Resident 23,23 Elm St,fowler,0.21,2,10000,1000,2021-09-31,delivered\n"
    refused = await api.client.post("/admin/residents/bulk", content=CSV_HEADER + bad, headers=gsa)
    assert refused.status_code == 422 and refused.json()["field"] == "line 5: start_date"
    duplicate = await api.client.post("/admin/residents/bulk", content=CSV_HEADER + CSV_ROWS + CSV_ROWS.splitlines()[0]
                                      .replace("user20", "user99") + "\n", headers=gsa)
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["field"] == "residents[3].house_id"
    assert await api.db.fetchval("SELECT count(*) FROM registry_changes WHERE kind = 'resident'") == 0

    taken = await api.client.post("/admin/residents/bulk", content=CSV_HEADER + CSV_ROWS, headers=gsa)
    assert taken.status_code == 201 and taken.json() == {"enrolled": 3, "unchanged": 0, "rows": 3}
    again = await api.client.post("/admin/residents/bulk", content=CSV_HEADER + CSV_ROWS, headers=gsa)
    assert again.status_code == 200 and again.json() == {"enrolled": 0, "unchanged": 3, "rows": 3}

    # The topic from its beginning folds into the registry the running service holds.
    async with RegistryFeed(api.settings) as replayed:
        assert replayed.registry == api.ctx.registry
        assert sorted(replayed.registry.by_house) == ["house-20", "house-21", "house-22"]


async def read_registry(settings) -> list[events.Event]:
    """Every event on the settings' program.registry topic (one partition), from its beginning."""
    from aiokafka import TopicPartition

    from energychain_shared.kafka import make_consumer

    partition = TopicPartition(settings.topic(topics.PROGRAM_REGISTRY), 0)
    consumer = make_consumer(settings, group_id=None, client_id="registry-test-reader")
    await consumer.start()
    try:
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        out = []
        while await consumer.position(partition) < end:
            out.extend(events.decode(r.value) for r in (await consumer.getmany(partition, timeout_ms=1000))
                       .get(partition, []))
        return out
    finally:
        await consumer.stop()


async def test_a_restarted_worker_rebuilds_the_same_registry_from_the_topic_and_keeps_billing_new_houses(
    infrastructure, tmp_path, kit,
):
    async with kit.billing_api(infrastructure, tmp_path, "adm-restart", registry_path=tmp_path / "no-seed.json") as api:
        gsa = api.token("gsa-admin", role=Role.GSA)
        assert (await api.client.post("/admin/municipalities", json=FOWLER, headers=gsa)).status_code == 201
        assert (await api.client.post("/admin/residents", json=rosa(), headers=gsa)).status_code == 201
        before = api.ctx.registry
        await api.meter.readings(reading("house-9", datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500))
        # Billing stops mid-stream and starts again: its registry comes from the topic alone (no seed file).
        await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM hourly"), 1, what="the first reading")
        restarted = await kit.start_worker(api.settings)
        try:
            assert restarted.ctx.registry == before
            assert restarted.ctx.resident("house-9").municipality_id == "fowler"
        finally:
            await restarted.close()
    # And again from nothing but the topic: a second billing on the same topics folds the same registry.
    async with RegistryFeed(api.settings) as replayed:
        assert replayed.registry == before


async def test_a_contract_ended_mid_month_gets_its_final_partial_invoice_once_the_grace_has_passed(api, kit):
    gsa = api.token("gsa-admin", role=Role.GSA)
    await api.client.post("/admin/municipalities", json=FOWLER, headers=gsa)
    assert (await api.client.post("/admin/residents", json=rosa(), headers=gsa)).status_code == 201
    await api.meter.readings(reading("house-9", datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500),
                             reading("house-9", datetime(2021, 10, 5, 17, tzinfo=UTC), home=1000, imported=0))
    await api.meter.watermark(AFTER_SEPT_CLOSE)
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM invoices"), 1, what="September's invoice")

    # A move-out inside September, already invoiced, would rewrite an issued invoice: refused.
    inside = await api.client.post("/admin/residents/house-9/end", json={"end_date": "2021-09-20"}, headers=gsa)
    assert inside.status_code == 422, inside.text
    assert inside.json()["rule"] == "effective_date_in_invoiced_period" and inside.json()["field"] == "end_date"
    ended = await api.client.post("/admin/residents/house-9/end", json={"end_date": "2021-10-12"}, headers=gsa)
    assert ended.status_code == 201, ended.text
    again = await api.client.post("/admin/residents/house-9/end", json={"end_date": "2021-10-12"}, headers=gsa)
    assert again.status_code == 200 and again.json()["event_ids"] == []
    other = await api.client.post("/admin/residents/house-9/end", json={"end_date": "2021-10-13"}, headers=gsa)
    assert other.status_code == 409 and other.json()["field"] == "end_date"

    # A reading after the end (had one got through) is not on the final invoice.
    await api.meter.readings(reading("house-9", datetime(2021, 10, 20, 17, tzinfo=UTC), home=4000, imported=0))
    ends = datetime(2021, 10, 13, 7, tzinfo=UTC)  # local midnight after 12 October
    await api.meter.watermark(ends + timedelta(hours=47))
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM progress WHERE watermark >= $1",
                                                 ends + timedelta(hours=47)), 12, what="the clock before the grace")
    assert await api.db.fetchval("SELECT count(*) FROM invoices") == 1  # the grace has not passed yet
    await api.meter.watermark(ends + timedelta(hours=49))
    final = await kit.wait_until(
        lambda: api.db.fetchval("SELECT total_cents - 30 FROM invoices WHERE invoice_id = 'house-9.2021-10'"), 20,
        what="the final invoice")  # 1,000 Wh at $0.20 on top of September's unpaid $0.30 (1,500 Wh)
    row = await api.db.fetchrow("SELECT period_end, issued_at, energy_wh FROM invoices WHERE invoice_id = 'house-9.2021-10'")
    assert (row["period_end"], row["issued_at"], row["energy_wh"]) == (ends, ends + timedelta(hours=48), 1000)
    assert final == 20
    # Nothing after the end: a month later still only the two invoices.
    await api.meter.watermark(datetime(2021, 12, 5, tzinfo=UTC))
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM progress WHERE watermark >= '2021-12-05'"), 12,
                         what="December")
    assert await api.db.fetchval("SELECT count(*) FROM invoices") == 2
    history = (await api.client.get("/admin/residents/house-9", headers=gsa)).json()["history"]
    assert [h["change"] for h in history] == ["enrolled", "ended"]


async def test_a_rate_amended_from_a_date_splits_the_next_invoice_at_that_date(api, kit):
    gsa = api.token("gsa-admin", role=Role.GSA)
    await api.client.post("/admin/municipalities", json=FOWLER, headers=gsa)
    assert (await api.client.post("/admin/residents", json=rosa(), headers=gsa)).status_code == 201
    await api.meter.readings(reading("house-9", datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500))
    await api.meter.watermark(AFTER_SEPT_CLOSE)
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM invoices"), 1, what="September's invoice")

    # From a day inside the invoiced September: refused, naming the rule; a request naming no term: 422.
    inside = await api.client.post("/admin/residents/house-9/amendments",
                                   json={"effective_date": "2021-09-20", "rate_usd_per_kwh": "0.15"}, headers=gsa)
    assert inside.status_code == 422 and inside.json()["rule"] == "effective_date_in_invoiced_period", inside.text
    assert inside.json()["field"] == "effective_date"
    nothing = await api.client.post("/admin/residents/house-9/amendments", json={"effective_date": "2021-10-15"},
                                    headers=gsa)
    assert nothing.status_code == 422, nothing.text
    unknown = await api.client.post("/admin/residents/house-77/amendments",
                                    json={"effective_date": "2021-10-15", "rate_usd_per_kwh": "0.15"}, headers=gsa)
    assert unknown.status_code == 422 and unknown.json()["field"] == "house_id"

    amend = {"effective_date": "2021-10-15", "rate_usd_per_kwh": "0.15"}
    amended = await api.client.post("/admin/residents/house-9/amendments", json=amend, headers=gsa)
    assert amended.status_code == 201, amended.text
    again = await api.client.post("/admin/residents/house-9/amendments", json=amend, headers=gsa)
    assert again.status_code == 200 and again.json()["event_ids"] == []
    earlier = await api.client.post("/admin/residents/house-9/amendments",
                                    json={"effective_date": "2021-10-10", "rate_usd_per_kwh": "0.16"}, headers=gsa)
    assert earlier.status_code == 409 and earlier.json()["rule"] == "amended_from_a_later_date"

    # October: 1,000 Wh on the 14th at $0.20, 2,000 Wh on the 15th (local midnight, PDT) at $0.15.
    await api.meter.readings(reading("house-9", datetime(2021, 10, 15, 6, tzinfo=UTC), home=1000, imported=0),
                             reading("house-9", datetime(2021, 10, 15, 7, tzinfo=UTC), home=2000, imported=0))
    await api.meter.watermark(datetime(2021, 11, 3, 12, tzinfo=UTC))
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM invoices"), 2, what="October's invoice")
    lines = json.loads(await api.db.fetchval("SELECT lines FROM invoices WHERE invoice_id = 'house-9.2021-10'"))
    energy = [(line["description"], line["rate_usd_per_kwh"], line["energy_wh"], line["amount_cents"])
              for line in lines if line["kind"] == "ppa_energy"]
    assert energy == [("PPA energy delivered (contract year 1)", "0.200000", 1000, 20),
                      ("PPA energy delivered (contract year 1, terms from 2021-10-15)", "0.150000", 2000, 30)]
    one = (await api.client.get("/admin/residents/house-9", headers=gsa)).json()
    assert [h["change"] for h in one["history"]] == ["enrolled", "amended"]
    assert one["amendments"] == [{"effective_date": "2021-10-15", "rate_usd_per_kwh": "0.15", "escalator_percent": "2",
                                  "reserve_wh": 2000, "billing_basis": "delivered"}]


async def test_a_house_moved_from_a_date_is_invoiced_to_its_new_municipality_from_then(api, kit):
    gsa = api.token("gsa-admin", role=Role.GSA)
    await api.client.post("/admin/municipalities", json=FOWLER, headers=gsa)
    reedley = {**FOWLER, "municipality_id": "reedley", "name": "Reedley"}
    denver = {**FOWLER, "municipality_id": "denver", "name": "Denver", "timezone": "America/Denver"}
    for town in (reedley, denver):
        assert (await api.client.post("/admin/municipalities", json=town, headers=gsa)).status_code == 201
    assert (await api.client.post("/admin/residents", json=rosa(), headers=gsa)).status_code == 201
    await api.meter.readings(reading("house-9", datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500))
    await api.meter.watermark(AFTER_SEPT_CLOSE)
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM invoices"), 1, what="September's invoice")

    zone = await api.client.post("/admin/residents/house-9/moves",
                                 json={"effective_date": "2021-10-15", "municipality_id": "denver"}, headers=gsa)
    assert zone.status_code == 422 and zone.json()["rule"] == "move_keeps_time_zone", zone.text
    inside = await api.client.post("/admin/residents/house-9/moves",
                                   json={"effective_date": "2021-09-15", "municipality_id": "reedley"}, headers=gsa)
    assert inside.status_code == 422 and inside.json()["rule"] == "effective_date_in_invoiced_period"
    move = {"effective_date": "2021-10-15", "municipality_id": "reedley"}
    assert (await api.client.post("/admin/residents/house-9/moves", json=move, headers=gsa)).status_code == 201
    assert (await api.client.post("/admin/residents/house-9/moves", json=move, headers=gsa)).status_code == 200

    await api.meter.readings(reading("house-9", datetime(2021, 10, 20, 17, tzinfo=UTC), home=1000, imported=0))
    await api.meter.watermark(datetime(2021, 11, 3, 12, tzinfo=UTC))
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM invoices"), 2, what="October's invoice")
    owners = await api.db.fetch("SELECT invoice_id, municipality_id FROM invoices ORDER BY invoice_id")
    assert [(r["invoice_id"], r["municipality_id"]) for r in owners] == [
        ("house-9.2021-09", "fowler"), ("house-9.2021-10", "reedley")]
    # Both towns list the house in its history; its accounts row is the new town's now.
    assert [r["house_id"] for r in (await api.client.get("/admin/residents", params={"municipality_id": "fowler"},
                                                         headers=gsa)).json()] == ["house-9"]
    town = (await api.client.get("/admin/municipalities/reedley", headers=gsa)).json()
    assert town["residents"] == 1
    reedley_clerk = api.token("reedley-clerk", role=Role.MUNICIPALITY, municipality_id="reedley")
    accounts = (await api.client.get("/municipality/accounts", headers=reedley_clerk)).json()
    assert [a["house_id"] for a in accounts] == ["house-9"]


async def test_a_move_out_recorded_after_its_final_close_passed_is_billed_at_the_next_clock_step(api, kit):
    """The operator records the move-out days later: the clock is past the end and the grace already, and the
    final invoice still comes (once), cut at the end."""
    gsa = api.token("gsa-admin", role=Role.GSA)
    await api.client.post("/admin/municipalities", json=FOWLER, headers=gsa)
    assert (await api.client.post("/admin/residents", json=rosa(), headers=gsa)).status_code == 201
    await api.meter.readings(reading("house-9", datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500),
                             reading("house-9", datetime(2021, 10, 5, 17, tzinfo=UTC), home=1000, imported=0),
                             reading("house-9", datetime(2021, 10, 12, 17, tzinfo=UTC), home=4000, imported=0))
    clock = datetime(2021, 10, 15, 7, tzinfo=UTC)
    await api.meter.watermark(clock)
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM progress WHERE watermark >= $1", clock), 12,
                         what="the clock at 15 October")
    assert await api.db.fetchval("SELECT count(*) FROM invoices") == 1  # September's

    ended = await api.client.post("/admin/residents/house-9/end", json={"end_date": "2021-10-10"}, headers=gsa)
    assert ended.status_code == 201, ended.text  # October is not invoiced: no issued invoice is rewritten
    await api.meter.watermark(clock + timedelta(hours=1))
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM invoices"), 2, what="the final invoice")
    ends = datetime(2021, 10, 11, 7, tzinfo=UTC)
    row = await api.db.fetchrow("SELECT period_end, issued_at, energy_wh FROM invoices WHERE invoice_id = 'house-9.2021-10'")
    assert (row["period_end"], row["issued_at"], row["energy_wh"]) == (ends, ends + timedelta(hours=48), 1000)
    await api.meter.watermark(datetime(2021, 11, 5, tzinfo=UTC))  # October's regular close passes: nothing more
    await kit.wait_until(lambda: api.db.fetchval("SELECT count(*) FROM progress WHERE watermark >= '2021-11-05'"), 12,
                         what="November")
    assert await api.db.fetchval("SELECT count(*) FROM invoices") == 2
