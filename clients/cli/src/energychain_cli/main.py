"""`energychain`: the command-line client for operators and scripts (every role, public APIs only)."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Optional
from urllib.parse import quote, urlencode

import httpx
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from energychain_cli.client import Api, ApiError, error_message, load_session, save_session
from energychain_shared.settings import CommonSettings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
replay_app = typer.Typer(no_args_is_help=True, help="Replay control (GSA).")
app.add_typer(replay_app, name="replay")
dead_letters_app = typer.Typer(no_args_is_help=True, help="Dead letters: refused meter rows and ledger appends (GSA).")
app.add_typer(dead_letters_app, name="dead-letters")
users_app = typer.Typer(no_args_is_help=True, help="Users: create, disable, enable, list (GSA).")
app.add_typer(users_app, name="users")
program_app = typer.Typer(no_args_is_help=True, help="The program: municipalities, residents and contracts (GSA).")
app.add_typer(program_app, name="program")
USER_COLUMNS = ["username", "role", "municipality_id", "house_id", "disabled_at", "created_at"]
console = Console()
SERVICES = ("meter_ingest", "ledger", "billing", "escrow", "market")


def settings() -> CommonSettings:
    return load_settings(CommonSettings)


def api() -> Api:
    """A client carrying the saved login's token."""
    current = settings()
    session = load_session(current)
    if session is None:
        fail("not logged in: run `energychain login USERNAME`")
    return Api(current, token=session["token"])


def fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def call(function, *args, **kwargs):
    """Run an API call, turning its refusal into one readable line."""
    try:
        return function(*args, **kwargs)
    except ApiError as error:
        fail(f"{error.status} {error.message}")
    except httpx.HTTPError as error:
        fail(f"cannot reach the API: {error}")


def table(title: str, rows: list[dict], columns: list[str]) -> Table:
    """A rich table of ``rows`` showing ``columns``."""
    out = Table(title=title)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(str(row.get(column, "")) for column in columns))
    return out


def dollars(cents: int | None) -> str:
    """Integer cents as $d.cc (negative = credit)."""
    if cents is None:
        return "-"
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


