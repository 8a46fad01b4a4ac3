"""Use case: the program's administration (the GSA): onboard municipalities, enrol residents with contracts.

Billing owns it because a contract is billing's terms and billing holds the invoices that
later changes are checked against. A change is decided here, under the registry's lock,
against the seed file and every change accepted before (`RegistryBook`'s rules: the
same change twice is nothing new, other terms for a registered house are a conflict);
it is recorded in ``registry_changes`` and its event put in the outbox in one
transaction, then published on ``program.registry``, which every service follows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from energychain_shared import events, topics
from energychain_shared.outbox import enqueue
from energychain_shared.registry import (
    AmendmentRequest, ContractAmendment, Move, Municipality, RegistryBook, RegistryRefusal, Resident,
)
from energychain_shared.registry_feed import seed_registry

from energychain_billing import SERVICE_NAME
from energychain_billing.adapters import repository
from energychain_billing.context import BillingContext

UTC = timezone.utc


@dataclass
class Registration:
    """What a request changed: the ids registered now, those already registered alike, their events."""

    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)


def onboarded(municipality: Municipality, *, at: datetime) -> events.MunicipalityOnboarded:
    """The event of an onboarding recorded at ``at``."""
    return events.MunicipalityOnboarded(
        event_id=events.MunicipalityOnboarded.id_for(municipality), occurred_at=at, producer=SERVICE_NAME,
        municipality=municipality,
    )


def enrolled(resident: Resident, municipality: Municipality) -> events.ResidentEnrolled:
    """The event of an enrolment; its event time is the contract's start (local midnight)."""
    start = datetime.combine(resident.contract.start_date, time(0), tzinfo=municipality.zone).astimezone(UTC)
    return events.ResidentEnrolled(
        event_id=events.ResidentEnrolled.id_for(resident), occurred_at=start, producer=SERVICE_NAME, resident=resident,
    )


def _book_of(ctx: BillingContext, accepted: Sequence[Any]) -> RegistryBook:
    book = RegistryBook(seed_registry(ctx.settings))
    for row in accepted:
        if row.kind == "municipality":
            book.onboard(Municipality.model_validate(row.body))
        elif row.kind == "resident":
            book.enrol(Resident.model_validate(row.body))
        elif row.kind == "contract_amendment":
            book.amend(row.subject, ContractAmendment.model_validate(row.body))
        elif row.kind == "move":
            book.move(row.subject, Move.model_validate(row.body))
        else:
            book.end_contract(row.subject, date.fromisoformat(row.body["end_date"]))
    return book


def _refused_item(refusal: RegistryRefusal, what: str, index: int, count: int) -> RegistryRefusal:
    """A refusal of one of several items names it: ``residents[3].house_id``."""
    if count == 1:
        return refusal
    return type(refusal)(f"{what}[{index}].{refusal.field}", refusal.message, rule=refusal.rule)


async def register(
    ctx: BillingContext, *, municipalities: Sequence[Municipality] = (), residents: Sequence[Resident] = (),
    by: str, at: datetime | None = None,
) -> Registration:
    """Onboard ``municipalities`` then enrol ``residents``, all or nothing (a `RegistryRefusal` names the first
    refused, as ``residents[i].field`` when there are several)."""
    at = at or datetime.now(UTC)
    outcome = Registration()
    rows: list[dict[str, Any]] = []
    published: list[events.Event] = []

    def accepted(kind: str, subject: str, body: Any, event: events.Event | None) -> None:
        if event is None:
            outcome.unchanged.append(subject)
            return
        rows.append({"event_id": event.event_id, "kind": kind, "subject": subject,
                     "body": body.model_dump(mode="json"), "recorded_by": by})
        published.append(event)
        outcome.created.append(subject)
        outcome.event_ids.append(event.event_id)

    async with ctx.engine.begin() as connection:
        await repository.lock_registry(connection)
        book = _book_of(ctx, await repository.registry_changes(connection))
        for index, municipality in enumerate(municipalities):
            try:
                new = book.onboard(municipality)
            except RegistryRefusal as refusal:
                raise _refused_item(refusal, "municipalities", index, len(municipalities)) from None
            accepted("municipality", municipality.municipality_id, municipality,
                     onboarded(municipality, at=at) if new else None)
        for index, resident in enumerate(residents):
            try:
                new = book.enrol(resident)
            except RegistryRefusal as refusal:
                raise _refused_item(refusal, "residents", index, len(residents)) from None
            accepted("resident", resident.house_id, resident,
                     enrolled(resident, book.municipalities[resident.municipality_id]) if new else None)
        await repository.insert_registry_changes(connection, rows)
        await enqueue(connection, [ctx.outbox(topics.PROGRAM_REGISTRY, e) for e in published])
    return outcome


INVOICED_PERIOD_RULE = "effective_date_in_invoiced_period"


def _local_midnight(book: RegistryBook, house_id: str, day: date) -> datetime:
    """The instant (UTC) a house's local ``day`` begins."""
    zone = book.municipalities[book.residents[house_id].municipality_id].zone
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


