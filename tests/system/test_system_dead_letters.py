"""Dead letters through the running processes: a replay from the command line dead-letters bad rows, meter-ingest's
API is restarted and still lists every one, and the corrected rows re-driven are on the ledger and in billing once.

Only the processes this needs run (the ledger's API and consumer, a billing worker, meter-ingest's API), on a
database, topic prefix and ports of their own (energychain_cli.sandbox).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from energychain_cli.sandbox import Sandbox
from energychain_shared import events, topics
from energychain_shared.settings import REPO_ROOT

from energychain_meter_ingest.testing import BAD, GOOD, HOUR_OF_LINE, export

pytestmark = pytest.mark.e2e
UTC = timezone.utc
BASE_PORT = 18700  # beside the other sandboxes (18100-18600)
SENTINEL = {11: "2021-11-07T08:00:00,0,0,0,0.50,0,0.50,40"}  # appended to the corrected file: read after the rest
HOURS = {**HOUR_OF_LINE, 11: 16}  # the UTC hour of each line, the sentinel too


def hour(line: int) -> datetime:
    return datetime(2021, 11, 7, HOURS[line], tzinfo=UTC)


def wait(what: str, probe: Callable, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}; last {found!r}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def dead_letter_system(infrastructure, tmp_path_factory) -> Iterator[tuple[Sandbox, Path]]:
    """The ledger (API and consumer), a billing worker and meter-ingest's API, with house-01's export of bad rows
    and the export of a house the registry does not know in meter-ingest's manifest."""
    run_dir = tmp_path_factory.mktemp("dead-letters")
    house = run_dir / "house-01.csv"
    house.write_text(export({**GOOD, **{line: bad for line, (bad, _, _) in BAD.items()}}))
    (run_dir / "stranger.csv").write_text(export({2: GOOD[2]}))
    manifest = run_dir / "manifest.json"
    manifest.write_text(json.dumps({"houses": {"house-01": "house-01.csv", "house-99999": "stranger.csv"}}))
    sandbox = Sandbox.prepare(infrastructure, run_dir, manifest=manifest, registry=REPO_ROOT / "data" / "registry.json",
                              base_port=BASE_PORT, roles=("gsa",), witnesses=False)
    try:
        sandbox.services("start", "ledger", "billing-worker", "meter-ingest-api")
        sandbox.wait_ready(services=("ledger", "meter_ingest"))
        yield sandbox, house
    finally:
        sandbox.destroy()


def ledger_readings(sandbox: Sandbox) -> list[tuple[str, datetime]]:
    """(entry id, event time: the end of the hour) of every reading entry on house-01's channel."""
    return [tuple(r) for r in sandbox.query(
        "SELECT e.entry_id, e.event_time FROM ledger.entries e JOIN ledger.channels c USING (tree_id) "
        "WHERE c.channel = 'resident:house-01' AND e.kind = 'meter_reading' ORDER BY e.event_time")]


def on_the_ledger(line: int) -> tuple[str, datetime]:
    """What the reading of ``line`` is on the ledger: its id, the one the replay gives it, and its hour's end."""
    return events.MeterReadingRecorded.id_for("house-01", hour(line)), hour(line) + timedelta(hours=1)


def billed_hours(sandbox: Sandbox) -> list[datetime]:
    return [r[0] for r in sandbox.query(
        "SELECT interval_start FROM billing.hourly WHERE house_id = 'house-01' ORDER BY interval_start")]


