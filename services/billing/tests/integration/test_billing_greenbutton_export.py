"""A resident's Green Button export of November 2021 (with the fall-back day), through the real broker and database.

One house's hourly export (the seed export of house-01 when the seed data is beside the
checkout; the project's generated demo house-01 always) is read with meter-ingest's parser
and published to meter.readings from 31 October to 1 December, a day more on each side of
the month; billing's worker stores it. The resident then downloads November as Green Button
XML, parsed with greenbutton-objects (a Green Button library this project did not write),
and as CSV: every day's and the month's totals must equal the usage API's to the Wh.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from greenbutton_objects import parse as greenbutton_parse
from greenbutton_objects.enums import FlowDirectionType, UomType

from energychain_shared import events, keys, topics
from energychain_shared.auth import Principal, Role, issue_token
from energychain_shared.kafka import ensure_topics, make_producer
from energychain_shared.settings import CommonSettings
from energychain_shared.testing import SEED_FILES

from energychain_billing.api import create_app

pytestmark = pytest.mark.integration
UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")
HOUSE = "house-01"
NOVEMBER = (date(2021, 11, 1), date(2021, 12, 1))
PUBLISHED = (datetime(2021, 10, 31, tzinfo=LA), datetime(2021, 12, 2, tzinfo=LA))  # a day beyond each end
MEASURES = ("home_wh", "solar_wh", "grid_import_wh", "grid_export_wh", "battery_charged_wh", "battery_discharged_wh",
            "billed_wh")


@pytest.fixture(params=["seed", "demo"])
def house_export(request, tmp_path) -> Path:
    """House-01's hourly export: the seed file (skipped with the reason when absent), or the generated demo one."""
    if request.param == "seed":
        return request.getfixturevalue("seed_data_dir") / SEED_FILES[HOUSE]
    from energychain_meter_ingest.adapters.fleet_files import generate_demo

    out = tmp_path / "demo"
    generate_demo(registry_path=CommonSettings().registry_path, out=out, seed=7)  # `generate-demo`'s default seed
    return out / f"{HOUSE}.csv"


def readings_of(path: Path) -> list[events.MeterReadingRecorded]:
    """The export's readings in the published window, as meter-ingest reads and publishes them."""
    from energychain_meter_ingest.adapters.csv_source import HouseSource, house_readings
    from energychain_meter_ingest.adapters.wire import reading_event
    from energychain_meter_ingest.domain.readings import ValidationPolicy

    rejected = []
    source = house_readings(HouseSource(HOUSE, path), zone=LA, policy=ValidationPolicy(), on_rejection=rejected.append)
    readings = [reading_event(r) for r in source if PUBLISHED[0] <= r.interval_start < PUBLISHED[1]]
    first, end = (int(t.timestamp()) for t in PUBLISHED)
    assert not [r for r in rejected if r.hour is not None and first <= r.hour < end]
    return readings


