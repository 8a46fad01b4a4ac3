"""Fixtures for the browser end-to-end tests: a system to drive, headless Chromium, signing in, axe-core.

By default the tests start a system of their own (energychain_cli.sandbox.Sandbox, as the system
tests do): its own database, topic prefix, run directory and ports, every service, the witnesses
and the web server (deploy/services.sh starts it on the sandbox's base port,
EC_E2E_SANDBOX_PORT, 18500), on the Kafka broker and PostgreSQL server `deploy/infra.sh start`
runs. The web app is built first (web/build.sh), then the GSA replays the three Parlier houses
until REPLAYED_UNTIL, and the tests start once billing, escrow, the ledger and both witnesses
have caught up: invoices (some past due), escrow cover, every reading on the ledger, a cosigned
checkpoint. House-03's export is replayed from a copy without its last hours before
REPLAYED_UNTIL (from SILENT_FROM on), so its meter falls silent while the others go on and the
fleet stream (gsa-market-fleet) has an open silent_meter alert to show. Everything is torn down after the last browser test. Anything missing then is a
failure, never a skip.

With EC_E2E_BASE_URL (e.g. http://127.0.0.1:8100) they drive a system already running there
instead (`deploy/up.sh --no-demo`, the replay started), and skip, saying why, what it cannot give
them (a service down, no simulated stream yet, no witness).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from energychain_shared.settings import REPO_ROOT

BASE_URL = os.environ.get("EC_E2E_BASE_URL", "").rstrip("/")
SANDBOXED = not BASE_URL
# Beside the system tests' sandboxes (18100, 18400) and the benchmark's (18200, 18300).
SANDBOX_PORT = int(os.environ.get("EC_E2E_SANDBOX_PORT", "18500"))
CHROMIUM = os.environ.get("EC_E2E_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("EC_E2E_SCREENSHOTS", REPO_ROOT / ".run" / "screenshots"))
AXE = REPO_ROOT / "web" / "app" / "node_modules" / "axe-core" / "axe.min.js"
SERVICES = ("meter-ingest", "ledger", "billing", "escrow", "market")
RESIDENTS = ("luis", "chauncy", "angel")
# Midnight of 12 September 2021 in Parlier: July's and August's invoices are out, July's are past due
# and escrow covered them, the reserve offers of the tests fall in the weeks after.
REPLAYED_UNTIL = datetime(2021, 9, 12, 7, tzinfo=timezone.utc)
# House-03's meter stops at noon (local) of the last replayed day: its rows from then until REPLAYED_UNTIL are left
# out of the copy replayed, so the fleet stream sees 12 simulated hours without a reading (silent after 6:
# EC_MARKET_FLEET_SILENT_HOURS) while house-01 and house-02 report to the end. Only September's first days are
# touched: no invoice of the tests covers them.
SILENT_HOUSE = "house-03"
SILENT_FROM = datetime(2021, 9, 11, 12)  # local time, as the exports write it


def missing(reason: str) -> None:
    """What a test does when the system cannot give it what it needs: a failure on the tests' own system
    (it must give everything), a skip on a running one (it may not have got there yet)."""
    if SANDBOXED:
        pytest.fail(reason)
    pytest.skip(reason)


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


def _off_loop(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a thread of its own: the sandbox runs asyncio.run(), which refuses to run in this
    thread while Playwright's sync API keeps its event loop marked as running here."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, name="e2e-sandbox")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# ---------------------------------------------------------------------------------------------------------------
# The tests' own system


def _logs(sandbox) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted((sandbox.run_dir / "logs").glob("*.log")))


def _wait(sandbox, what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except httpx.HTTPError as error:
            last = error
        else:
            if last:
                return last
        time.sleep(0.5)
    raise RuntimeError(f"e2e system: waited {timeout:.0f}s for {what}; last {last!r}\n{_logs(sandbox)}")


def _ports_free(ports: list[int]) -> None:
    taken = []
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.append(port)
    if taken:
        raise RuntimeError(f"e2e system: ports {taken} are in use (another sandbox still running?); "
                           "set EC_E2E_SANDBOX_PORT to a free base port")


def _replay(sandbox) -> None:
    """The GSA replays the Parlier houses until REPLAYED_UNTIL; returns when everything downstream caught up."""
    until = REPLAYED_UNTIL
    with sandbox.login("gsa-operator") as gsa, sandbox.login("stephen") as stephen:
        ingest = sandbox.url("meter_ingest")
        started = gsa.post(f"{ingest}/replay/start", json={"speed": "max", "until": until.isoformat()})
        if started.status_code != 202:
            raise RuntimeError(f"e2e system: replay refused: {started.status_code} {started.text}")

        def finished() -> dict | None:
            status = gsa.get(f"{ingest}/replay/status").json()
            return status if status["state"] == "finished" else None

        status = _wait(sandbox, "the replay to finish", finished, timeout=180)
        residents = [sandbox.login(name) for name in RESIDENTS]
        try:
            def billed() -> bool:
                clocks = [c.get(sandbox.url("billing") + "/resident/account").json()["sim_time"] for c in residents]
                return all(t is not None and datetime.fromisoformat(t) >= until for t in clocks)

            _wait(sandbox, "billing's clock of every house to reach " + until.isoformat(), billed, timeout=120)
        finally:
            for client in residents:
                client.close()

        def escrow_done() -> bool:
            done = stephen.get(sandbox.url("escrow") + "/municipality/escrow").json().get("processed_until")
            return done is not None and datetime.fromisoformat(done) >= until

        _wait(sandbox, "escrow to process until " + until.isoformat(), escrow_done, timeout=120)
        _wait(sandbox, f"the {status['published']} readings on the ledger", lambda: sandbox.query(
            "SELECT count(*) FROM ledger.entries WHERE kind = 'meter_reading'")[0][0] >= status["published"],
            timeout=180)

        # Nothing left to append (the newest checkpoint stays put), and both witnesses cosigned it.
        ledger = sandbox.url("ledger")
        witnesses = set(sandbox.witness_ports)
        seen: dict[str, Any] = {"size": None, "since": time.monotonic()}

        def settled_and_cosigned() -> bool:
            newest = gsa.get(f"{ledger}/log/checkpoint")
            if newest.status_code != 200:
                return False
            size = newest.json()["size"]
            if size != seen["size"]:
                seen.update(size=size, since=time.monotonic())
            cosigned = gsa.get(f"{ledger}/log/checkpoint", params={"cosigned": "true"})
            return (time.monotonic() - seen["since"] >= 3 and cosigned.status_code == 200
                    and cosigned.json()["size"] == size and witnesses <= set(cosigned.json()["cosigned_by"]))

        _wait(sandbox, f"the newest checkpoint cosigned by {sorted(witnesses)}", settled_and_cosigned, timeout=120)


def _with_a_silent_meter(exports: dict[str, Path], folder: Path) -> dict[str, Path]:
    """``exports`` with SILENT_HOUSE's replaced by a copy (same file name, in ``folder``) that has no row from
    SILENT_FROM until REPLAYED_UNTIL (local time); its rows after that are kept."""
    until = REPLAYED_UNTIL.astimezone(ZoneInfo("America/Los_Angeles")).replace(tzinfo=None)
    source = exports[SILENT_HOUSE]
    copy = folder / source.name
    lines = source.read_text().splitlines(keepends=True)
    kept = [line for line in lines[1:] if not SILENT_FROM <= datetime.fromisoformat(line.split(",", 1)[0].strip()) < until]
    if len(kept) != len(lines) - 1 - int((until - SILENT_FROM).total_seconds() // 3600):
        raise RuntimeError(f"e2e system: {source} has not every hour from {SILENT_FROM} to {until} to leave out")
    copy.write_text(lines[0] + "".join(kept))
    return {**exports, SILENT_HOUSE: copy}


def _start_system(settings, exports: dict[str, Path], run_dir: Path):
    from energychain_cli.sandbox import Sandbox
    from energychain_shared.kafka import InfrastructureUnavailable
    from energychain_shared.runtime import _preflight
    from energychain_shared.testing import manifest_of

    try:
        asyncio.run(_preflight(settings, kafka=True, database=True))
    except InfrastructureUnavailable as error:
        raise RuntimeError(f"e2e system: infrastructure is down: {error}. Start it with `deploy/infra.sh start`.") from None
    _ports_free([SANDBOX_PORT + offset for offset in (0, 1, 2, 3, 4, 5, 10, 11)])
    sandbox = Sandbox.prepare(settings, run_dir, manifest=manifest_of(exports, run_dir),
                              registry=REPO_ROOT / "data" / "registry.json", base_port=SANDBOX_PORT)
    try:
        sandbox.services("start")
        sandbox.wait_ready()
        web = f"http://127.0.0.1:{SANDBOX_PORT}"
        _wait(sandbox, "the web server with the built app", lambda: (_healthz(f"{web}/healthz") or {}).get("app_built"),
              timeout=60)
        for name in sandbox.witness_ports:
            _wait(sandbox, f"the witness {name}", lambda: _healthz(sandbox.witness_url(name) + "/healthz"), timeout=60)
        _replay(sandbox)
    except BaseException:
        sandbox.destroy()
        raise
    return sandbox


def _build_app() -> None:
    done = subprocess.run([str(REPO_ROOT / "web" / "build.sh")], capture_output=True, text=True, timeout=600)
    if done.returncode:
        pytest.fail(f"web/build.sh failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


@dataclass
class System:
    """What the browser tests drive: the web server's URL, the users' passwords, and the sandbox if it is ours."""

    web_url: str
    passwords: dict[str, str]
    sandbox: Any | None


@pytest.fixture(scope="package")
def system(request, tmp_path_factory) -> Iterator[System]:
    """The tests' own system, started and replayed for them (or the running one at EC_E2E_BASE_URL)."""
    if not SANDBOXED:
        health = _healthz(f"{BASE_URL}/healthz")
        if health is None:
            pytest.skip(f"system not running: web server {BASE_URL}/healthz unreachable (start it with deploy/up.sh --no-demo)")
        if not health.get("app_built"):
            pytest.skip("web app not built: run web/build.sh")
        if _healthz(f"{BASE_URL}/api/ledger/healthz") is None:
            pytest.skip(f"system not running: the ledger behind {BASE_URL} is unreachable (sign-in needs it)")
        users = _users()
        if not users:
            pytest.skip("no demo users file in deploy/")
        yield System(BASE_URL, users, None)
        return
    _build_app()
    settings = request.getfixturevalue("ec_settings")
    exports = _with_a_silent_meter(request.getfixturevalue("parlier_exports"), tmp_path_factory.mktemp("e2e-exports"))
    sandbox = _off_loop(_start_system, settings, exports, tmp_path_factory.mktemp("e2e-system"))
    try:
        yield System(f"http://127.0.0.1:{SANDBOX_PORT}", sandbox.passwords, sandbox)
    finally:
        _off_loop(sandbox.destroy)


