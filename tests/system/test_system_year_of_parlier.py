"""A year of Parlier through the whole running system, every role through its public API.

The GSA replays the three seed exports month by month; after each month's invoices
arrive the residents act: chauncy pays every invoice as soon as it arrives; luis pays
some invoices only after they went past due (as in the prototype); angel does not pay
for two months, then pays everything she owes. Escrow's month-end balances are computed
here, independently, from PRODUCT.md's rules and what the residents paid, and compared
with the escrow API and with the ledger's escrow account; every reading is on the ledger
once; every channel verifies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest

pytestmark = pytest.mark.e2e
UTC = timezone.utc
ZONE = ZoneInfo("America/Los_Angeles")
HOUSE_OF = {"luis": "house-01", "chauncy": "house-02", "angel": "house-03"}
LUIS_LATE = {"2021-08", "2021-09", "2022-01"}
ANGEL_SKIPS = {"2021-10", "2021-11"}
# Twelve invoiced months: the exports end on 23 July 2022, before June 2022's invoices fall due.
MONTHS = [f"{y}-{m:02d}" for y, m in [(2021, m) for m in range(6, 13)] + [(2022, m) for m in range(1, 6)]]
SHARE = Decimal("0.05")
ENDOWMENT = 100_000


def month_after(label: str) -> date:
    year, month = map(int, label.split("-"))
    return date(year + month // 12, month % 12 + 1, 1)


def at(day: date, hour_utc: int = 8) -> datetime:
    return datetime(day.year, day.month, day.day, hour_utc, tzinfo=UTC)


def local_month(instant: datetime) -> str:
    local = instant.astimezone(ZONE)
    return f"{local.year:04d}-{local.month:02d}"


@dataclass
class Fact:
    """Something escrow reacts to, as the test saw it happen."""

    time: datetime
    rank: int  # past due before payments at one instant
    kind: str
    house: str
    cents: int


def expected_escrow(facts: list[Fact], *, cap: int, months: list[str]) -> dict[str, int]:
    """Escrow balance at each month end, from PRODUCT.md: endowment, 5 % shares, cover, repayment, rollover."""
    balance = 0
    debt: dict[str, int] = {}
    closing: dict[str, int] = {}
    month_ends = {m: datetime.combine(month_after(m), datetime.min.time(), ZONE).astimezone(UTC) for m in months}
    pending = sorted(facts, key=lambda f: (f.time, f.rank))
    for month in months:
        for fact in [f for f in pending if f.time < month_ends[month]]:
            pending.remove(fact)
            if fact.kind == "endowment":
                balance += fact.cents
            elif fact.kind == "past_due":
                cover = min(fact.cents, balance)
                balance -= cover
                debt[fact.house] = debt.get(fact.house, 0) + cover
            elif fact.kind == "payment":
                repaid = min(fact.cents, debt.get(fact.house, 0))
                debt[fact.house] = debt.get(fact.house, 0) - repaid
                share = int((Decimal(fact.cents - repaid) * SHARE).quantize(Decimal(1), ROUND_HALF_UP))
                balance += repaid + share
        if balance > cap:
            balance = cap  # the excess rolls over into the treasury at month end
        closing[month] = balance
    return closing


def wait(what: str, probe, timeout: float = 120):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout}s for {what}; last {last!r}")


def rows_before(path, instant: datetime) -> int:
    """Data rows of an export whose hour starts before ``instant`` (local wall time; a repeated hour is standard time)."""
    import csv

    seen, count = set(), 0
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            local = datetime.fromisoformat(record["DATE"])
            start = local.replace(tzinfo=ZONE, fold=1 if local in seen else 0).astimezone(UTC)
            seen.add(local)
            count += start < instant
    return count


def test_a_year_of_parlier_escrow_ledger_and_roles_agree(system, escrow_cap_cents, parlier_exports):
    gsa = system.login("gsa-operator")
    stephen = system.login("stephen")
    residents = {name: system.login(name) for name in HOUSE_OF}
    cap = escrow_cap_cents
    facts = [Fact(datetime(2021, 6, 27, tzinfo=ZONE).astimezone(UTC), 0, "endowment", "", ENDOWMENT)]
    paid: set[str] = set()

    def replay_until(instant: datetime) -> None:
        answer = gsa.post(system.url("meter_ingest") + "/replay/start", json={"speed": "max", "until": instant.isoformat()})
        assert answer.status_code == 202, answer.text
        wait("the replay to reach " + instant.isoformat(),
             lambda: gsa.get(system.url("meter_ingest") + "/replay/status").json()["state"] == "finished")
        def billed_to_instant() -> bool:
            # A house without readings yet has no clock (and nothing to bill); the others must have caught up.
            clocks = [c.get(system.url("billing") + "/resident/account").json()["sim_time"] for c in residents.values()]
            known = [datetime.fromisoformat(t) for t in clocks if t is not None]
            return bool(known) and min(known) >= instant

        wait("billing's clock to reach " + instant.isoformat(), billed_to_instant, timeout=60)

    def pay(name: str, cents: int, key: str) -> None:
        answer = residents[name].post(
            system.url("billing") + "/resident/payments", json={"amount": f"{cents / 100:.2f}", "method": "zelle"},
            headers={"Idempotency-Key": key},
        )
        assert answer.status_code == 201, answer.text
        facts.append(Fact(datetime.fromisoformat(answer.json()["received_at"]), 1, "payment", HOUSE_OF[name], cents))

    for month in MONTHS:
        issued = month_after(month) + timedelta(days=3)
        replay_until(at(issued))  # the month's invoices are out
        for name, client in residents.items():
            invoices = {i["period"]: i for i in client.get(system.url("billing") + "/resident/invoices").json()}
            invoice = invoices.get(month)
            if invoice is None:
                continue
            if invoice["outstanding_cents"] <= 0:
                continue
            if name == "chauncy" or (name == "luis" and month not in LUIS_LATE):
                pay(name, invoice["outstanding_cents"], f"{name}-{month}")
                paid.add(invoice["invoice_id"])
            if name == "angel" and month not in ANGEL_SKIPS:
                balance = client.get(system.url("billing") + "/resident/account").json()["balance_cents"]
                if balance > 0:
                    pay(name, balance, f"{name}-{month}")
        after_due = issued + timedelta(days=22)
        replay_until(at(after_due))  # the month's invoices fell due
        for name, client in residents.items():
            for invoice in client.get(system.url("billing") + "/resident/invoices").json():
                if invoice["period"] == month and invoice["past_due"]:
                    facts.append(Fact(datetime.fromisoformat(invoice["due_at"]), 0, "past_due", HOUSE_OF[name],
                                      invoice["outstanding_cents"]))
                    if name == "luis":
                        pay(name, invoice["outstanding_cents"], f"{name}-{month}-late")

    assert {f.house for f in facts if f.kind == "past_due"} == {"house-01", "house-03"}
    expected = expected_escrow(facts, cap=cap, months=MONTHS)
    assert cap in expected.values() and min(expected.values()) < cap  # the year saw rollovers and covers

    def escrow_done():
        summary = stephen.get(system.url("escrow") + "/municipality/escrow").json()
        until = summary.get("processed_until")
        return until is not None and datetime.fromisoformat(until) >= at(month_after(MONTHS[-1]) + timedelta(days=25))

    wait("escrow to process the year", escrow_done)
    monthly = {m["month"]: m for m in stephen.get(system.url("escrow") + "/municipality/escrow/monthly").json()}
    assert {m: monthly[m]["closing_cents"] for m in MONTHS} == expected
    covered_months = {m for m, row in monthly.items() if row["cover_event"]}
    assert covered_months == {local_month(f.time) for f in facts if f.kind == "past_due"}

    # The ledger's escrow account at every month end equals escrow's own balance (the rollover is
    # dated at the month end itself; nothing else happens at that instant here).
    postings = stephen.get(system.url("ledger") + "/accounts/municipality:parlier:escrow/postings").json()
    for month in MONTHS:
        end = datetime.combine(month_after(month), datetime.min.time(), ZONE).astimezone(UTC)
        on_ledger = sum(p["amount_cents"] for p in postings if datetime.fromisoformat(p["event_time"]) <= end)
        assert on_ledger == monthly[month]["closing_cents"], month

    # Every reading is on the ledger once, every channel verifies, and the books balance.
    replayed_until = at(month_after(MONTHS[-1]) + timedelta(days=25))
    expected_readings = sum(rows_before(path, replayed_until) for path in parlier_exports.values())
    wait("every reading on the ledger", lambda: system.query(
        "SELECT count(*) FROM ledger.entries WHERE kind = 'meter_reading'")[0][0] >= expected_readings)
    on_ledger = system.query(
        "SELECT count(*) AS entries, count(DISTINCT entry_id) AS ids FROM ledger.entries WHERE kind = 'meter_reading'"
    )[0]
    assert (on_ledger["entries"], on_ledger["ids"]) == (expected_readings, expected_readings)
    for channel in [c["channel"] for c in gsa.get(system.url("ledger") + "/channels").json()]:
        report = gsa.get(system.url("ledger") + f"/channels/{channel}/verify").json()
        assert report["ok"], (channel, report)
    assert gsa.get(system.url("ledger") + "/accounts/check").json()["balanced"]
    whole = gsa.get(system.url("ledger") + "/verify").json()
    assert whole["ok"], whole["problems"][:5]

    # Both witnesses (Parlier's and the auditor's) cosigned the log as it grew and refused nothing.
    wait("a checkpoint cosigned by both witnesses", lambda: set(
        gsa.get(system.url("ledger") + "/log/checkpoint", params={"cosigned": "true"}).json()["cosigned_by"]
    ) == {"witness-parlier", "witness-auditor"})
    for name in system.witness_ports:
        status = system.witness_status(name)
        assert status["refusals"] == [] and status["cosigned"]["size"] > 0, (name, status["refusals"][:3])

    # Roles see only what is theirs.
    luis = residents["luis"]
    assert luis.get(system.url("escrow") + "/municipality/escrow").status_code == 403
    assert luis.get(system.url("ledger") + "/channels/resident:house-02/entries").status_code == 403
    assert [a["house_id"] for a in stephen.get(system.url("billing") + "/municipality/accounts").json()] == [
        "house-01", "house-02", "house-03"
    ]
    assert stephen.get(system.url("escrow") + "/gsa/escrow/reedley").status_code == 403

    # Move-out: the GSA ends the three contracts on their last reading's day; once the clock has passed the
    # end and billing's grace (48 h), July 2022 is billed as each house's final partial invoice, and nothing after.
    last_days = {house: last_local_day(path) for house, path in parlier_exports.items()}
    for house, day in last_days.items():
        ended = gsa.post(system.url("billing") + f"/admin/residents/{house}/end", json={"end_date": day.isoformat()})
        assert ended.status_code == 201, ended.text
    ends = {house: datetime.combine(day + timedelta(days=1), datetime.min.time(), ZONE).astimezone(UTC)
            for house, day in last_days.items()}
    replay_until(max(ends.values()) + timedelta(days=5))
    for name, client in residents.items():
        house = HOUSE_OF[name]
        invoices = wait(f"{house}'s final invoice", lambda client=client: [
            i for i in client.get(system.url("billing") + "/resident/invoices").json() if i["period"] >= "2022-07"])
        assert [(i["period"], datetime.fromisoformat(i["period_end"])) for i in invoices] == [("2022-07", ends[house])]


def last_local_day(path) -> date:
    """The local day of an export's last row."""
    with open(path) as handle:
        last = handle.read().rstrip("\n").rsplit("\n", 1)[-1]
    return datetime.fromisoformat(last.split(",", 1)[0].strip('"')).date()


def group_members(system, group: str) -> list[set[int]]:
    """The partitions each member of a consumer group holds (any topic)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    async def go():
        admin = AIOKafkaAdminClient(bootstrap_servers=system.env.get("EC_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
        await admin.start()
        try:
            (response,) = await admin.describe_consumer_groups([group])
        finally:
            await admin.close()
        (described,) = response.groups
        return [
            {p for _, partitions in ConsumerProtocolMemberAssignment.decode(member[4]).assignment for p in partitions}
            for member in described[5]
        ]

    return asyncio.run(go())


def test_the_scaled_out_workers_share_the_partitions(system):
    prefix = system.env["EC_TOPIC_PREFIX"]
    billing = group_members(system, f"{prefix}billing")
    ledger = group_members(system, f"{prefix}ledger-readings")
    appends = group_members(system, f"{prefix}ledger")
    assert len(billing) == 3 and all(billing)
    assert len(ledger) == 2 and all(ledger) and set().union(*ledger) == set(range(12))
    assert len(appends) == 2 and all(appends)
