"""The ledger's HTTP API: tokens, and role-scoped reads of channels, entries, accounts, checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import AwareDatetime, BaseModel

from energychain_ledger.bootstrap import Ledger, open_ledger
from energychain_ledger.domain.access import GSA, may_see_account, member_key
from energychain_ledger.domain.chain import VerifyReport
from energychain_ledger.settings import LedgerSettings
from energychain_ledger.verification import verify_channel
from energychain_shared.auth import Principal, Role, current_principal, issue_token, require_role
from energychain_shared.observability import install_health

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
# Verifying against this keeps an unknown username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class TokenOut(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class ChannelOut(BaseModel):
    """A channel the caller belongs to, with its head."""

    channel: str
    kind: str
    municipality_id: str | None
    seq: int
    head_hash: str


class ChainPosition(BaseModel):
    """Where an entry sits on one channel."""

    channel: str
    seq: int
    prev_hash: str
    hash: str


class EntryOut(BaseModel):
    """One ledger entry."""

    entry_id: str
    kind: str
    event_time: datetime
    record_time: datetime
    producer: str
    payload: dict[str, Any]
    transfers: list[dict[str, Any]]
    channels: list[str]
    signature: str
    positions: list[ChainPosition]


class EntryPage(BaseModel):
    """A page of a channel's entries; pass ``next_cursor`` as ``cursor`` for the next page."""

    channel: str
    entries: list[EntryOut]
    next_cursor: int | None


class BalanceOut(BaseModel):
    """An account's balance: debits minus credits, in cents."""

    account: str
    balance_cents: int


class PostingOut(BaseModel):
    """One side of a transfer on an account (+debit, -credit)."""

    entry_id: str
    transfer_index: int
    amount_cents: int
    event_time: datetime
    memo: str


class TrialBalanceOut(BaseModel):
    """The double-entry check: the sum of all balances must be zero."""

    sum_cents: int
    accounts: int
    postings: int
    balanced: bool


class FailureOut(BaseModel):
    """The first entry that failed verification."""

    channel: str
    seq: int
    entry_id: str | None
    problem: str
    detail: str


class VerifyOut(BaseModel):
    """Outcome of verifying one channel."""

    channel: str
    ok: bool
    entries_checked: int
    start_seq: int
    last_seq: int
    last_hash: str
    checkpoints_confirmed: list[int]
    failure: FailureOut | None


class CheckpointOut(BaseModel):
    """A pinned channel head, signed by the ledger."""

    checkpoint_id: int
    channel: str
    seq: int
    head_hash: str
    created_at: datetime
    signature: str


def verify_out(report: VerifyReport) -> VerifyOut:
    """API form of a verification report."""
    failure = report.failure
    return VerifyOut(
        channel=report.channel, ok=report.ok, entries_checked=report.entries_checked,
        start_seq=report.start_seq, last_seq=report.last_seq, last_hash=report.last_hash,
        checkpoints_confirmed=list(report.checkpoints_confirmed),
        failure=None if failure is None else FailureOut(
            channel=failure.channel, seq=failure.seq, entry_id=failure.entry_id,
            problem=failure.problem, detail=failure.detail,
        ),
    )


def _ledger(request: Request) -> Ledger:
    return request.app.state.ledger


LedgerDep = Annotated[Ledger, Depends(_ledger)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
ChannelPath = Annotated[str, Path(description="e.g. resident:house-01, municipality:parlier, gsa")]
From = Annotated[AwareDatetime | None, Query(alias="from", description="event time >= (timezone-aware ISO-8601)")]
To = Annotated[AwareDatetime | None, Query(alias="to", description="event time < (timezone-aware ISO-8601)")]


def _member(principal: Principal) -> str:
    member = member_key(role=principal.role.value, house_id=principal.house_id,
                        municipality_id=principal.municipality_id)
    if member is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="token names no house or municipality for its role")
    return member


async def _require_channel(ledger: Ledger, principal: Principal, channel: str) -> None:
    """403 unless the caller is a member; the GSA (member of all) gets 404 for an unknown channel."""
    member = _member(principal)
    if principal.role is Role.GSA:
        if not await ledger.store.channel_exists(channel):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"channel {channel!r} not found")
        return
    if not await ledger.store.is_member(channel, member):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"not a member of channel {channel!r}")


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise HTTPException(422,
                            detail=[{"loc": ["query", "from"], "msg": "'from' must be before 'to'"}])


