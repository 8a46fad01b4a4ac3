"""Every portal page, once its data is in, has no serious or critical accessibility violation (axe-core in the page);
and the check itself reports a page that has such defects."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def _look_up(page) -> None:
    """Submit a transactions form and wait for its table (or its empty answer)."""
    page.click("[data-testid=transactions-form] button[type=submit]")
    page.wait_for_selector("[data-testid=transactions-form] button[type=submit]:not([disabled])", timeout=30_000)
    page.wait_for_selector("[data-testid=transactions-count]", timeout=30_000)


def _points(testid: str) -> str:
    return f"Number(document.querySelector('[data-testid={testid}]')?.dataset.points) > 0"


def _settled_verification(page) -> None:
    _look_up(page)
    page.wait_for_selector(", ".join(f"[data-testid=ledger-verification][data-state={s}]"
                                     for s in ("verified", "pending", "failed", "error")), timeout=90_000)


def _reedley_accounts(page) -> None:
    page.wait_for_selector("[data-testid=escrow-row]")
    page.click("[data-testid=escrow-row]:has-text('reedley') button:has-text('Show')")
    page.wait_for_selector("[data-testid=customer-row][data-house=house-r01]")


def _program_with_a_resident_and_refused_fields(page) -> None:
    page.wait_for_selector("[data-testid=municipality-row][data-municipality=parlier]")
    page.click("[data-testid=resident-row][data-house=house-01] button:has-text('Show')")
    page.wait_for_selector("[data-testid=resident-detail][data-state=live] [data-testid=history-row]")
    page.click("[data-testid=resident-enrol] button[type=submit]")  # empty: the form's own checks beside each field
    page.wait_for_selector("[data-testid=resident-enrol] [data-testid=error-house_id]")


def _verified_channel(page) -> None:
    page.wait_for_selector("[data-testid=channel-row]")
    page.click("[data-testid=channel-row][data-channel='resident:house-01'] button:has-text('Verify')")
    page.wait_for_selector("[data-testid='verify-resident:house-01'][data-state=ok], "
                           "[data-testid='verify-resident:house-01'][data-state=failed]", timeout=60_000)
    page.wait_for_selector("[data-testid=checkpoint][data-state=ok], [data-testid=checkpoint][data-state=failed]")


# (user, path, how to wait until the page shows its data): each page as a person reads it.
PAGES = {
    "resident-billing": ("luis", "/resident/billing", lambda page: (
        page.wait_for_selector("[data-testid=invoice-row]"),
        page.wait_for_selector("[data-testid=monthly-cost-chart]"))),
    "resident-usage": ("luis", "/resident/usage", lambda page: page.wait_for_function(_points("usage-chart"))),
    "resident-trade": ("luis", "/resident/trade", lambda page: page.wait_for_function(
        "/\\d{4}-\\d{2}-\\d{2}/.test(document.querySelector('[data-testid=sim-time]')?.innerText ?? '')")),
    "resident-transactions": ("luis", "/resident/transactions", _settled_verification),
    "municipality-escrow": ("stephen", "/municipality/escrow", lambda page: (
        page.wait_for_selector("[data-testid=escrow-chart]"),
        page.wait_for_selector("[data-testid=escrow-months] tr"))),
    "municipality-overview": ("stephen", "/municipality/overview",
                              lambda page: page.wait_for_selector("[data-testid=customer-row]")),
    "municipality-transactions": ("stephen", "/municipality/transactions", _look_up),
    "gsa-dashboard": ("gsa-operator", "/gsa/dashboard",
                      lambda page: page.wait_for_function(_points("chart-home_wh"), timeout=30_000)),
    "gsa-market": ("gsa-operator", "/gsa/market", lambda page: page.wait_for_selector("[data-testid=market-settlements]")),
    "gsa-accounts": ("gsa-operator", "/gsa/accounts", _reedley_accounts),
    "gsa-operations": ("gsa-operator", "/gsa/operations", _verified_channel),
    "gsa-program": ("gsa-operator", "/gsa/program", _program_with_a_resident_and_refused_fields),
    "not-permitted": ("luis", "/gsa/dashboard", lambda page: page.wait_for_selector("[data-testid=forbidden]")),
}


def test_web_login_page_has_no_serious_accessibility_violations(page, web_url, assert_accessible):
    page.goto(f"{web_url}/login")
    page.wait_for_selector("#username")
    assert_accessible(page, "login")
    # A refused sign-in shows its errors beside the fields, and stays accessible.
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=error-username]")
    assert_accessible(page, "login, with the fields' errors")


@pytest.mark.parametrize("name", list(PAGES))
def test_web_portal_page_has_no_serious_accessibility_violations(page, sign_in, web_url, assert_accessible, name):
    user, path, ready = PAGES[name]
    sign_in(page, user)
    page.goto(f"{web_url}{path}")
    ready(page)
    page.wait_for_timeout(300)  # the polls that answered together have rendered
    assert_accessible(page, name)


DEFECTIVE = """<!doctype html>
<html lang="en"><head><title>defective</title></head>
<body><main>
  <h1>A page with known defects</h1>
  <form><input id="amount" type="text"><button type="submit"></button></form>
  <p style="color: #aaaaaa; background: #ffffff">text too pale to read</p>
</main></body></html>"""


def test_web_accessibility_check_reports_a_page_with_known_defects(page, assert_accessible):
    """The check is live: an unlabelled input, a button without a name and pale text are each reported."""
    page.set_content(DEFECTIVE)
    with pytest.raises(AssertionError) as reported:
        assert_accessible(page, "defective page")
    message = str(reported.value)
    for rule in ("label (critical)", "button-name (critical)", "color-contrast (serious)"):
        assert f"- {rule}" in message, message
    assert "#amount" in message, message
