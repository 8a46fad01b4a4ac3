"""The GSA dashboard: a year of hourly readings per house, fleet totals, market, replay, verification."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from datetime import datetime, timezone

import pytest

pytestmark = pytest.mark.e2e


def test_web_gsa_dashboard_draws_a_year_of_hourly_readings_per_house_quickly(page, sign_in, shot, require):
    require("market", "billing")
    sign_in(page, "gsa-operator")
    # The GSA lands on the dashboard, which loads its default range (the demo year) at once: timed from
    # landing, since pressing Show on the same range would find the charts already drawn.
    started = time.monotonic()
    assert page.input_value("#from") == "2021-06-27" and page.input_value("#to") == "2022-07-30"
    page.wait_for_function(
        "Number(document.querySelector('[data-testid=chart-home_wh]')?.dataset.points) > 0", timeout=30_000
    )
    elapsed = time.monotonic() - started
    for panel in ("panel-home_wh", "panel-grid_export_wh", "panel-grid_import_wh", "fleet-totals"):
        assert page.query_selector(f"[data-testid={panel}] canvas"), panel
    assert "Home Consumption" in page.inner_text("[data-testid=panel-home_wh]")
    assert "kWh" in page.inner_text("[data-testid=total-home_wh]")
    assert elapsed < 10, f"a year of hourly readings took {elapsed:.1f}s to draw"
    shot(page, "gsa-dashboard")


def test_web_gsa_sees_the_market(page, sign_in, web_url, shot, require):
    require("market")
    sign_in(page, "gsa-operator")
    page.goto(f"{web_url}/gsa/market")
    for section in ("market-revenue", "market-offers", "market-bids", "market-clearings", "market-settlements"):
        page.wait_for_selector(f"[data-testid={section}]")
    page.wait_for_timeout(1500)
    assert not page.query_selector("[data-testid=error-notice]"), page.inner_text("[data-testid=error-notice]")
    shot(page, "gsa-market")


def test_web_gsa_sees_every_municipalitys_escrow_and_accounts(page, sign_in, web_url, shot, require):
    require("billing", "escrow")
    sign_in(page, "gsa-operator")
    page.goto(f"{web_url}/gsa/accounts")
    page.wait_for_selector("[data-testid=escrow-row]")
    municipalities = page.eval_on_selector_all("[data-testid=escrow-row] td:first-child", "cells => cells.map(c => c.innerText)")
    assert {"parlier", "reedley"} <= set(municipalities), municipalities
    page.click("[data-testid=escrow-row]:has-text('reedley') button:has-text('Show')")
    page.wait_for_selector("[data-testid=customer-row][data-house=house-r01]")
    houses = page.eval_on_selector_all("[data-testid=customer-row]", "rows => rows.map(r => r.dataset.house)")
    assert "house-01" not in houses, houses
    page.wait_for_function("document.querySelector('[data-testid=escrow-balance]').innerText.includes('$')")
    shot(page, "gsa-accounts")


def _settled(page, testid: str, timeout: int = 60_000) -> str:
    """Wait until the result marked ``data-testid=testid`` is ok or failed (never on text) and return which."""
    selector = f'[data-testid="{testid}"]'
    page.wait_for_selector(f"{selector}[data-state=ok], {selector}[data-state=failed]", timeout=timeout)
    return page.get_attribute(selector, "data-state")


def test_web_gsa_operates_the_replay_and_verifies_the_ledger(page, sign_in, web_url, shot, require):
    require("meter-ingest")
    sign_in(page, "gsa-operator")
    page.goto(f"{web_url}/gsa/operations")
    state = page.wait_for_selector("[data-testid=replay-state]")
    page.wait_for_function("document.querySelector('[data-testid=replay-state]').innerText !== '…'")
    assert state.inner_text() in {"idle", "running", "paused", "finished", "stopped", "failed"}
    # A bad speed is refused by the service, and its message is shown beside the field.
    page.fill("#speed", "fast")
    page.click("button:has-text('Set speed')")
    refusal = page.wait_for_selector("[data-testid=error-speed]")
    assert "fast" in refusal.inner_text()
    assert page.query_selector("[data-testid=dead-letters]")
    page.wait_for_selector("[data-testid=channel-row]")
    # A resident channel of the demo carries entries (offers, settlements, bills) to check.
    row = page.query_selector("[data-testid=channel-row][data-channel='resident:house-01']") or page.query_selector("[data-testid=channel-row]")
    channel = row.get_attribute("data-channel")
    assert page.get_attribute(f'[data-testid="verify-{channel}"]', "data-state") == "idle"
    row.query_selector("button:has-text('Verify')").click()
    verdict = _settled(page, f"verify-{channel}")
    text = page.inner_text(f'[data-testid="verify-{channel}"]')
    assert verdict == "ok", text
    assert re.match(r"✓ [\d,]+ (entries verify|entry verifies), ", text), text
    assert "balanced" in page.inner_text("[data-testid=trial-balance]")
    shot(page, "gsa-operations")


def test_web_gsa_verifies_every_channel_and_the_whole_ledger_and_checks_the_checkpoint(
    page, sign_in, web_url, shot, cosigned_checkpoint,
):
    gsa = sign_in(page, "gsa-operator")
    key, cosigned = cosigned_checkpoint(page, gsa)
    page.goto(f"{web_url}/gsa/operations")
    page.wait_for_selector("[data-testid=channel-row]")
    channels = page.eval_on_selector_all("[data-testid=channel-row]", "rows => rows.map(r => r.dataset.channel)")
    assert "gsa" in channels and "municipality:parlier" in channels, channels

    # Verify all: every channel is verifying until its own answer, then ok.
    page.click("[data-testid=ledger-verify] button:has-text('Verify all')")
    verdicts = {c: _settled(page, f"verify-{c}", timeout=120_000) for c in channels}
    failed = {c: page.inner_text(f'[data-testid="verify-{c}"]') for c, v in verdicts.items() if v != "ok"}
    assert not failed, failed

    # The whole ledger: the log of heads, every checkpoint and cosignature, every posting.
    assert page.get_attribute("[data-testid=verify-ledger]", "data-state") == "idle"
    page.click("[data-testid=ledger-verify] button:has-text('Whole ledger')")
    whole = _settled(page, "verify-ledger", timeout=120_000)
    assert whole == "ok", page.inner_text("[data-testid=verify-ledger]")
    text = page.inner_text("[data-testid=verify-ledger]").strip()
    assert "every checkpoint and cosignature" in text, text
    # The newest cosigned checkpoint is at least the one read before, and a known witness cosigned it.
    found = re.search(r"newest cosigned checkpoint (\d+), cosigned by (.+)$", text)
    assert found and int(found.group(1)) >= cosigned["size"], text
    assert set(found.group(2).split(", ")) & {w["name"] for w in key["witnesses"]}, text

    # The newest checkpoint, its signature and cosignatures checked in the browser with /log/key.
    page.wait_for_selector("[data-testid=checkpoint][data-state=ok], [data-testid=checkpoint][data-state=failed]")
    assert page.get_attribute("[data-testid=checkpoint]", "data-state") == "ok", page.inner_text("[data-testid=checkpoint]")
    note = page.inner_text("[data-testid=checkpoint-note]")
    assert note.startswith(f"{key['origin']}\n"), note
    assert f"\u2014 {key['origin']} " in note, note
    witnesses = page.eval_on_selector_all("[data-testid=witness-row] td:first-child", "cells => cells.map(c => c.innerText)")
    assert witnesses == [w["name"] for w in key["witnesses"]], witnesses
    assert key["vkey"] in page.inner_text("[data-testid=log-key]")
    shot(page, "gsa-operations-ledger")


def _put_dead_letter(sandbox, dead_letter) -> None:
    """Publish ``dead_letter`` on the sandbox's meter.readings.dlq (from a thread: Playwright holds this one's loop)."""
    from aiokafka import AIOKafkaProducer
    from energychain_shared import topics
    from energychain_shared.kafka import publish

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=sandbox.env.get("EC_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
        await producer.start()
        try:
            await (await publish(producer, sandbox.env["EC_TOPIC_PREFIX"] + topics.METER_DEAD_LETTERS.name, dead_letter))
        finally:
            await producer.stop()

    thread = threading.Thread(target=asyncio.run, args=(send(),))
    thread.start()
    thread.join()


def test_web_gsa_lists_dead_letters_from_their_topic_and_shows_why_a_correction_is_refused(
    page, sign_in, web_url, shot, require, system, parlier_exports, missing, assert_accessible,
):
    require("meter-ingest")
    if system.sandbox is None:
        missing("a dead letter is put on the tests' own system only, never on a running one")
    from energychain_shared import events

    # A row of house-01's export dead-lettered as a replay does it (the seed exports have none of their own).
    source_file = parlier_exports["house-01"].name
    dead_letter = events.MeterReadingRejected(
        event_id=events.deterministic_id("MeterReadingRejected", "house-01", source_file, 100, "e2e"),
        occurred_at=datetime(2021, 7, 1, 8, tzinfo=timezone.utc), producer="meter-ingest", source_file=source_file,
        source_line=100, reason="battery_level_out_of_range", detail="BATTERY LEVEL (%): 140 not in 0..100",
        raw="2021-07-01T00:00:00,0,0,0,0.54,0,0.54,140", house_id="house-01",
    )
    _put_dead_letter(system.sandbox, dead_letter)
    sign_in(page, "gsa-operator")
    page.goto(f"{web_url}/gsa/operations")
    row_selector = f'[data-testid=dead-letter-row][data-id="{dead_letter.event_id}"]'
    row = page.wait_for_selector(row_selector)
    assert row.get_attribute("data-state") == "open"
    text = row.inner_text()
    assert "battery_level_out_of_range" in text and f"{source_file} line 100" in text and "0.54,140" in text, text

    # Filtered by reason, it is what is listed; by the other kind, it is not.
    page.select_option("#dead_letter_reason", "battery_level_out_of_range")
    page.click("[data-testid=dead-letter-panel] button:has-text('Show')")
    page.wait_for_function("[...document.querySelectorAll('[data-testid=dead-letter-row]')]"
                           ".every(r => r.dataset.reason === 'battery_level_out_of_range')")
    assert page.query_selector(row_selector)
    page.select_option("#dead_letter_kind", "ledger_append")
    page.click("[data-testid=dead-letter-panel] button:has-text('Show')")
    page.wait_for_selector(row_selector, state="detached")

    # A correction that still fails is refused by meter-ingest, and why is shown beside the row.
    page.select_option("#dead_letter_kind", "reading")
    page.click("[data-testid=dead-letter-panel] button:has-text('Show')")
    row = page.wait_for_selector(row_selector)
    row.query_selector("input").fill("2021-07-01T00:00:00,0,0,0,0.54,0,0.54,101")
    row.query_selector("button:has-text('Re-drive')").click()
    refusal = page.wait_for_selector(f"{row_selector} [data-testid=redrive-error]")
    assert "battery_level_out_of_range" in refusal.inner_text()
    assert page.get_attribute(row_selector, "data-state") == "open"
    assert_accessible(page, "operations, dead letters with a refused correction")
    shot(page, "gsa-dead-letters")


def test_web_gsa_creates_a_resident_user_and_disables_it_and_its_sign_in_then_fails(page, sign_in, web_url, shot,
                                                                                     require):
    require("ledger")
    sign_in(page, "gsa-operator")
    page.goto(f"{web_url}/gsa/users")
    page.wait_for_selector("[data-testid=user-row][data-user=luis]")
    name, password = f"web-{int(time.time() * 1000) % 10**9}", "a web passphrase"
    page.fill("#username", name)
    page.fill("#house_id", "house-02")
    page.fill("#password", "short")
    page.click("[data-testid=user-create] button[type=submit]")
    assert "12 to 256 characters" in page.inner_text("[data-testid=error-password]", timeout=10_000)
    page.fill("#password", password)
    page.click("[data-testid=user-create] button[type=submit]")
    page.wait_for_selector("[data-testid=user-done]")
    assert "house-02" in page.inner_text("[data-testid=user-done]")
    row = f"[data-testid=user-row][data-user={name}]"
    page.wait_for_selector(row)
    assert "parlier" in page.inner_text(row) and "active" in page.inner_text(row)
    page.click(f"{row} button:has-text('Disable')")
    page.wait_for_selector(f"{row} :text('disabled')")
    shot(page, "gsa-users")
    page.goto(f"{web_url}/login")
    page.evaluate("sessionStorage.clear()")
    page.goto(f"{web_url}/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector(f"text=user '{name}' is disabled", timeout=10_000)
    assert "/login" in page.url


def _enrol(page, house: str, username: str, municipality: str, rate: str) -> None:
    """Fill the Program page's enrolment form (a house and its contract) and submit it."""
    page.fill("#r-house_id", house)
    page.fill("#r-username", username)
    page.fill("#r-name", "Web Resident")
    page.fill("#r-address", "1 Test Ave, Web Town, CA 93600")
    page.select_option("#r-municipality_id", municipality)  # waits for the municipality to be listed
    page.fill("#r-rate_usd_per_kwh", rate)
    page.fill("#r-escalator_percent", "2.5")
    page.fill("#r-battery_wh", "13500")
    page.fill("#r-reserve_wh", "2700")
    page.fill("#r-start_date", "2022-07-01")
    page.select_option("#r-billing_basis", "delivered")
    page.click("[data-testid=resident-enrol] button[type=submit]")