@pytest.fixture
async def billing(infrastructure, tmp_path, kit):
    """Topics and a schema of their own, the worker running, the API app, tokens per principal."""
    settings = kit.billing_settings(
        infrastructure, tmp_path / "keys", topic_prefix=f"{infrastructure.topic_prefix}gb-{uuid.uuid4().hex[:6]}."
    )
    await ensure_topics(settings)
    await kit.migrated(settings)
    worker = await kit.start_worker(settings)
    producer = make_producer(settings, client_id="billing-test-meter")
    await producer.start()
    app = create_app(settings, context=worker.ctx, producer=worker.producer)
    token_key = keys.load_private_key(settings.resolved_keys_dir, keys.TOKEN_KEY)

    def token(house: str | None, role: Role = Role.RESIDENT) -> dict[str, str]:
        principal = Principal(role=role, subject=house or "stephen", municipality_id="parlier", house_id=house)
        return {"Authorization": f"Bearer {issue_token(token_key, principal, ttl=timedelta(hours=1))}"}

    async def publish(readings: list[events.MeterReadingRecorded]) -> None:
        topic = settings.topic(topics.METER_READINGS)
        for reading in readings:
            await (await producer.send(topic, events.encode(reading), key=reading.house_id.encode()))

    connection = await asyncpg.connect(
        settings.asyncpg_dsn, server_settings={"search_path": settings.billing_db_schema}
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://billing") as client:
        yield client, token, publish, connection
    await connection.close()
    await producer.stop()
    await worker.close()


def local_midnight(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=LA).isoformat()


async def usage_by(client, headers, granularity: str) -> dict[date, dict[str, int]]:
    """The usage API's November by local day or month, keyed by the local date each bucket starts."""
    answer = await client.get("/resident/usage", headers=headers, params={
        "from": local_midnight(NOVEMBER[0]), "to": local_midnight(NOVEMBER[1]), "granularity": granularity,
    })
    assert answer.status_code == 200, answer.text
    return {
        datetime.fromisoformat(row["start"]).astimezone(LA).date(): {m: row[m] for m in MEASURES}
        for row in answer.json()
    }


async def test_the_green_button_and_csv_totals_of_each_day_and_the_month_equal_the_usage_api_to_the_wh(
    house_export, billing, kit
):
    readings = readings_of(house_export)
    client, token, publish, db = billing
    await publish(readings)
    await kit.wait_until(lambda: db.fetchval("SELECT count(*) FROM hourly"), len(readings), what="readings stored")
    headers = token(HOUSE)
    daily, monthly = await usage_by(client, headers, "day"), await usage_by(client, headers, "month")
    assert sorted(daily) == [NOVEMBER[0] + timedelta(days=n) for n in range(30)]
    assert list(monthly) == [NOVEMBER[0]]

    answer = await client.get("/resident/usage/greenbutton", headers=headers,
                              params={"from": "2021-11-01", "to": "2021-12-01", "format": "xml"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/atom+xml"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="usage-house-01-2021-11-01-to-2021-11-30.xml"'
    )
    (usage_point,) = greenbutton_parse.parse_feed(io.BytesIO(answer.content))
    by_flow = {mr.readingType.flowDirection: mr for mr in usage_point.meterReadings}
    assert set(by_flow) == {FlowDirectionType.forward, FlowDirectionType.reverse}
    for flow, column in ((FlowDirectionType.forward, "home_wh"), (FlowDirectionType.reverse, "solar_wh")):
        meter_reading = by_flow[flow]
        assert meter_reading.readingType.uom is UomType.wattHours
        assert (meter_reading.readingType.intervalLength, meter_reading.readingType.powerOfTenMultiplier) == (3600, 0)
        per_day: dict[date, int] = defaultdict(int)
        count: dict[date, int] = defaultdict(int)
        for interval in meter_reading.intervalReadings:
            assert interval.timePeriod.duration == timedelta(hours=1)
            assert isinstance(interval.value, int)
            day = interval.timePeriod.start.astimezone(LA).date()
            per_day[day] += interval.value
            count[day] += 1
        assert dict(per_day) == {day: row[column] for day, row in daily.items()}, column
        assert sum(per_day.values()) == monthly[NOVEMBER[0]][column]
        assert (count[date(2021, 11, 7)], count[date(2021, 11, 8)]) == (25, 24)  # the fall-back day lasts 25 hours
        assert len(meter_reading.intervalBlocks) == 30  # one block per local day
    # ...and the month is exactly what was metered in November (the published days either side are left out).
    november = [r for r in readings if NOVEMBER[0] <= r.interval_start.astimezone(LA).date() < NOVEMBER[1]]
    assert monthly[NOVEMBER[0]]["home_wh"] == sum(r.home_wh for r in november)
    assert monthly[NOVEMBER[0]]["solar_wh"] == sum(r.solar_wh for r in november)

    answer = await client.get("/resident/usage/greenbutton", headers=headers,
                              params={"from": "2021-11-01", "to": "2021-12-01", "format": "csv"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].endswith('filename="usage-house-01-2021-11-01-to-2021-11-30.csv"')
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(table) == len(november) == 30 * 24 + 1
    csv_days: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    for row in table:
        day = date.fromisoformat(row["local_start"][:10])
        for measure in MEASURES:
            csv_days[day][measure] += int(row[measure])
    assert dict(csv_days) == daily
    assert {m: sum(d[m] for d in csv_days.values()) for m in MEASURES} == monthly[NOVEMBER[0]]


async def test_an_export_is_the_callers_own_house_and_a_bad_range_is_refused_naming_the_field(billing, kit):
    client, token, publish, db = billing
    start = datetime(2021, 11, 7, 8, tzinfo=UTC)  # 01:00 daylight time, then 01:00 standard time
    await publish([
        events.MeterReadingRecorded(
            event_id=events.MeterReadingRecorded.id_for(HOUSE, at), occurred_at=at + timedelta(hours=1),
            producer="test-meter", house_id=HOUSE, interval_start=at, solar_wh=0, home_wh=700 + n, battery_charged_wh=0,
            battery_discharged_wh=0, grid_import_wh=700 + n, grid_export_wh=0, battery_level_pct=41, imbalance_wh=0,
            source_file="test", source_line=n + 1,
        )
        for n, at in enumerate((start, start + timedelta(hours=1)))
    ])
    await kit.wait_until(lambda: db.fetchval("SELECT count(*) FROM hourly"), 2, what="readings stored")
    params = {"from": "2021-11-07", "to": "2021-11-08", "format": "csv"}

    own = await client.get("/resident/usage/greenbutton", headers=token(HOUSE), params=params)
    assert [line.split(",")[:3] for line in own.text.splitlines()[1:]] == [
        ["2021-11-07T01:00:00-07:00", "2021-11-07T08:00:00Z", "700"],
        ["2021-11-07T01:00:00-08:00", "2021-11-07T09:00:00Z", "701"],
    ]
    other = await client.get("/resident/usage/greenbutton", headers=token("house-02"), params=params)
    assert other.status_code == 200 and other.text.splitlines()[1:] == []  # house-02's own (empty) usage
    municipality = token(None, Role.MUNICIPALITY)
    assert (await client.get("/resident/usage/greenbutton", headers=municipality, params=params)).status_code == 403
    assert (await client.get("/resident/usage/greenbutton", params=params)).status_code == 401

    for bad, field in (
        ({"from": "2021-11-7"}, "from"), ({"from": "2021-13-01"}, "from"), ({"to": "7 Nov"}, "to"),
        ({"to": "2021-11-07"}, "to"), ({"from": "2021-11-09"}, "to"), ({"to": "2022-11-09"}, "to"),
        ({"format": "pdf"}, "format"),
    ):
        answer = await client.get("/resident/usage/greenbutton", headers=token(HOUSE), params={**params, **bad})
        assert (answer.status_code, answer.json()["field"]) == (422, field), (bad, answer.text)
    missing = await client.get("/resident/usage/greenbutton", headers=token(HOUSE), params={"to": "2021-11-08"})
    assert missing.status_code == 422 and "from" in missing.text
