"""The GSA dashboard: a year of hourly readings per house, fleet totals, market, replay, verification."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e


def test_web_gsa_dashboard_draws_a_year_of_hourly_readings_per_house_quickly(page, sign_in, shot, require):
    require("market", "billing")
    sign_in(page, "gsa-operator")
    page.fill("#from", "2021-06-27")
    page.fill("#to", "2022-07-30")
    started = time.monotonic()
    page.click("[data-testid=dashboard-controls] button[type=submit]")
    page.wait_for_function(
        "Number(document.querySelector('[data-testid=chart-home_wh]').dataset.points) > 0", timeout=30_000
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
    target = page.query_selector("[data-testid=channel-row]:has-text('resident:house-01')") or page.query_selector("[data-testid=channel-row]")
    target.query_selector("button:has-text('Verify')").click()
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid^=verify-]')].some(c => c.innerText.includes('verify') || c.innerText.includes('✗'))"
    )
    verdicts = page.eval_on_selector_all("[data-testid^=verify-]", "cells => cells.map(c => c.innerText).filter(Boolean)")
    assert any("entries verify" in v for v in verdicts), verdicts
    assert "balanced" in page.inner_text("[data-testid=trial-balance]")
    shot(page, "gsa-operations")
