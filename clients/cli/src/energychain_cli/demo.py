"""`energychain-demo`: the demo scenario, acting as every role through the public APIs only.

The GSA starts the replay of the three Parlier houses; as the simulated clock moves,
residents look at their bills and pay them (chauncy and angel as soon as an invoice
arrives, luis only once it is past due, as he did in the prototype), offer their
battery reserves, the municipality watches escrow and its residents' accounts, and the
GSA watches the fleet and verifies the ledger. Each step prints what that role sees.
When the exports end, the residents move out: the GSA ends each contract on its last
reading's day and runs the clock on past billing's grace, so the last, partial month
is billed as each house's final invoice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as clock_time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from energychain_cli.client import Api, ApiError
from energychain_shared.settings import CommonSettings, load_settings

console = Console()
RESIDENTS = ("luis", "chauncy", "angel")
LATE_PAYER = "luis"
MUNICIPAL_USER = "stephen"
GSA_USER = "gsa-operator"
PAST_THE_GRACE = timedelta(days=4)  # billing waits EC_BILLING_GRACE_HOURS (48 h) for late readings


def dollars(cents: int | None) -> str:
    """Cents as a dollar string."""
    return "-" if cents is None else f"{'-' if cents < 0 else ''}${abs(cents) / 100:,.2f}"


@dataclass
class Resident:
    """One resident's session and what the driver has done for it."""

    username: str
    api: Api
    paid: set[str] = field(default_factory=set)
    offered: set[str] = field(default_factory=set)


def _login(settings: CommonSettings, users: dict[str, str], username: str) -> Api:
    api = Api(settings)
    api.login(username, users[username])
    return api


def _pay_what_is_open(resident: Resident, *, only_past_due: bool) -> list[str]:
    """Pay each open invoice in full (once per invoice, idempotent by key); returns what was said."""
    said = []
    for invoice in resident.api.get("billing", "/resident/invoices"):
        if invoice["outstanding_cents"] <= 0 or invoice["invoice_id"] in resident.paid:
            continue
        if only_past_due and not invoice["past_due"]:
            continue
        amount = f"{invoice['outstanding_cents'] / 100:.2f}"
        answer = resident.api.post(
            "billing", "/resident/payments", {"amount": amount, "method": "venmo" if only_past_due else "card",
                                              "invoice_id": invoice["invoice_id"]},
            headers={"Idempotency-Key": f"demo-{invoice['invoice_id']}"},
        )
        resident.paid.add(invoice["invoice_id"])
        late = " (late: it was past due)" if invoice["past_due"] else ""
        said.append(f"{resident.username} pays {dollars(answer['amount_cents'])} for {invoice['invoice_id']}{late}; "
                    f"balance now {dollars(answer['balance_cents'])}")
    return said


def _offer_reserve(resident: Resident, sim_day: date) -> str | None:
    """Offer half of the reserve two days ahead at the lowest allowed price, once a month."""
    month = sim_day.strftime("%Y-%m")
    if month in resident.offered:
        return None
    terms = resident.api.get("market", "/resident/market/terms")
    if not terms.get("min_price_floor_usd_per_kwh"):
        return None  # the market has not seen the clock yet
    delivery = max(sim_day + timedelta(days=2), date.fromisoformat(terms["earliest_delivery_day"]))
    try:
        offer = resident.api.post("market", "/resident/offers", {
            "reserve_percent": 50, "delivery_day": delivery.isoformat(),
            "min_price_usd_per_kwh": terms["min_price_floor_usd_per_kwh"],
        })
    except ApiError as error:
        resident.offered.add(month)
        return f"{resident.username}'s offer was refused: {error.message}"
    resident.offered.add(month)
    return (f"{resident.username} offers {offer.get('energy_wh', '?')} Wh of reserve for {delivery} "
            f"at >= ${Decimal(offer['min_price_usd_per_kwh']):.4f}/kWh")


def _resident_view(resident: Resident) -> list[Any]:
    account = resident.api.get("billing", "/resident/account")
    invoices = resident.api.get("billing", "/resident/invoices")
    latest = invoices[-1] if invoices else None
    return [
        resident.username, account["name"], f"${Decimal(account['rate_usd_per_kwh']):.4f}/kWh",
        latest["period"] if latest else "-", dollars(latest["total_cents"]) if latest else "-",
        dollars(account["balance_cents"]), "[red]PAST DUE[/red]" if account["past_due"] else "ok",
    ]