@app.command()
def login(
    username: str,
    password: Annotated[Optional[str], typer.Option(help="Omit to be asked (or pipe it with --password-stdin).")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
) -> None:
    """Log in as a user (resident, municipality or GSA) and remember the token."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    if password is None:
        password = typer.prompt("password", hide_input=True)
    current = settings()
    token = call(Api(current).login, username, password)
    save_session(current, username=username, token=token)
    console.print(f"logged in as [bold]{username}[/bold]")


def _new_password(prompt: str, stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=True)


@app.command()
def password(
    password_stdin: Annotated[bool, typer.Option(help="Read the current and the new password, one per line, "
                                                      "from standard input.")] = False,
) -> None:
    """Change your own password (your older tokens stop working: log in again)."""
    current = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt("current password", hide_input=True)
    new = _new_password("new password", password_stdin)
    call(api().post, "ledger", "/auth/password", {"current_password": current, "new_password": new})
    console.print("password changed: log in again with the new one")


@users_app.command("list")
def users_list(
    role: Annotated[Optional[str], typer.Option(help="resident, municipality, gsa or auditor.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, by username.")] = 1000,
) -> None:
    """Every user (or those of one role), with whether it is disabled."""
    console.print(table("users", call(api().get, "ledger", "/admin/users", role=role, limit=limit), USER_COLUMNS))


@users_app.command("show")
def users_show(username: str) -> None:
    """One user."""
    console.print(table("user", [call(api().get, "ledger", f"/admin/users/{quote(username, safe='')}")],
                        USER_COLUMNS + ["updated_at"]))


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[str, typer.Option(help="resident or municipality.")],
    house: Annotated[Optional[str], typer.Option(help="A resident's registered house id.")] = None,
    municipality: Annotated[Optional[str], typer.Option(help="A municipality user's municipality id.")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
) -> None:
    """Create a resident user (for a registered house) or a municipality user."""
    body = {"username": username, "role": role, "password": _new_password("password", password_stdin),
            "house_id": house, "municipality_id": municipality}
    console.print(table("created", [call(api().post, "ledger", "/admin/users", body)], USER_COLUMNS))


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Disable a user: its login fails at once and its tokens stop working."""
    console.print(table("disabled", [call(api().post, "ledger", f"/admin/users/{quote(username, safe='')}/disable")],
                        USER_COLUMNS))


@users_app.command("enable")
def users_enable(username: str) -> None:
    """Enable a disabled user again (it logs in anew)."""
    console.print(table("enabled", [call(api().post, "ledger", f"/admin/users/{quote(username, safe='')}/enable")],
                        USER_COLUMNS))


RESIDENT_COLUMNS = ["house_id", "username", "name", "municipality_id", "rate_usd_per_kwh", "escalator_percent",
                    "battery_wh", "reserve_wh", "start_date", "billing_basis"]
MUNICIPALITY_COLUMNS = ["municipality_id", "name", "timezone", "latitude", "endowment_cents", "share_percent",
                        "cap_cents"]


def _resident_row(resident: dict) -> dict:
    return {**resident, **resident.get("contract", {})}


def _municipality_row(municipality: dict) -> dict:
    return {**municipality, **municipality.get("escrow", {})}


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        fail(f"{path}: {error}")


@program_app.command("municipalities")
def program_municipalities() -> None:
    """Every municipality of the program."""
    rows = call(api().get, "billing", "/admin/municipalities")
    console.print(table("municipalities", [_municipality_row(m) for m in rows], MUNICIPALITY_COLUMNS))


@program_app.command("residents")
def program_residents(
    municipality: Annotated[Optional[str], typer.Option(help="Only this municipality's.")] = None,
) -> None:
    """Every enrolled resident with its contract."""
    rows = call(api().get, "billing", "/admin/residents", municipality_id=municipality)
    console.print(table("residents", [_resident_row(r) for r in rows], RESIDENT_COLUMNS))


@program_app.command("show")
def program_show(house_id: str) -> None:
    """One resident, its contract and the history of its enrolment."""
    resident = call(api().get, "billing", f"/admin/residents/{quote(house_id, safe='')}")
    console.print(table("resident", [_resident_row(resident)], RESIDENT_COLUMNS))
    console.print(table("history", resident["history"], ["change", "recorded_at", "recorded_by", "event_id", "source"]))


@program_app.command("onboard")
def program_onboard(file: Annotated[Path, typer.Argument(help="A JSON municipality: municipality_id, name, "
                                                         "timezone, latitude, escrow {endowment_cents, share_percent, cap_cents}.")]) -> None:
    """Onboard a municipality with its escrow settings."""
    answer = call(api().post, "billing", "/admin/municipalities", _read_json(file))
    console.print(table("onboarded" if answer["event_ids"] else "already onboarded alike",
                        [_municipality_row(answer)], MUNICIPALITY_COLUMNS))


@program_app.command("enrol")
def program_enrol(file: Annotated[Path, typer.Argument(help="A JSON resident: house_id, username, name, address, "
                                                       "municipality_id, contract {...}; or a CSV file of many.")]) -> None:
    """Enrol a resident with its contract (a .json file), or every row of a .csv file (all or none)."""
    client = api()
    if file.suffix.lower() == ".csv":
        try:
            content = file.read_bytes()
        except OSError as error:
            fail(f"{file}: {error}")
        answer = call(client.request, "POST", "billing", "/admin/residents/bulk", content=content,
                      headers={"Content-Type": "text/csv"})
        console.print(f"{answer['rows']:,} rows: {answer['enrolled']:,} enrolled, {answer['unchanged']:,} already enrolled alike")
        return
    answer = call(client.post, "billing", "/admin/residents", _read_json(file))
    console.print(table("enrolled" if answer["event_ids"] else "already enrolled alike", [_resident_row(answer)],
                        RESIDENT_COLUMNS))


@program_app.command("end")
def program_end(
    house_id: str,
    on: Annotated[str, typer.Option("--on", help="The contract's last day, YYYY-MM-DD (local).")],
) -> None:
    """End a resident's contract (move-out): its final invoice covers the partial period up to that day."""
    answer = call(api().post, "billing", f"/admin/residents/{quote(house_id, safe='')}/end", {"end_date": on})
    console.print(f"{house_id}: contract ends on {answer['end_date']}"
                  + ("" if answer["event_ids"] else " (it had ended that day already)"))


@program_app.command("amend")
def program_amend(
    house_id: str,
    effective: Annotated[str, typer.Option("--from", help="The first day of the new terms, YYYY-MM-DD (local).")],
    rate: Annotated[Optional[str], typer.Option(help="Base rate, USD per kWh (escalated by contract year).")] = None,
    escalator: Annotated[Optional[str], typer.Option(help="Yearly escalator, percent.")] = None,
    reserve: Annotated[Optional[int], typer.Option(help="Battery reserve offered to the market, Wh.")] = None,
    basis: Annotated[Optional[str], typer.Option(help="Billing basis: delivered or all_consumption.")] = None,
) -> None:
    """Amend a resident's contract from a day: the terms named change, the others stay; the invoice of the
    period it falls in is split at that day."""
    body = {"effective_date": effective, "rate_usd_per_kwh": rate, "escalator_percent": escalator,
            "reserve_wh": reserve, "billing_basis": basis}
    answer = call(api().post, "billing", f"/admin/residents/{quote(house_id, safe='')}/amendments",
                  {k: v for k, v in body.items() if v is not None})
    console.print(f"{house_id}: contract amended from {answer['effective_date']}"
                  + ("" if answer["event_ids"] else " (it was amended alike already)"))


@program_app.command("move")
def program_move(
    house_id: str,
    to: Annotated[str, typer.Option("--to", help="The municipality the house belongs to from then on.")],
    effective: Annotated[str, typer.Option("--from", help="The first day in the new municipality, YYYY-MM-DD.")],
) -> None:
    """Move a house to another municipality from a day (ledger membership, invoices and escrow follow)."""
    answer = call(api().post, "billing", f"/admin/residents/{quote(house_id, safe='')}/moves",
                  {"effective_date": effective, "municipality_id": to})
    console.print(f"{house_id}: in {answer['municipality_id']} from {answer['effective_date']}"
                  + ("" if answer["event_ids"] else " (it had moved there that day already)"))


@program_app.command("import")
def program_import(file: Annotated[Path, typer.Argument(help="A registry file (data/registry.json's format).")]) -> None:
    """Onboard every municipality and enrol every resident of a registry file (what is registered alike is kept)."""
    registry = _read_json(file)
    client = api()
    onboarded = enrolled = 0
    for municipality in registry.get("municipalities", []):
        onboarded += bool(call(client.post, "billing", "/admin/municipalities", municipality)["event_ids"])
    changed = 0
    for resident in registry.get("residents", []):
        # The enrolment carries the terms at the start; amendments, moves and the end are changes of their own.
        later = {name: resident.pop(name, None) or () for name in ("amendments", "moves")}
        end_date = resident.get("contract", {}).pop("end_date", None)
        enrolled += bool(call(client.post, "billing", "/admin/residents", resident)["event_ids"])
        path = f"/admin/residents/{quote(resident['house_id'], safe='')}"
        for amendment in later["amendments"]:
            changed += bool(call(client.post, "billing", f"{path}/amendments", amendment)["event_ids"])
        for move in later["moves"]:
            changed += bool(call(client.post, "billing", f"{path}/moves", move)["event_ids"])
        if end_date is not None:
            changed += bool(call(client.post, "billing", f"{path}/end", {"end_date": end_date})["event_ids"])
    console.print(f"{file}: {onboarded} municipalities onboarded, {enrolled} residents enrolled, {changed} later "
                  "changes (amendments, moves, ends) registered (the rest were registered alike)")


@app.command("wait-ready")
def wait_ready(timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 120.0) -> None:
    """Wait until every service answers /readyz."""
    current = settings()
    deadline = time.monotonic() + timeout
    pending = set(SERVICES)
    with httpx.Client(timeout=3) as client:
        while pending and time.monotonic() < deadline:
            for service in sorted(pending):
                try:
                    if client.get(getattr(current, f"{service}_url") + "/readyz").status_code == 200:
                        pending.discard(service)
                        console.print(f"ready  {service}")
                except httpx.HTTPError:
                    pass
            if pending:
                time.sleep(1)
    if pending:
        fail(f"not ready after {timeout:.0f} s: {', '.join(sorted(pending))} (see .run/logs/)")


@app.command()
def verify(channel: Annotated[Optional[str], typer.Option(help="One channel; default every channel you may read.")] = None) -> None:
    """The ledger recomputes leaves, trees, heads, signatures and postings; every problem is named."""
    client = api()
    channels = [channel] if channel else [c["channel"] for c in call(client.get, "ledger", "/channels", limit=1000)]
    failed = 0
    for name in channels:
        report = call(client.get, "ledger", f"/channels/{name}/verify")
        if report.get("ok"):
            by = ", ".join(report.get("cosigned_by") or []) or "no witness yet"
            console.print(f"[green]ok[/green]      {name}: {report.get('entries_checked', '?')} entries, proved in "
                          f"checkpoint {report.get('checkpoint')} cosigned by {by}")
        else:
            failed += 1
            for problem in report.get("problems", []):
                where = " ".join(f"{k} {problem[k]}" for k in ("seq", "entry_id", "posting", "checkpoint")
                                 if problem.get(k) is not None)
                console.print(f"[red]FAILED[/red]  {name} {where}: {problem['problem']}: {problem['detail']}")
    if failed:
        raise typer.Exit(1)


from energychain_cli import proofs  # noqa: E402  (the proof commands use the helpers above)

proofs.register(app, api, call, fail)


def _utc_iso(value: datetime | None) -> str | None:
    """A time typed without a zone is UTC (the ledger's event times are)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


@app.command()
def transactions(
    channel: Annotated[Optional[str], typer.Option(help="Ledger channel; default your own.")] = None,
    kind: Annotated[Optional[str], typer.Option(help="Entry kind, e.g. invoice, payment.")] = None,
    from_time: Annotated[Optional[datetime], typer.Option("--from", help="Event time from (ISO).")] = None,
    to_time: Annotated[Optional[datetime], typer.Option("--to", help="Event time to (ISO).")] = None,
    limit: int = 50,
) -> None:
    """Ledger entries of a channel between two dates (the Transactions page)."""
    client = api()
    if channel is None:
        channel = call(client.get, "ledger", "/channels")[0]["channel"]
    page = call(client.get, "ledger", f"/channels/{channel}/entries", kind=kind, limit=limit,
                **{"from": _utc_iso(from_time), "to": _utc_iso(to_time)})
    rows = [{"seq": e.get("seq"), "time": e.get("event_time"), "kind": e.get("kind"), "entry": e.get("entry_id")}
            for e in page.get("entries", [])]
    console.print(table(f"{channel}", rows, ["seq", "time", "kind", "entry"]))


@app.command()
def balances() -> None:
    """Ledger account balances you may see."""
    rows = call(api().get, "ledger", "/accounts/balances")
    console.print(table("balances", [{"account": r["account"], "balance": dollars(r["balance_cents"])} for r in rows],
                        ["account", "balance"]))


@replay_app.command("status")
def replay_status() -> None:
    """Where the replay is."""
    console.print(call(api().get, "meter_ingest", "/replay/status"))


@replay_app.command("start")
def replay_start(
    speed: Annotated[Optional[str], typer.Option(help="1 = real time, 3600 = 1 h/s, max = flat out.")] = None,
    from_time: Annotated[Optional[str], typer.Option("--from", help="Simulated start (ISO with offset).")] = None,
    watch: Annotated[bool, typer.Option(help="Follow progress with a live bar.")] = True,
) -> None:
    """Start (or continue) the replay."""
    client = api()
    call(client.post, "meter_ingest", "/replay/start", {"speed": speed, "from_time": from_time})
    if watch:
        follow(client)


@replay_app.command("pause")
def replay_pause() -> None:
    """Pause at the end of the current simulated hour."""
    console.print(call(api().post, "meter_ingest", "/replay/pause"))


@replay_app.command("resume")
def replay_resume() -> None:
    """Resume a paused replay."""
    console.print(call(api().post, "meter_ingest", "/replay/resume"))


@replay_app.command("speed")
def replay_speed(speed: str) -> None:
    """Change the replay speed."""
    console.print(call(api().post, "meter_ingest", "/replay/speed", {"speed": speed}))


@replay_app.command("watch")
def replay_watch() -> None:
    """Follow the replay with a live progress display until it ends."""
    follow(api())


def follow(client: Api) -> None:
    """Live progress: simulated time, readings published, dead letters."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("replay")
        while True:
            status = call(client.get, "meter_ingest", "/replay/status")
            bar.update(task, description=(
                f"{status['state']:9} sim {status['sim_time'] or '-'}  speed {status['speed']}  "
                f"published {status['published']:,}  dead-lettered {status['dead_lettered']:,}"))
            if status["state"] not in ("running", "paused", "starting"):
                break
            time.sleep(0.5)
    if status.get("error"):
        fail(status["error"])


@dead_letters_app.command("list")
def dead_letters_list(
    kind: Annotated[Optional[str], typer.Option(help="reading or ledger_append.")] = None,
    reason: Annotated[Optional[str], typer.Option(help="A reason code, e.g. negative_value.")] = None,
    since: Annotated[Optional[datetime], typer.Option(help="Event time from (ISO; UTC without a zone).")] = None,
    until: Annotated[Optional[datetime], typer.Option(help="Event time before (ISO; UTC without a zone).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest event time first).")] = 200,
) -> None:
    """Dead letters read from their topics, newest event time first, with counts by reason."""
    answer = call(api().get, "meter_ingest", "/dead-letters", kind=kind, reason=reason, since=_utc_iso(since),
                  until=_utc_iso(until), limit=limit)
    rows = [{
        "id": d["id"], "kind": d["kind"], "reason": d["reason"], "event time": d["occurred_at"],
        "source": f"{d['source_file']}:{d['source_line']}" if d["kind"] == "reading"
        else f"{d['producer'] or '?'} entry {d['entry_id']}",
        "row or detail": d["raw"] if d["kind"] == "reading" else d["detail"],
        "resolved": f"reading {d['resolution']['reading_event_id']} by {d['resolution']['redriven_by']}"
        if d["resolution"] else "",
    } for d in answer["dead_letters"]]
    listing = Table(title="dead letters")
    for column in ("id", "kind", "reason", "event time", "source", "row or detail", "resolved"):
        listing.add_column(column, overflow="fold")  # ids and rows are copied whole: never cut short
    for row in rows:
        listing.add_row(*row.values())
    console.print(listing)
    reasons = ", ".join(f"{reason} {n}" for reason, n in answer["by_reason"].items()) or "none"
    console.print(f"{answer['total']} dead letters ({answer['unresolved']} unresolved, {len(rows)} shown): {reasons}")
    if not answer["caught_up"]:
        console.print("[yellow]still reading the dead-letter topics: the list may be incomplete[/yellow]")


@dead_letters_app.command("redrive")
def dead_letters_redrive(
    dead_letter_id: Annotated[str, typer.Argument(metavar="ID", help="The dead letter (see `dead-letters list`).")],
    raw: Annotated[str, typer.Option(help="The corrected CSV line, all eight columns.")],
) -> None:
    """Publish a reading dead letter's corrected row as its reading, once."""
    answer = call(api().post, "meter_ingest", f"/dead-letters/{quote(dead_letter_id, safe='')}/redrive", {"raw": raw})
    console.print(f"re-driven: {answer['source_file']}:{answer['source_line']} of {answer['house_id']} is reading "
                  f"{answer['reading_event_id']}")


@app.command()
def offer(
    day: Annotated[str, typer.Option(help="Delivery day (YYYY-MM-DD), after the current simulated day.")],
    percent: Annotated[int, typer.Option(help="Share of the reserve: 25, 50, 75 or 100.")],
    min_price: Annotated[str, typer.Option(help="Minimum price in $/kWh, between your PPA rate and $1.00.")],
) -> None:
    """Offer part of your battery reserve on the wholesale market (resident)."""
    body = {"delivery_day": day, "reserve_percent": percent, "min_price_usd_per_kwh": min_price}
    console.print(call(api().post, "market", "/resident/offers", body))


@app.command()
def offers() -> None:
    """Your offers and their outcomes (resident)."""
    answer = call(api().get, "market", "/resident/offers")
    console.print(table("offers", answer.get("offers", []),
                        ["offer_id", "delivery_day", "reserve_percent", "energy_wh", "min_price_usd_per_kwh", "status"]))


@app.command()
def cancel(offer_id: str) -> None:
    """Cancel an open offer (resident)."""
    console.print(call(api().post, "market", f"/resident/offers/{offer_id}/cancel"))


@app.command()
def bills() -> None:
    """Your account and invoices (resident); every resident's account (municipality, GSA)."""
    client = api()
    role = current_role(client)
    if role == "resident":
        account = call(client.get, "billing", "/resident/account")
        console.print(f"{account['name']}, {account['address']}: rate ${account['rate_usd_per_kwh']}/kWh, "
                      f"balance {dollars(account['balance_cents'])}"
                      + (f", [red]past due {dollars(account['past_due_cents'])}[/red]" if account["past_due"] else ""))
        rows = [{**i, "total": dollars(i["total_cents"]), "outstanding": dollars(i["outstanding_cents"])}
                for i in call(client.get, "billing", "/resident/invoices")]
        console.print(table("invoices", rows, ["invoice_id", "period", "due_at", "total", "outstanding", "status"]))
        return
    path = "/municipality/accounts" if role == "municipality" else "/gsa/accounts"
    rows = [{**a, "balance": dollars(a["balance_cents"]), "past due": dollars(a["past_due_cents"])}
            for a in call(client.get, "billing", path)]
    console.print(table("accounts", rows, ["house_id", "name", "balance", "past due", "last_invoice_period"]))


@app.command()
def pay(
    amount: Annotated[str, typer.Argument(help="Dollars, e.g. 42.17")],
    method: Annotated[str, typer.Option(help="card, venmo, zelle or ach")] = "card",
    invoice: Annotated[Optional[str], typer.Option(help="The invoice paid (default: the oldest open one).")] = None,
    key: Annotated[Optional[str], typer.Option(help="Idempotency key; repeat it to retry safely.")] = None,
) -> None:
    """Pay a bill (resident); retrying with the same --key never pays twice."""
    import uuid

    idempotency_key = key or uuid.uuid4().hex
    answer = call(api().post, "billing", "/resident/payments",
                  {"amount": parse_amount(amount), "method": method, "invoice_id": invoice},
                  headers={"Idempotency-Key": idempotency_key})
    console.print(f"paid {dollars(answer['amount_cents'])} by {answer['method']} (payment {answer['payment_id']}, "
                  f"key {idempotency_key}); balance now {dollars(answer['balance_cents'])}")


def download(client: Api, service: str, path: str) -> bytes:
    """GET a file (not JSON) with the login's token; ApiError with the API's message on a refusal."""
    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    response = httpx.get(client.base_url(service) + path, headers=headers, timeout=client.timeout_s)
    if response.status_code >= 400:
        raise ApiError(response.status_code, error_message(response))
    return response.content


def save(out: Path, content: bytes, what: str) -> None:
    """Write a downloaded file, or fail naming it."""
    try:
        out.write_bytes(content)
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror or error}")
    console.print(f"wrote {out} ({len(content):,} bytes): {what}")