@pytest.fixture(scope="package")
def web_url(system: System) -> str:
    """The web server the browser opens."""
    return system.web_url


@pytest.fixture(scope="package")
def passwords(system: System) -> dict[str, str]:
    """The users' passwords (the sandbox's demo users, or deploy/demo-users(.example).json for a running system)."""
    return system.passwords


@pytest.fixture(name="missing")
def missing_fixture() -> Callable[[str], None]:
    """missing(reason): fail on the tests' own system, skip on a running one."""
    return missing


def _service_up(web_url: str, service: str) -> bool:
    """The service as the browser reaches it: through the web server's proxy."""
    return _healthz(f"{web_url}/api/{service}/healthz") is not None


@pytest.fixture
def require(web_url: str):
    """Call require("billing", ...): each of those services answers behind the web server (else missing())."""

    def check(*services: str) -> None:
        unknown = set(services) - set(SERVICES)
        assert not unknown, f"unknown services {unknown}"
        down = [s for s in services if not _service_up(web_url, s)]
        if down:
            missing(f"system not running: {', '.join(down)} unreachable behind {web_url}")

    return check


# ---------------------------------------------------------------------------------------------------------------
# The browser


@pytest.fixture(scope="package")
def browser():
    """Debian's headless Chromium driven by Playwright (no browser download); closed after the browser tests."""
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} not installed: run web/tests/install-browser.sh")
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
    for the witnesses (missing(), saying why, when none is registered or none has cosigned)."""

    def wait(page, token: str, timeout_s: float = 30) -> tuple[dict, dict]:
        headers = {"Authorization": f"Bearer {token}"}
        key = page.request.get(f"{web_url}/api/ledger/log/key", headers=headers).json()
        if not key.get("witnesses"):
            missing("system not running its witnesses: the ledger has none registered (deploy/up.sh registers them)")
        deadline = time.monotonic() + timeout_s
        while True:
            answer = page.request.get(f"{web_url}/api/ledger/log/checkpoint?cosigned=true", headers=headers)
            if answer.status == 200:
                return key, answer.json()
            if time.monotonic() > deadline:
                missing("system not running its witnesses: no checkpoint is cosigned yet (deploy/up.sh starts them)")
            page.wait_for_timeout(1000)

    return wait


# ---------------------------------------------------------------------------------------------------------------
# Accessibility: axe-core in the page


SERIOUS = ("serious", "critical")


def axe_violations(page, context: str | dict | None = None) -> list[dict]:
    """Run axe-core (web/app's pinned devDependency) in ``page`` and return its violations of impact serious or
    critical: each rule's id, impact, help and the nodes that break it (target and axe's summary)."""
    if not AXE.is_file():
        raise AssertionError(f"{AXE} missing: run web/build.sh (npm ci installs axe-core)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    results = page.evaluate(
        """async (context) => {
            const results = await window.axe.run(context ?? document, { resultTypes: ["violations"] });
            return results.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
            }));
        }""",
        context,
    )
    return [v for v in results if v["impact"] in SERIOUS]


def assert_accessible(page, what: str, context: str | dict | None = None) -> None:
    """No axe-core violation of impact serious or critical on ``page``; else an AssertionError listing each."""
    violations = axe_violations(page, context)
    if violations:
        lines = [f"{what}: {len(violations)} serious or critical accessibility violations (axe-core):"]
        for v in violations:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
            for node in v["nodes"][:8]:
                summary = " ".join((node["summary"] or "").split())
                lines.append(f"    {node['target']}: {summary[:300]}")
            if len(v["nodes"]) > 8:
                lines.append(f"    … and {len(v['nodes']) - 8} more")
        raise AssertionError("\n".join(lines))


@pytest.fixture(name="assert_accessible")
def assert_accessible_fixture() -> Callable[..., None]:
    """assert_accessible(page, what): no serious or critical axe-core violation on the page as it is now."""
    return assert_accessible