def _show(sim_time: str, residents: list[Resident], municipality: Api, gsa: Api) -> None:
    table = Table(title=f"Residents (each sees only itself) at {sim_time}")
    for column in ("user", "name", "rate", "last invoice", "amount", "balance", "status"):
        table.add_column(column)
    for resident in residents:
        table.add_row(*_resident_view(resident))
    console.print(table)
    escrow = municipality.get("escrow", "/municipality/escrow")
    past_due = municipality.get("escrow", "/municipality/escrow/past-due")
    accounts = municipality.get("billing", "/municipality/accounts")
    console.print(
        f"[bold]Municipality (stephen)[/bold]: escrow {dollars(escrow['balance_cents'])}, "
        f"treasury rollovers {dollars(escrow.get('treasury_total_cents'))}; past due: "
        + (", ".join(f"{p['house_id']} {dollars(p['unpaid_cents'])} (escrow covered {dollars(p['covered_cents'])})"
                     for p in past_due) or "nobody")
        + "; accounts: " + ", ".join(f"{a['house_id']} {dollars(a['balance_cents'])}" for a in accounts)
    )
    status = gsa.get("meter_ingest", "/replay/status")
    check = gsa.get("ledger", "/accounts/check")
    console.print(
        f"[bold]GSA[/bold]: replay {status['state']} at {status['sim_time']}, {status['published']} readings "
        f"({status['dead_lettered']} dead-lettered, {status['flagged']} flagged); ledger trial balance "
        f"{'balanced' if check['balanced'] else 'NOT BALANCED: ' + str(check['sum_cents'])}"
    )


def _verify_all(gsa: Api) -> None:
    channels = [c["channel"] for c in gsa.get("ledger", "/channels")]
    bad = []
    entries = 0
    for channel in channels:
        report = gsa.get("ledger", f"/channels/{channel}/verify")
        entries += report.get("entries_checked", 0)
        if not report.get("ok"):
            bad.append(f"{channel}: {report}")
    if bad:
        console.print("[red]GSA: ledger verification FAILED[/red]\n  " + "\n  ".join(bad))
    else:
        whole = gsa.get("ledger", "/verify")
        if not whole.get("ok"):
            console.print("[red]GSA: the log of heads does not verify[/red]\n  " + "\n  ".join(
                f"{p['problem']}: {p['detail']}" for p in whole.get("problems", [])))
            return
        checkpoint = gsa.get("ledger", "/log/checkpoint", cosigned="true")
        console.print(f"[green]GSA: ledger verified[/green]: {len(channels)} channels, {entries} entries, every leaf, "
                      f"head, signature and posting; checkpoint {checkpoint['size']} cosigned by "
                      f"{', '.join(checkpoint['cosigned_by']) or 'no witness yet'}")


