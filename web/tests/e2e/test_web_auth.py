"""Signing in lands each role on its own portal; no role reaches another role's pages or data."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("username", "landing", "heading"),
    [
        ("luis", "/resident/billing", "Resident portal"),
        ("stephen", "/municipality/escrow", "Municipal portal"),
        ("gsa-operator", "/gsa/dashboard", "GSA dashboard"),
    ],
)
def test_web_sign_in_lands_on_the_portal_of_the_tokens_role(page, sign_in, shot, username, landing, heading):
    sign_in(page, username)
    page.wait_for_url(f"**{landing}")
    assert heading in page.inner_text(".topbar")
    assert username in page.inner_text("[data-testid=signed-in-as]")
    shot(page, f"login-{username}")


def test_web_wrong_password_shows_the_apis_refusal(page, web_url, shot):
    page.goto(f"{web_url}/login")
    page.fill("#username", "luis")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    error = page.wait_for_selector("[data-testid=login-error]")
    assert "incorrect username or password" in error.inner_text()
    assert page.url.endswith("/login")
    shot(page, "login-refused")


def test_web_empty_login_form_names_the_missing_fields(page, web_url):
    page.goto(f"{web_url}/login")
    page.click("button[type=submit]")
    assert "enter your username" in page.inner_text("[data-testid=error-username]")
    assert "enter your password" in page.inner_text("[data-testid=error-password]")


def test_web_pages_need_a_session(page, web_url):
    page.goto(f"{web_url}/gsa/operations")
    page.wait_for_url("**/login")


@pytest.mark.parametrize(
    ("username", "foreign_pages"),
    [
        ("luis", ["/gsa/dashboard", "/gsa/operations", "/municipality/escrow"]),
        ("stephen", ["/resident/billing", "/gsa/market", "/gsa/accounts"]),
        ("gsa-operator", ["/resident/trade", "/resident/billing", "/municipality/overview"]),
    ],
)
def test_web_a_role_cannot_open_another_roles_pages(page, sign_in, web_url, shot, username, foreign_pages):
    sign_in(page, username)
    for path in foreign_pages:
        page.goto(f"{web_url}{path}")
        page.wait_for_selector("[data-testid=forbidden]")
        assert "Not permitted" in page.inner_text("[data-testid=forbidden]")
    shot(page, f"forbidden-{username}")


def _get(page, web_url: str, token: str, path: str) -> int:
    return page.request.get(f"{web_url}{path}", headers={"Authorization": f"Bearer {token}"}).status


def test_web_the_apis_refuse_another_roles_data_through_the_proxy(page, sign_in, web_url, require):
    """Guards in the browser are convenience; the services refuse on their own."""
    require("billing", "escrow", "market", "meter-ingest")
    luis = sign_in(page, "luis")
    assert _get(page, web_url, luis, "/api/ledger/channels/resident:house-01/entries?limit=1") == 200
    assert _get(page, web_url, luis, "/api/billing/resident/account") == 200
    assert _get(page, web_url, luis, "/api/ledger/channels/resident:house-02/entries?limit=1") == 403
    assert _get(page, web_url, luis, "/api/ledger/channels/municipality:parlier/entries?limit=1") == 403
    assert _get(page, web_url, luis, "/api/ledger/accounts/resident:house-02:receivable/postings") == 403
    assert _get(page, web_url, luis, "/api/billing/municipality/accounts") == 403
    assert _get(page, web_url, luis, "/api/billing/gsa/accounts") == 403
    assert _get(page, web_url, luis, "/api/escrow/municipality/escrow") == 403
    assert _get(page, web_url, luis, "/api/escrow/gsa/escrow") == 403
    assert _get(page, web_url, luis, "/api/market/gsa/offers") == 403
    assert _get(page, web_url, luis, "/api/meter-ingest/replay/status") == 403

    stephen = sign_in(page, "stephen")
    assert _get(page, web_url, stephen, "/api/ledger/channels/resident:house-01/entries?limit=1") == 200
    assert _get(page, web_url, stephen, "/api/escrow/municipality/escrow") == 200
    assert _get(page, web_url, stephen, "/api/billing/municipality/accounts") == 200
    assert _get(page, web_url, stephen, "/api/ledger/channels/resident:house-r01/entries?limit=1") == 403
    assert _get(page, web_url, stephen, "/api/ledger/channels/municipality:reedley/entries?limit=1") == 403
    assert _get(page, web_url, stephen, "/api/billing/resident/account") == 403
    assert _get(page, web_url, stephen, "/api/billing/gsa/accounts") == 403
    assert _get(page, web_url, stephen, "/api/escrow/gsa/escrow/reedley") == 403
    assert _get(page, web_url, stephen, "/api/market/resident/offers") == 403
    assert _get(page, web_url, stephen, "/api/meter-ingest/replay/status") == 403

    gsa = sign_in(page, "gsa-operator")
    assert _get(page, web_url, gsa, "/api/escrow/gsa/escrow/reedley") == 200
    assert _get(page, web_url, gsa, "/api/billing/gsa/accounts") == 200
    assert _get(page, web_url, gsa, "/api/billing/resident/account") == 403
    assert _get(page, web_url, gsa, "/api/escrow/municipality/escrow") == 403
    assert _get(page, web_url, gsa, "/api/market/resident/offers") == 403

    assert _get(page, web_url, "not-a-token", "/api/market/gsa/offers") == 401
