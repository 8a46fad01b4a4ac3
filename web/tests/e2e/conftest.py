"""Fixtures for the browser end-to-end tests: the running system, headless Chromium, signing in.

These tests drive the RUNNING system (web server on :8100 and the services behind it)
the way a person would. They skip, with the reason, only when the system is not running;
start it with `deploy/up.sh --no-demo` (and the browser with web/tests/install-browser.sh).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from energychain_shared.settings import REPO_ROOT

WEB_URL = os.environ.get("EC_E2E_WEB_URL", "http://127.0.0.1:8100").rstrip("/")
CHROMIUM = os.environ.get("EC_E2E_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("EC_E2E_SCREENSHOTS", REPO_ROOT / ".run" / "screenshots"))
SERVICES = ("meter-ingest", "ledger", "billing", "escrow", "market")


def _users() -> dict[str, str]:
    for name in ("demo-users.json", "demo-users.example.json"):
        path = REPO_ROOT / "deploy" / name
        if path.exists():
            return {u["username"]: u["password"] for u in json.loads(path.read_text())["users"]}
    return {}


def _healthz(url: str) -> dict | None:
    try:
        answer = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


def _service_up(service: str) -> bool:
    """The service as the browser reaches it: through the web server's proxy."""
    return _healthz(f"{WEB_URL}/api/{service}/healthz") is not None


@pytest.fixture(scope="session")
def web_url() -> str:
    """The running web server; skips every browser test when it (or the ledger behind it) is down."""
    health = _healthz(f"{WEB_URL}/healthz")
    if health is None:
        pytest.skip(f"system not running: web server {WEB_URL}/healthz unreachable (start it with deploy/up.sh --no-demo)")
    if not health.get("app_built"):
        pytest.skip("web app not built: run web/build.sh")
    if not _service_up("ledger"):
        pytest.skip(f"system not running: the ledger behind {WEB_URL} is unreachable (sign-in needs it)")
    return WEB_URL


@pytest.fixture
def require(web_url: str):
    """Call require("billing", ...) to skip, with the reason, when one of those services is not running."""

    def check(*services: str) -> None:
        unknown = set(services) - set(SERVICES)
        assert not unknown, f"unknown services {unknown}"
        down = [s for s in services if not _service_up(s)]
        if down:
            pytest.skip(f"system not running: {', '.join(down)} unreachable behind {web_url}")

    return check


@pytest.fixture(scope="session")
def passwords() -> dict[str, str]:
    """Demo users' passwords from deploy/demo-users(.example).json."""
    users = _users()
    if not users:
        pytest.skip("no demo users file in deploy/")
    return users


@pytest.fixture(scope="session")
def browser(web_url: str):
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed: run web/tests/install-browser.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh browser context (no session carried over) at a desktop size."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, timezone_id="America/Los_Angeles")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def shot():
    """Save a full-page screenshot as .run/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def sign_in(web_url: str, passwords: dict[str, str]):
    """Sign in through the login page as ``username``; returns the bearer token the app stored."""

    def login(page, username: str) -> str:
        page.goto(f"{web_url}/login")
        page.evaluate("sessionStorage.clear()")  # a second sign-in in one test starts signed out
        page.goto(f"{web_url}/login")
        page.fill("#username", username)
        page.fill("#password", passwords[username])
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page.evaluate("sessionStorage.getItem('energychain.session')")

    return login


@pytest.fixture
def cosigned_checkpoint(web_url: str):
    """Call cosigned_checkpoint(page, token): the ledger's keys and newest cosigned checkpoint, waiting up to 30 s
    for the witnesses; skips, saying why, when none is registered or none has cosigned."""

    def wait(page, token: str, timeout_s: float = 30) -> tuple[dict, dict]:
        headers = {"Authorization": f"Bearer {token}"}
        key = page.request.get(f"{web_url}/api/ledger/log/key", headers=headers).json()
        if not key.get("witnesses"):
            pytest.skip("system not running its witnesses: the ledger has none registered (deploy/up.sh registers them)")
        deadline = time.monotonic() + timeout_s
        while True:
            answer = page.request.get(f"{web_url}/api/ledger/log/checkpoint?cosigned=true", headers=headers)
            if answer.status == 200:
                return key, answer.json()
            if time.monotonic() > deadline:
                pytest.skip("system not running its witnesses: no checkpoint is cosigned yet (deploy/up.sh starts them)")
            page.wait_for_timeout(1000)

    return wait
