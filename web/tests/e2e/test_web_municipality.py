"""The municipal portal: escrow by month with past-due cover marked, customer accounts, rollovers."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e


def test_web_municipality_sees_escrow_balance_by_month(page, sign_in, shot, require):
    require("escrow")
    sign_in(page, "stephen")
    page.wait_for_selector("[data-testid=escrow-chart]")
    page.wait_for_function("document.querySelector('[data-testid=escrow-balance]').innerText.includes('$')")
    assert re.search(r"\$[\d,]+\.\d\d", page.inner_text("[data-testid=escrow-balance]"))
    assert page.query_selector("[data-testid=escrow-covers]")
    assert page.query_selector("[data-testid=rollovers]")
    # Months with past-due cover are marked, in the chart and in the table alike.
    page.wait_for_timeout(1500)
    marked = len(page.query_selector_all("[data-testid=escrow-bars] g[data-marked=true]"))
    assert marked == len(page.query_selector_all("[data-testid=escrow-months] tr[data-cover=true]"))
    shot(page, "municipality-escrow")


def test_web_municipality_looks_up_escrow_movements_between_two_dates(page, sign_in, shot, require):
    require("escrow")
    sign_in(page, "stephen")
    page.fill("#movements-from", "2022-03-02")
    page.fill("#movements-to", "2022-03-01")
    page.click("[data-testid=movements-form] button[type=submit]")
    assert "on or after the start date" in page.inner_text("[data-testid=error-to]")
    page.fill("#movements-from", "2021-06-01")
    page.fill("#movements-to", "2022-08-31")
    page.click("[data-testid=movements-form] button[type=submit]")
    count = page.wait_for_selector("[data-testid=movements-count]").inner_text()
    assert re.match(r"\d+ movements from 2021-06-01 to 2022-08-31", count), count
    shot(page, "municipality-escrow-movements")


def test_web_municipality_sees_only_its_own_residents_accounts(page, sign_in, web_url, shot, require):
    require("billing", "escrow")
    sign_in(page, "stephen")
    page.goto(f"{web_url}/municipality/overview")
    page.wait_for_selector("[data-testid=customer-row]")
    houses = page.eval_on_selector_all("[data-testid=customer-row]", "rows => rows.map(r => r.dataset.house)")
    assert set(houses) == {"house-01", "house-02", "house-03"}, houses
    past_due = page.query_selector_all("[data-testid=customer-row].past-due")
    for row in past_due:
        assert "past due" in row.inner_text()
    shot(page, "municipality-overview")


def test_web_municipality_reads_its_residents_channels_but_not_others(page, sign_in, web_url, shot):
    sign_in(page, "stephen")
    page.goto(f"{web_url}/municipality/transactions")
    options = page.wait_for_selector("#channel").inner_text()
    assert "municipality:parlier" in options
    assert "resident:house-01" in options
    assert "reedley" not in options and "house-r01" not in options
    shot(page, "municipality-transactions")