def _billed_to(residents: list[Resident], instant: datetime, *, timeout_s: float = 600) -> None:
    """Wait until billing's clock of every resident with readings has reached ``instant`` (the replay runs ahead
    of the pipeline at a high speed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        clocks = [r.api.get("billing", "/resident/account")["sim_time"] for r in residents]
        if all(c is None or datetime.fromisoformat(c) >= instant for c in clocks) and any(clocks):
            return
        time.sleep(1)
    console.print(f"billing has not reached {instant.isoformat()} in {timeout_s:.0f} s; going on")


def _move_out(gsa: Api, residents: list[Resident], sim_time: datetime) -> datetime | None:
    """End each resident's contract on the local day of its last reading (the GSA's administration API); returns
    when the clock must reach for the final invoices, None when no house had readings in the last 60 days."""
    ends = []
    for resident in residents:
        house = resident.api.get("billing", "/resident/account")["house_id"]
        registered = gsa.get("billing", f"/admin/residents/{house}")
        zone = ZoneInfo(gsa.get("billing", f"/admin/municipalities/{registered['municipality_id']}")["timezone"])
        last_day = registered["contract"].get("end_date")
        if last_day is None:
            days = resident.api.get("billing", "/resident/usage", **{
                "from": (sim_time - timedelta(days=60)).isoformat(), "to": (sim_time + timedelta(days=1)).isoformat(),
                "granularity": "day"})
            if not days:
                continue
            last_day = datetime.fromisoformat(days[-1]["start"]).astimezone(zone).date().isoformat()
            gsa.post("billing", f"/admin/residents/{house}/end", {"end_date": last_day})
            console.print(f"[bold]GSA[/bold]: {resident.username} moves out: {house}'s contract ends on {last_day}, "
                          "its last reading's day")
        ends.append(datetime.combine(date.fromisoformat(last_day) + timedelta(days=1), clock_time(0), tzinfo=zone))
    return max(ends) + PAST_THE_GRACE if ends else None


def _final_invoices(residents: list[Resident]) -> None:
    table = Table(title="Final invoices after the move-out")
    for column in ("user", "period", "from", "to (exclusive)", "energy", "total"):
        table.add_column(column)
    for resident in residents:
        invoices = resident.api.get("billing", "/resident/invoices")
        if invoices:
            last = invoices[-1]
            table.add_row(resident.username, last["period"], last["period_start"], last["period_end"],
                          f"{last.get('energy_wh', 0) / 1000:.1f} kWh", dollars(last["total_cents"]))
    console.print(table)


def run(settings: CommonSettings, users: dict[str, str], *, speed: str, every_s: float, restart: bool) -> None:
    """Drive the scenario until the replay finishes."""
    gsa = _login(settings, users, GSA_USER)
    municipality = _login(settings, users, MUNICIPAL_USER)
    residents = [Resident(name, _login(settings, users, name)) for name in RESIDENTS]
    console.print(f"Logged in: {', '.join(RESIDENTS)} (residents), {MUNICIPAL_USER} (municipality), {GSA_USER} (GSA)")
    status = gsa.get("meter_ingest", "/replay/status")
    if status["state"] != "running":
        gsa.post("meter_ingest", "/replay/start", {"speed": speed, "reset": restart})
        console.print(f"GSA starts the replay at {speed} simulated seconds per second")
    last_show = 0.0
    moved_out = False
    while True:
        status = gsa.get("meter_ingest", "/replay/status")
        sim_time = status.get("sim_time")
        if sim_time:
            sim_day = datetime.fromisoformat(sim_time).date()
            for resident in residents:
                try:
                    said = _pay_what_is_open(resident, only_past_due=resident.username == LATE_PAYER)
                    if sim_day.day in (5, 6, 7, 8) and sim_day.month in (8, 9, 10):  # summer evenings pay best
                        said.append(_offer_reserve(resident, sim_day) or "")
                except ApiError as error:
                    said = [f"{resident.username}: {error.message}"]
                for line in filter(None, said):
                    console.print(f"[cyan]{sim_day}[/cyan] {line}")
            if time.monotonic() - last_show >= every_s:
                _show(sim_time, residents, municipality, gsa)
                last_show = time.monotonic()
        if status["state"] == "finished" and not moved_out and sim_time:
            moved_out = True
            _billed_to(residents, datetime.fromisoformat(sim_time))  # every reading billed: the last days are known
            until = _move_out(gsa, residents, datetime.fromisoformat(sim_time))
            if until is not None:  # the clock runs on past the last reading, through the grace
                gsa.post("meter_ingest", "/replay/start", {"speed": "max", "until": until.isoformat()})
                console.print(f"GSA runs the clock on to {until.isoformat()} for the final invoices")
                time.sleep(1)
                continue
        if status["state"] in ("finished", "stopped", "failed"):
            break
        time.sleep(1)
    time.sleep(3)  # let the last events through the pipeline
    _show(status.get("sim_time") or "-", residents, municipality, gsa)
    monthly = municipality.get("escrow", "/municipality/escrow/monthly")
    table = Table(title="Municipality: escrow by month (the prototype's Escrow chart)")
    for column in ("month", "opening", "shares", "repaid", "past-due cover", "to treasury", "closing"):
        table.add_column(column)
    for row in monthly:
        table.add_row(row["month"], dollars(row["opening_cents"]), dollars(row["payment_share_cents"]),
                      dollars(row["repayment_cents"]), dollars(row["past_due_cover_cents"]) + (" *" if row["cover_event"] else ""),
                      dollars(row["treasury_rollover_cents"]), dollars(row["closing_cents"]))
    console.print(table)
    if moved_out:
        _billed_to(residents, datetime.fromisoformat(status["sim_time"]))
        _final_invoices(residents)
    _verify_all(gsa)
    console.print(f"Replay {status['state']}; the system keeps running (deploy/down.sh stops it).")


def main_command(
    users: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Demo users JSON (usernames, passwords).")] = Path(
        "deploy/demo-users.example.json"
    ),
    speed: Annotated[str, typer.Option(help="Simulated seconds per wall second, or 'max'.")] = "86400",
    every: Annotated[float, typer.Option(help="Print every role's view every this many seconds.")] = 15.0,
    restart: Annotated[bool, typer.Option(help="Replay from the first reading, forgetting the checkpoint.")] = False,
) -> None:
    """Run the demo scenario against the running system."""
    settings = load_settings(CommonSettings)
    accounts = {u["username"]: u["password"] for u in json.loads(users.read_text())["users"]}
    missing = [u for u in (*RESIDENTS, MUNICIPAL_USER, GSA_USER) if u not in accounts]
    if missing:
        console.print(f"energychain-demo: {users}: missing users {', '.join(missing)}")
        raise typer.Exit(2)
    try:
        run(settings, accounts, speed=speed, every_s=every, restart=restart)
    except ApiError as error:
        console.print(f"energychain-demo: {error}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("demo driver stopped; the system keeps running")


def main() -> None:
    """Console entry point."""
    typer.run(main_command)