def test_web_gsa_onboards_a_municipality_and_enrols_a_resident_and_a_second_enrolment_with_other_terms_is_refused(
    page, sign_in, web_url, shot, require,
):
    require("billing")
    sign_in(page, "gsa-operator")
    page.goto(f"{web_url}/gsa/program")
    page.wait_for_selector("[data-testid=municipality-row][data-municipality=parlier]")
    page.wait_for_selector("[data-testid=resident-row][data-house=house-01]")
    stamp = int(time.time() * 1000) % 10**9
    municipality, house, username = f"web-m{stamp}", f"web-h{stamp}", f"web-u{stamp}"

    # Onboard a new municipality: it is listed with its escrow terms.
    page.fill("#m-municipality_id", municipality)
    page.fill("#m-name", f"Web Town {stamp}")
    page.fill("#m-endowment", "1500")
    page.fill("#m-share_percent", "4")
    page.fill("#m-cap", "3000.50")
    page.click("[data-testid=municipality-onboard] button[type=submit]")
    page.wait_for_selector("[data-testid=municipality-done]", timeout=30_000)
    assert page.inner_text("[data-testid=municipality-done]") == f"{municipality} onboarded"
    row = page.wait_for_selector(f"[data-testid=municipality-row][data-municipality={municipality}]", timeout=30_000)
    assert all(text in row.inner_text() for text in (f"Web Town {stamp}", "$1,500.00", "4 %", "$3,000.50")), row.inner_text()

    # Enrol a resident in it: listed under its municipality, with its contract and its enrolment by the GSA user.
    _enrol(page, house, username, municipality, "0.25")
    page.wait_for_selector("[data-testid=resident-done]", timeout=30_000)
    assert page.inner_text("[data-testid=resident-done]") == f"{house} enrolled"
    page.select_option("#residents_municipality", municipality)
    resident = f"[data-testid=resident-row][data-house={house}]"
    page.wait_for_selector(resident, timeout=30_000)
    page.wait_for_function("[...document.querySelectorAll('[data-testid=resident-row]')].map(r => r.dataset.house).join() === "
                           f"'{house}'")
    text = page.inner_text(resident)
    assert all(t in text for t in (username, "$0.25/kWh", "13.500 kWh", "2.700 kWh", "2022-07-01")), text
    page.click(f"{resident} button:has-text('Show')")
    page.wait_for_selector("[data-testid=resident-detail][data-state=live]")
    assert page.inner_text("[data-testid=resident-rate]") == "$0.25/kWh"
    history = page.eval_on_selector_all("[data-testid=history-row]", "rows => rows.map(r => [r.dataset.change, "
                                        "r.querySelector('[data-testid=history-by]').innerText])")
    assert history == [["enrolled", "gsa-operator"]], history

    # The same house with another rate is a second enrolment with other terms: refused (409), shown beside the house.
    _enrol(page, house, username, municipality, "0.26")
    refusal = page.wait_for_selector("[data-testid=resident-enrol] [data-testid=error-house_id]", timeout=30_000)
    assert f"'{house}' is enrolled with other terms" in refusal.inner_text()
    assert not page.query_selector("[data-testid=resident-done]")
    shot(page, "gsa-program")

    # A CSV file is enrolled all or none: a bad row is named by line and column; the same resident again is unchanged.
    header = "house_id,username,name,address,municipality_id,rate_usd_per_kwh,escalator_percent,battery_wh,reserve_wh,start_date,billing_basis"
    same = f'{house},{username},Web Resident,"1 Test Ave, Web Town, CA 93600",{municipality},0.25,2.5,13500,2700,2022-07-01,delivered'
    bad = f"web-h{stamp}b,web-u{stamp}b,Web Two,2 Test Ave,{municipality},0.25,,10000,1000,2022-13-01,"
    for rows in ([same, bad], [same]):
        page.set_input_files("#bulk_file", files=[{"name": "residents.csv", "mimeType": "text/csv",
                                                   "buffer": "\n".join([header, *rows, ""]).encode()}])
        page.click("[data-testid=resident-bulk] button[type=submit]")
        if len(rows) == 2:
            refusal = page.wait_for_selector("[data-testid=resident-bulk] [data-testid=error-bulk_file]", timeout=30_000)
            assert refusal.inner_text().startswith("line 3: start_date: "), refusal.inner_text()
    done = page.wait_for_selector("[data-testid=bulk-done]", timeout=30_000)
    assert done.inner_text() == "residents.csv: 1 row: 0 enrolled, 1 already enrolled alike"
    assert not page.query_selector("[data-testid=resident-row][data-house=web-h%sb]" % stamp)

    # Read afresh, the contract and its history are as first enrolled.
    page.reload()
    page.click(f"{resident} button:has-text('Show')")
    page.wait_for_selector("[data-testid=resident-detail][data-state=live]")
    assert page.inner_text("[data-testid=resident-rate]") == "$0.25/kWh"
    assert page.eval_on_selector_all("[data-testid=history-row]", "rows => rows.length") == 1