@app.command("invoice-pdf")
def invoice_pdf(
    invoice_id: Annotated[str, typer.Argument(help="The invoice, e.g. house-01.2021-09 (see `energychain bills`).")],
    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="The file to write the PDF to.")],
) -> None:
    """Download one of your invoices as a PDF (resident)."""
    document = call(download, api(), "billing", f"/resident/invoices/{quote(invoice_id, safe='')}/pdf")
    save(out, document, f"invoice {invoice_id}")


@app.command("usage-export")
def usage_export(
    from_day: Annotated[str, typer.Option("--from", help="First local day (YYYY-MM-DD).")],
    to_day: Annotated[str, typer.Option("--to", help="The local day after the last one (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="The file to write.")],
    format: Annotated[str, typer.Option("--format", help="xml (Green Button) or csv.")] = "xml",
) -> None:
    """Download your hourly usage of local days [from, to) as Green Button XML or CSV (resident)."""
    if format not in ("xml", "csv"):
        fail("format: must be xml or csv")
    query = urlencode({"from": from_day, "to": to_day, "format": format})
    body = call(download, api(), "billing", f"/resident/usage/greenbutton?{query}")
    save(out, body, f"usage {from_day} to {to_day} as {format}")


@app.command()
def escrow(
    municipality: Annotated[Optional[str], typer.Option(help="GSA only: which municipality.")] = None,
) -> None:
    """Escrow balance, by month, and who is past due (municipality, GSA)."""
    client = api()
    base = "/municipality/escrow" if current_role(client) == "municipality" else f"/gsa/escrow/{municipality or 'parlier'}"
    summary = call(client.get, "escrow", base)
    console.print(f"{summary['municipality_id']}: escrow {dollars(summary['balance_cents'])} "
                  f"(cap {dollars(summary['cap_cents'])}), to treasury so far {dollars(summary['treasury_total_cents'])}")
    rows = [{"month": m["month"], "closing": dollars(m["closing_cents"]), "shares": dollars(m["payment_share_cents"]),
             "cover": dollars(m["past_due_cover_cents"]) + (" *" if m["cover_event"] else ""),
             "treasury": dollars(m["treasury_rollover_cents"])} for m in call(client.get, "escrow", base + "/monthly")]
    console.print(table("escrow by month (* past-due cover)", rows, ["month", "closing", "shares", "cover", "treasury"]))
    rows = [{**p, "unpaid": dollars(p["unpaid_cents"]), "covered": dollars(p["covered_cents"])}
            for p in call(client.get, "escrow", base + "/past-due")]
    console.print(table("past due", rows, ["house_id", "invoice_id", "unpaid", "covered"]))


def current_role(client: Api) -> str:
    """The role in the saved token (not verified here: the services verify it)."""
    import jwt

    if not client.token:
        fail("not logged in: run `energychain login <user>`")
    return jwt.decode(client.token, options={"verify_signature": False})["role"]


def parse_amount(text: str) -> str:
    """A dollar amount with at most two decimals, as the API expects it."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        fail(f"amount: not a number: {text!r}")
    if amount <= 0 or amount.as_tuple().exponent < -2:
        fail("amount: must be positive with at most two decimals")
    return str(amount)


def main() -> None:
    """Console entry point."""
    app()