def ledger_consumed_everything(sandbox: Sandbox) -> bool:
    """The ledger's readings consumer committed every offset of meter.readings: it published the dead letters
    of everything it read before committing it."""
    prefix, bootstrap = sandbox.env["EC_TOPIC_PREFIX"], sandbox.env.get("EC_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    name = prefix + topics.METER_READINGS.name

    async def check() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await admin.start()
        await consumer.start()
        try:
            partitions = [TopicPartition(name, p) for p in range(topics.METER_READINGS.partitions)]
            ends = await consumer.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(f"{prefix}ledger-readings")
            return all(tp in committed and committed[tp].offset >= ends[tp] for tp in partitions if ends[tp])
        finally:
            await consumer.stop()
            await admin.close()

    return asyncio.run(check())


def test_dead_letters_survive_a_restart_of_meter_ingest_and_redriven_rows_are_on_the_ledger_once(dead_letter_system):
    sandbox, house = dead_letter_system
    ingest = sandbox.url("meter_ingest")
    gsa = sandbox.login("gsa-operator")

    def listing(total: int, **params) -> dict:
        def probe():
            answer = gsa.get(f"{ingest}/dead-letters", params=params).json()
            return answer if answer["caught_up"] and answer["total"] == total else None
        return wait(f"{total} dead letters listed", probe)

    # A replay from the command line (not the API's process) dead-letters six rows of house-01 and the
    # unknown house's row.
    sandbox.run("energychain-meter-ingest", "replay", "--speed", "max")
    listed = {d["source_line"]: d for d in listing(7)["dead_letters"] if d["house_id"] == "house-01"}
    assert {line: (d["reason"], d["raw"]) for line, d in listed.items()} == {
        line: (reason, bad) for line, (bad, reason, _) in BAD.items()}
    first = gsa.post(f"{ingest}/dead-letters/{listed[4]['id']}/redrive", json={"raw": BAD[4][2]})
    assert first.status_code == 200, first.text

    # meter-ingest's API restarted: the new process lists every dead letter again, from the topics.
    sandbox.services("stop", "meter-ingest-api")
    sandbox.services("start", "meter-ingest-api")
    sandbox.wait_ready(services=("meter_ingest",))
    after = listing(7)
    assert after["by_reason"] == {**{reason: 1 for _, reason, _ in BAD.values()}, "unknown_house": 1}
    relisted = {d["source_line"]: d for d in after["dead_letters"] if d["house_id"] == "house-01"}
    assert {line: (d["id"], d["reason"]) for line, d in relisted.items()} == {
        line: (listed[line]["id"], reason) for line, (_, reason, _) in BAD.items()}
    assert relisted[4]["resolution"]["reading_event_id"] == first.json()["reading_event_id"]

    # Re-driven once: again is refused, across the restart; then every other corrected row.
    again = gsa.post(f"{ingest}/dead-letters/{listed[4]['id']}/redrive", json={"raw": BAD[4][2]})
    assert again.status_code == 409 and "already_redriven" in again.text
    for line in (5, 6, 7, 8, 9):
        answer = gsa.post(f"{ingest}/dead-letters/{listed[line]['id']}/redrive", json={"raw": BAD[line][2]})
        assert answer.status_code == 200, answer.text
    assert listing(7)["unresolved"] == 1  # the unknown house's row

    # Every hour of house-01 is on its ledger channel once, under the id the replay gives it, and billed once.
    lines = [*GOOD, *BAD]
    expected = sorted(on_the_ledger(line) for line in lines)
    wait("the readings on the ledger", lambda: len(ledger_readings(sandbox)) >= len(lines))
    assert sorted(ledger_readings(sandbox)) == expected
    wait("the readings in billing", lambda: len(billed_hours(sandbox)) >= len(lines))
    assert billed_hours(sandbox) == sorted(hour(line) for line in lines)

    # The other path: the corrected file, one hour longer, replayed again from the start. Its readings are
    # those already recorded (the same ids and bytes): the ledger and billing gain the new hour only, and
    # the ledger refuses nothing.
    house.write_text(export({**GOOD, **{line: fixed for line, (_, _, fixed) in BAD.items()}, **SENTINEL}))
    sandbox.run("energychain-meter-ingest", "replay", "--speed", "max", "--reset")
    lines = [*lines, *SENTINEL]
    expected = sorted(on_the_ledger(line) for line in lines)
    wait("the new hour on the ledger", lambda: len(ledger_readings(sandbox)) >= len(lines))
    assert sorted(ledger_readings(sandbox)) == expected
    wait("the new hour in billing", lambda: len(billed_hours(sandbox)) >= len(lines))
    assert billed_hours(sandbox) == sorted(hour(line) for line in lines)
    wait("the ledger to commit every reading it read", lambda: ledger_consumed_everything(sandbox))
    assert listing(0, kind="ledger_append")["dead_letters"] == []
    assert listing(7)["unresolved"] == 1  # the unknown house's row, dead-lettered again under its id