def _onboard(page, municipality: str, zone: str) -> None:
    """Onboard a municipality in the given time zone (the other terms the form's defaults) and wait for its row."""
    page.fill("#m-municipality_id", municipality)
    page.fill("#m-name", f"Town {municipality}")
    page.fill("#m-timezone", zone)
    page.click("[data-testid=municipality-onboard] button[type=submit]")
    page.wait_for_selector(f"[data-testid=municipality-row][data-municipality={municipality}]", timeout=30_000)


def test_web_gsa_amends_a_residents_rate_from_a_date_and_moves_it_and_a_move_to_another_time_zone_is_refused(
    page, sign_in, web_url, shot, require,
):
    require("billing")
    sign_in(page, "gsa-operator")
    page.goto(f"{web_url}/gsa/program")
    page.wait_for_selector("[data-testid=municipality-row][data-municipality=parlier]")
    stamp = int(time.time() * 1000) % 10**9
    west, west2, east = f"web-w{stamp}", f"web-x{stamp}", f"web-e{stamp}"
    house, username = f"web-a{stamp}", f"web-v{stamp}"
    # Municipalities of its own (Parlier's residents stay as the other tests expect them): two in Parlier's time
    # zone, one in New York's. The resident starts in the first one on 2022-07-01, long after anything invoiced.
    _onboard(page, west, "America/Los_Angeles")
    _onboard(page, west2, "America/Los_Angeles")
    _onboard(page, east, "America/New_York")
    _enrol(page, house, username, west, "0.25")
    page.wait_for_selector("[data-testid=resident-done]", timeout=30_000)
    page.select_option("#residents_municipality", west)
    resident = f"[data-testid=resident-row][data-house={house}]"
    page.click(f"{resident} button:has-text('Show')", timeout=30_000)
    page.wait_for_selector("[data-testid=resident-detail][data-state=live]")
    assert page.get_attribute("[data-testid=resident-amendments]", "data-count") == "0"
    assert page.get_attribute("[data-testid=resident-moves]", "data-count") == "0"

    # Amend the rate from 1 August 2022: only the rate is sent, the amendment is listed with the terms it keeps.
    amend = "[data-testid=resident-amend]"
    page.fill("#a-effective_date", "2022-08-01")
    page.fill("#a-rate_usd_per_kwh", "0.21")
    page.click(f"{amend} button[type=submit]")
    done = page.wait_for_selector("[data-testid=amend-done]", timeout=30_000)
    assert done.inner_text() == f"{house} amended from 2022-08-01"
    row = page.wait_for_selector("[data-testid=amendment-row][data-from='2022-08-01']", timeout=30_000)
    assert page.inner_text("[data-testid=amendment-row] [data-testid=amendment-rate]") == "$0.21/kWh"
    assert all(t in row.inner_text() for t in ("2.5 %/yr", "2.700 kWh", "energy delivered")), row.inner_text()
    assert page.inner_text("[data-testid=resident-rate]") == "$0.25/kWh"  # the enrolled terms stay as they were
    assert not page.query_selector(f"{amend} [data-testid^=error-]")

    # An amendment dated before the contract's start is refused beside the date, before anything is sent.
    page.fill("#a-effective_date", "2022-06-30")
    page.fill("#a-rate_usd_per_kwh", "0.22")
    page.click(f"{amend} button[type=submit]")
    error = page.wait_for_selector(f"{amend} [data-testid=error-effective_date]", timeout=10_000)
    assert "after the contract's start 2022-07-01" in error.inner_text()
    assert page.eval_on_selector_all("[data-testid=amendment-row]", "rows => rows.length") == 1

    # A move to the municipality of another time zone: billing refuses it (move_keeps_time_zone), shown beside the
    # municipality; nothing is listed.
    move = "[data-testid=resident-move]"
    page.fill("#mv-effective_date", "2022-09-01")
    page.select_option("#mv-municipality_id", east)
    page.click(f"{move} button[type=submit]")
    error = page.wait_for_selector(f"{move} [data-testid=error-municipality_id]", timeout=30_000)
    assert f"'{east}' keeps America/New_York" in error.inner_text() and "keeps the time zone" in error.inner_text(), error.inner_text()
    assert not page.query_selector("[data-testid=move-done]")
    assert page.get_attribute("[data-testid=resident-moves]", "data-count") == "0"
    shot(page, "gsa-program-amend")

    # The same day to a municipality of the same time zone: moved, listed, and the history says so.
    page.select_option("#mv-municipality_id", west2)
    page.click(f"{move} button[type=submit]")
    done = page.wait_for_selector("[data-testid=move-done]", timeout=30_000)
    assert done.inner_text() == f"{house} moved to {west2} from 2022-09-01"
    assert not page.query_selector(f"{move} [data-testid=error-municipality_id]")
    moved = page.wait_for_selector(f"[data-testid=move-row][data-from='2022-09-01'][data-municipality={west2}]", timeout=30_000)
    assert west in moved.inner_text()
    page.wait_for_selector("[data-testid=resident-detail][data-state=live]")
    history = page.eval_on_selector_all("[data-testid=history-row]", "rows => rows.map(r => r.dataset.change)")
    assert history == ["enrolled", "amended", "moved"], history
