"""The fleet stream, live in the portals: the GSA's "Fleet now" and "Alerts" panels, the municipality's "Our town now".

On the tests' own system the three Parlier houses are replayed until REPLAYED_UNTIL (midnight of 12 September 2021
in Parlier), house-03's meter from a copy of its export without its readings from noon of the 11th on (conftest:
SILENT_FROM), so that `gsa-market-fleet` (started by deploy/services.sh with the other processes) counts house-01 and
house-02 to the end and finds house-03 silent for 12 simulated hours (more than EC_MARKET_FLEET_SILENT_HOURS, 6).
"""

from __future__ import annotations

import pytest

from .conftest import REPLAYED_UNTIL, SILENT_FROM, SILENT_HOUSE

pytestmark = pytest.mark.e2e

# The fleet process (faust) starts and reads the replayed stream on its own: give it time to catch up.
CAUGHT_UP_MS = 120_000


def _caught_up(page, testid: str, houses: int, timeout: int = CAUGHT_UP_MS) -> None:
    """Wait until the totals ``testid`` are those of the window ending at REPLAYED_UNTIL with ``houses`` reporting.

    The fleet counts each partition of meter.readings on its own, so a window's total can show some partitions'
    houses before the others': the test waits for the whole answer, never asserts on a partial one."""
    try:
        page.wait_for_function(
            """([testid, until, houses]) => {
                const el = document.querySelector(`[data-testid=${testid}]`);
                return !!el && Date.parse(el.dataset.end) === until && Number(el.dataset.housesReporting) === houses;
            }""",
            arg=[testid, int(REPLAYED_UNTIL.timestamp() * 1000), houses], timeout=timeout,
        )
    except Exception as error:
        element = page.query_selector(f"[data-testid={testid}]")
        found = element and (element.get_attribute("data-end"), element.get_attribute("data-houses-reporting"))
        raise AssertionError(f"{testid}: no window ending {REPLAYED_UNTIL.isoformat()} with {houses} houses "
                             f"reporting within {timeout / 1000:.0f}s (end, houses: {found})") from error


def _houses(page, testid: str) -> int:
    return int(page.get_attribute(f"[data-testid={testid}]", "data-houses-reporting"))


def test_web_gsa_sees_live_fleet_totals_and_an_open_silent_meter_alert(
    page, sign_in, shot, require, system, missing, assert_accessible,
):
    """The GSA's dashboard shows the fleet stream's newest hour with houses reporting (house-01 and house-02: house-03
    fell silent at noon), its per-municipality row and today's local-day totals (all three houses reported on the
    11th), in kWh; and the Alerts panel lists house-03's open silent_meter alert since noon of the 11th (local time).
    On a running system (EC_E2E_BASE_URL) it asks only for live totals with a house reporting and some open alert."""
    require("market")
    sign_in(page, "gsa-operator")  # the GSA lands on the dashboard
    page.wait_for_selector("[data-testid=fleet-now][data-state=live]", timeout=CAUGHT_UP_MS)
    if system.sandbox is not None:
        _caught_up(page, "fleet-hour-totals", 2)  # house-01, house-02 (house-03 silent since noon)
        _caught_up(page, "fleet-day-totals", 3)  # house-03 reported until noon
    hour_houses = _houses(page, "fleet-hour-totals")
    assert hour_houses > 0, page.inner_text("[data-testid=fleet-now]")
    for key in ("home_wh", "solar_wh", "grid_import_wh", "grid_export_wh", "battery_charged_wh", "battery_discharged_wh",
                "reserve_above_contract_wh"):
        assert page.inner_text(f"[data-testid=fleet-hour-{key}]").endswith(" kWh"), key
        assert page.inner_text(f"[data-testid=fleet-day-{key}]").endswith(" kWh"), key
    rows = page.query_selector_all("[data-testid=fleet-hour-municipalities] [data-testid=fleet-municipality]")
    assert rows, page.inner_text("[data-testid=fleet-now]")

    # The alerts: on the tests' own system house-03's silent meter, whatever else the data raises.
    if system.sandbox is None:
        page.wait_for_selector("[data-testid=fleet-alerts][data-state=open], [data-testid=fleet-alerts][data-state=empty]")
        if page.get_attribute("[data-testid=fleet-alerts]", "data-state") != "open":
            missing("the running system's fleet stream has no open alert")
    else:
        # One municipality replayed: its row is the fleet's hour (a running system's may move between two reads).
        assert [(r.get_attribute("data-municipality"), int(r.get_attribute("data-houses-reporting"))) for r in rows] \
            == [("parlier", hour_houses)]
        silent = page.wait_for_selector(
            f"[data-testid=fleet-alert][data-kind=silent_meter][data-house={SILENT_HOUSE}]", timeout=CAUGHT_UP_MS)
        text = silent.inner_text()
        assert "silent meter" in text and "parlier" in text, text
        assert SILENT_FROM.strftime("%Y-%m-%d %H:%M") in text, text  # since its first missing hour, local time
    assert page.get_attribute("[data-testid=fleet-alerts]", "data-state") == "open"
    assert page.query_selector_all("[data-testid=fleet-alert]")
    assert "open alert" in page.inner_text("[data-testid=alerts-summary]")
    assert not page.query_selector("[data-testid=fleet-now] [data-testid=error-notice]")
    assert_accessible(page, "GSA dashboard with Fleet now and Alerts")
    shot(page, "gsa-fleet-now")


def test_web_municipality_sees_its_town_now(page, sign_in, web_url, shot, require, system, assert_accessible):
    """The municipality's Overview shows its own newest hour and today from the fleet stream (Parlier: house-01 and
    house-02 in the last hour, all three houses today), without any other town's rows or the GSA's alerts."""
    require("market")
    sign_in(page, "stephen")
    page.goto(f"{web_url}/municipality/overview")
    page.wait_for_selector("[data-testid=town-now][data-state=live]", timeout=CAUGHT_UP_MS)
    if system.sandbox is not None:
        _caught_up(page, "fleet-hour-totals", 2)
        _caught_up(page, "fleet-day-totals", 3)
    assert _houses(page, "fleet-hour-totals") > 0
    assert page.inner_text("[data-testid=fleet-hour-home_wh]").endswith(" kWh")
    assert not page.query_selector("[data-testid=fleet-municipality]")
    assert not page.query_selector("[data-testid=fleet-alerts]")
    assert_accessible(page, "municipality Overview with Our town now")
    shot(page, "municipality-town-now")