async def _account_filter(ledger: Ledger, principal: Principal) -> Callable[[str], bool]:
    houses = await ledger.store.municipality_of_houses() if principal.role is Role.MUNICIPALITY else {}

    def visible(account: str) -> bool:
        return may_see_account(
            account, role=principal.role.value, house_id=principal.house_id,
            municipality_id=principal.municipality_id, municipality_of_house=houses.get,
        )

    return visible


def _entry_out(stored: list, positions_of: dict[str, list[ChainPosition]]) -> list[EntryOut]:
    return [
        EntryOut(
            entry_id=s.row.entry_id, kind=s.row.kind, event_time=s.row.event_time, record_time=s.record_time,
            producer=s.row.producer, payload=dict(s.row.payload), transfers=[dict(t) for t in s.row.transfers],
            channels=list(s.row.channels), signature=s.row.signature,
            positions=positions_of.get(s.row.entry_id, []),
        )
        for s in stored
    ]


def build_app(
    settings: LedgerSettings, *,
    open_ledger_fn: Callable[[LedgerSettings], Awaitable[Ledger]] = open_ledger,
    run_consumer: bool = False,
) -> FastAPI:
    """The FastAPI app; the lifespan opens the ledger (and the consumer when asked)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ledger = await open_ledger_fn(settings)
        app.state.ledger = ledger
        app.state.token_public_key = ledger.token_public_key()
        app.state.token_private_key = ledger.token_private_key()
        stop, task, clients = asyncio.Event(), None, []
        if run_consumer:
            await ledger.ensure_topics()
            producer = ledger.make_producer()
            await producer.start()
            kafka_consumer, loop = ledger.make_consumer(producer=producer)
            await kafka_consumer.start()
            clients = [kafka_consumer, producer]
            loops = [loop.run(stop)]
            if settings.ledger_record_readings:
                readings_consumer, readings_loop = ledger.make_readings_consumer(producer=producer)
                await readings_consumer.start()
                clients.insert(0, readings_consumer)
                loops.append(readings_loop.run(stop))

            async def run_loops() -> None:
                await asyncio.gather(*loops)

            task = asyncio.create_task(run_loops(), name="ledger-consumer")
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=30)
            for client in clients:
                await client.stop()
            await ledger.close()

    app = FastAPI(
        title="EnergyChain ledger",
        version="0.1.0",
        description="Tamper-evident, double-entry system of record. Reads are scoped by channel membership: "
        "a resident reads its own channel and accounts; a municipality its channel and its residents'; "
        "the GSA everything.",
        lifespan=lifespan,
    )

    async def database_ready() -> None:
        async with app.state.ledger.store.pool.acquire() as connection:
            await connection.fetchval("SELECT 1")

    install_health(app, {"database": database_ready})

    @app.post("/auth/token", response_model=TokenOut, tags=["auth"])
    async def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
        """OAuth2 password flow: a bearer token for a known user with the right password."""
        ledger: Ledger = request.app.state.ledger
        user = await ledger.store.user(form.username)
        try:
            await asyncio.to_thread(_hasher.verify, user["password_hash"] if user else _DUMMY_HASH, form.password)
            if user is None:
                raise VerificationError()
        except (VerificationError, InvalidHashError):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="incorrect username or password",
                                headers={"WWW-Authenticate": "Bearer"}) from None
        principal = Principal(role=Role(user["role"]), subject=user["username"],
                              municipality_id=user["municipality_id"], house_id=user["house_id"])
        ttl = timedelta(seconds=settings.token_ttl_s)
        return TokenOut(access_token=issue_token(request.app.state.token_private_key, principal, ttl=ttl),
                        expires_in=settings.token_ttl_s, role=principal.role.value)

    @app.get("/channels", response_model=list[ChannelOut], tags=["channels"])
    async def channels(
        ledger: LedgerDep, principal: PrincipalDep,
        after: Annotated[str, Query(description="channel name to start after (paging)")] = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[ChannelOut]:
        """The channels the caller is a member of (the GSA: all)."""
        member = _member(principal)
        rows = await ledger.store.channels_for(None if member == GSA else member, after=after, limit=limit)
        return [ChannelOut(**{k: r[k] for k in ChannelOut.model_fields}) for r in rows]

    @app.get("/channels/{channel}/entries", response_model=EntryPage, tags=["channels"])
    async def channel_entries(
        ledger: LedgerDep, principal: PrincipalDep, channel: ChannelPath,
        kind: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        start: From = None, end: To = None,
        cursor: Annotated[int, Query(ge=0, le=2**63 - 1, description="return entries with seq > cursor")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> EntryPage:
        """A member's page of a channel's entries, by seq, filtered by kind and event time."""
        _check_range(start, end)
        await _require_channel(ledger, principal, channel)
        stored = await ledger.store.channel_entries(channel, kind=kind, start=start, end=end,
                                                    after_seq=cursor, limit=limit)
        positions = {s.row.entry_id: [ChainPosition(channel=channel, seq=s.row.seq, prev_hash=s.row.prev_hash,
                                                    hash=s.row.hash)] for s in stored}
        next_cursor = stored[-1].row.seq if len(stored) == limit else None
        return EntryPage(channel=channel, entries=_entry_out(stored, positions), next_cursor=next_cursor)

    @app.get("/entries/{entry_id}", response_model=EntryOut, tags=["entries"])
    async def entry(ledger: LedgerDep, principal: PrincipalDep, entry_id: str) -> EntryOut:
        """One entry and its positions on the channels the caller belongs to (404 if none)."""
        member = _member(principal)
        stored = await ledger.store.entry_rows(entry_id)
        if member != GSA:
            visible = await ledger.store.member_channels(member, [s.row.channel for s in stored])
            stored = [s for s in stored if s.row.channel in visible]
        if not stored:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"entry {entry_id!r} not found")
        positions = [ChainPosition(channel=s.row.channel, seq=s.row.seq, prev_hash=s.row.prev_hash,
                                   hash=s.row.hash) for s in stored]
        return _entry_out(stored[:1], {entry_id: positions})[0]

    @app.get("/accounts/balances", response_model=list[BalanceOut], tags=["accounts"])
    async def balances(ledger: LedgerDep, principal: PrincipalDep) -> list[BalanceOut]:
        """Balances of the accounts the caller may see."""
        _member(principal)
        visible = await _account_filter(ledger, principal)
        found = await ledger.store.balances(visible)
        return [BalanceOut(account=a, balance_cents=b) for a, b in sorted(found.items())]

    @app.get("/accounts/check", response_model=TrialBalanceOut, tags=["accounts"])
    async def check(
        ledger: LedgerDep, principal: Annotated[Principal, Depends(require_role(Role.GSA))]
    ) -> TrialBalanceOut:
        """The double-entry check (GSA): the sum of every account's balance is zero."""
        total, accounts, postings = await ledger.store.trial_balance()
        return TrialBalanceOut(sum_cents=total, accounts=accounts, postings=postings, balanced=total == 0)

    @app.get("/accounts/{account}/postings", response_model=list[PostingOut], tags=["accounts"])
    async def account_postings(
        ledger: LedgerDep, principal: PrincipalDep, account: str, start: From = None, end: To = None,
    ) -> list[PostingOut]:
        """An account's postings between two event times (403 for an account the caller may not see)."""
        _check_range(start, end)
        _member(principal)
        visible = await _account_filter(ledger, principal)
        if not visible(account):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"account {account!r} is not visible to you")
        return [PostingOut(**r) for r in await ledger.store.postings(account, start=start, end=end)]

    @app.get("/channels/{channel}/verify", response_model=VerifyOut, tags=["verification"])
    async def verify(
        ledger: LedgerDep, principal: PrincipalDep, channel: ChannelPath,
        from_checkpoint: Annotated[bool, Query(description="start after the newest checkpoint")] = False,
    ) -> VerifyOut:
        """Recompute a channel's chain and signatures; report the first entry that fails."""
        await _require_channel(ledger, principal, channel)
        return verify_out(await verify_channel(ledger.store, ledger.keys, channel, from_checkpoint=from_checkpoint))

    @app.get("/checkpoints", response_model=list[CheckpointOut], tags=["verification"])
    async def checkpoints(
        ledger: LedgerDep, principal: PrincipalDep,
        channel: Annotated[str | None, Query(description="only this channel")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[CheckpointOut]:
        """Checkpoints of the channels the caller belongs to, newest first."""
        member = _member(principal)
        if channel is not None:
            await _require_channel(ledger, principal, channel)
            scope: list[str] | None = [channel]
        elif member == GSA:
            scope = None
        else:
            scope = [c["channel"] for c in await ledger.store.channels_for(member, limit=100_000)]
        return [CheckpointOut(**r) for r in await ledger.store.checkpoints(scope, limit=limit)]

    return app