async def _change_house(
    ctx: BillingContext, house_id: str, *, kind: str, by: str,
    decide: Callable[[RegistryBook], events.Event | None], body_of: Callable[[Any], dict[str, Any]],
) -> Registration:
    """Decide one change of an enrolled house under the registry's lock: ``decide`` applies it to the book and
    gives its event, whose event time is when it takes effect (None: registered already); a change taking
    effect inside a period already invoiced is refused (422, rule ``effective_date_in_invoiced_period``: an
    issued invoice is never rewritten); otherwise it is recorded (``body_of`` the event) and its event put in
    the outbox in one transaction."""
    outcome = Registration()
    async with ctx.engine.begin() as connection:
        await repository.lock_registry(connection)
        book = _book_of(ctx, await repository.registry_changes(connection))
        change = decide(book)
        if change is None:
            outcome.unchanged.append(house_id)
            return outcome
        invoiced = await repository.last_invoiced_end(connection, house_id)
        if invoiced is not None and change.occurred_at < invoiced:
            zone = book.municipalities[book.residents[house_id].municipality_id].zone
            field = "end_date" if kind == "contract_end" else "effective_date"
            last_day = (invoiced.astimezone(zone) - timedelta(days=1)).date()
            raise RegistryRefusal(field, f"takes effect at {change.occurred_at.astimezone(zone).isoformat()}, inside "
                                  f"a period already invoiced (through {last_day}); an issued invoice is never "
                                  "rewritten", rule=INVOICED_PERIOD_RULE)
        await repository.insert_registry_changes(connection, [{
            "event_id": change.event_id, "kind": kind, "subject": house_id, "body": body_of(change),
            "recorded_by": by}])
        await enqueue(connection, [ctx.outbox(topics.PROGRAM_REGISTRY, change)])
    outcome.created.append(house_id)
    outcome.event_ids.append(change.event_id)
    return outcome


async def end_contract(ctx: BillingContext, house_id: str, end_date: date, *, by: str) -> Registration:
    """End a house's contract on ``end_date`` (its last day): its final invoice covers the partial period up to
    then, issued once the grace for late readings has passed. A date inside a period already invoiced is refused
    (422, rule ``effective_date_in_invoiced_period``): an issued invoice is never rewritten."""

    def decide(book: RegistryBook) -> events.ContractEnded | None:
        if not book.end_contract(house_id, end_date):
            return None
        return events.ContractEnded(event_id=events.ContractEnded.id_for(house_id, end_date),
                                    occurred_at=_local_midnight(book, house_id, end_date + timedelta(days=1)),
                                    producer=SERVICE_NAME, house_id=house_id, end_date=end_date)

    return await _change_house(ctx, house_id, kind="contract_end", by=by, decide=decide,
                               body_of=lambda ended: {"end_date": ended.end_date.isoformat()})


async def amend_contract(ctx: BillingContext, house_id: str, request: AmendmentRequest, *, by: str) -> Registration:
    """Give a house's contract new terms from ``request.effective_date`` (local midnight; the terms it does not
    name stay as they are that day): the invoice of the period it falls in bills the hours before it at the old
    terms and the hours from it at the new ones. A date inside a period already invoiced is refused (422, rule
    ``effective_date_in_invoiced_period``)."""

    def decide(book: RegistryBook) -> events.ContractAmended | None:
        known = book.residents.get(house_id)
        if known is None:
            raise RegistryRefusal("house_id", f"{house_id!r} is not enrolled")
        amendment = request.applied_to(known)
        if not book.amend(house_id, amendment):
            return None
        return events.ContractAmended(event_id=events.ContractAmended.id_for(house_id, amendment),
                                      occurred_at=_local_midnight(book, house_id, amendment.effective_date),
                                      producer=SERVICE_NAME, house_id=house_id, amendment=amendment)

    return await _change_house(ctx, house_id, kind="contract_amendment", by=by, decide=decide,
                               body_of=lambda amended: amended.amendment.model_dump(mode="json"))


async def move_house(ctx: BillingContext, house_id: str, move: Move, *, by: str) -> Registration:
    """Move a house to another municipality from ``move.effective_date`` (local midnight): from then on its
    invoices, payments and ledger channel belong to the new municipality, before then to the old one. A date
    inside a period already invoiced is refused (422, rule ``effective_date_in_invoiced_period``)."""

    def decide(book: RegistryBook) -> events.HouseMoved | None:
        if not book.move(house_id, move):
            return None
        return events.HouseMoved(event_id=events.HouseMoved.id_for(house_id, move),
                                 occurred_at=_local_midnight(book, house_id, move.effective_date),
                                 producer=SERVICE_NAME, house_id=house_id, move=move)

    return await _change_house(ctx, house_id, kind="move", by=by, decide=decide,
                               body_of=lambda moved: moved.move.model_dump(mode="json"))


async def history(ctx: BillingContext, kind: str, subject: str) -> list[dict[str, Any]]:
    """The changes of one municipality or house, oldest first (the seed file's entry first when it has one)."""
    seed = seed_registry(ctx.settings)
    entries: list[dict[str, Any]] = []
    seeded = (seed.by_municipality if kind == "municipality" else seed.by_house).get(subject)
    if seeded is not None:
        entries.append({"change": "seeded", "source": str(ctx.settings.registry_path), "terms": seeded.model_dump(mode="json")})
    kinds = ("municipality",) if kind == "municipality" else ("resident", "contract_amendment", "move", "contract_end")
    names = {"municipality": "onboarded", "resident": "enrolled", "contract_amendment": "amended", "move": "moved",
             "contract_end": "ended"}
    async with ctx.engine.connect() as connection:
        for row in await repository.registry_changes(connection, kinds=kinds, subject=subject):
            entries.append({"change": names[row.kind], "event_id": row.event_id,
                            "recorded_at": row.recorded_at.isoformat(), "recorded_by": row.recorded_by,
                            "terms": row.body})
    return entries
