"""The ledger's HTTP API: tokens and users (`auth_api`); role-scoped reads of channels, entries and
accounts; the log, its checkpoints and proofs; cosignatures; verification."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Body, Depends, FastAPI, HTTPException, Path, Query, Request, Response, status
from pydantic import AwareDatetime

from energychain_ledger.adapters.store import ProofUnavailable
from energychain_ledger.auth_api import LedgerDep, auth_router, follow_revocation_table, refresh_revocations
from energychain_ledger.bootstrap import Ledger, open_ledger
from energychain_ledger.domain.access import GSA, account_visibility, channel_visibility, member_key
from energychain_ledger.domain.log import HEADS_TREE
from energychain_ledger.domain.membership import EVERYTHING, Span, Visibility
from energychain_ledger.schemas import (
    BalanceOut, ChannelOut, CheckpointOut, ConsistencyOut, CosignatureIn, CosignatureOut, EntryOut, EntryPage,
    HeadOut, HeadsPage, InclusionOut, LogKeyOut, MembershipOut, Position, PostingOut, ProofBundle, ProofHead,
    ProvedEntry, TrialBalanceOut, VerifyOut, WitnessOut, b64, entry_out, verify_out,
)
from energychain_ledger.settings import LedgerSettings
from energychain_ledger.verification import LogKeys, verify_channel, verify_log
from energychain_shared.auth import Principal, Revocations, Role, current_principal, require_role
from energychain_shared.observability import install_health
from energychain_shared.problems import install_problem_details
from energychain_shared.tlog import note as notes
from energychain_shared.tlog.heads import head_leaf_data

log = logging.getLogger(__name__)
MAX_PROOF_ENTRIES = 1000


PrincipalDep = Annotated[Principal, Depends(current_principal)]
ChannelPath = Annotated[str, Path(description="e.g. resident:house-01, municipality:parlier, gsa")]
From = Annotated[AwareDatetime | None, Query(alias="from", description="event time >= (timezone-aware ISO-8601)")]
To = Annotated[AwareDatetime | None, Query(alias="to", description="event time < (timezone-aware ISO-8601)")]
SizeFrom = Annotated[int, Query(alias="from", ge=0, le=2**62, description="the older tree size")]
SizeTo = Annotated[int, Query(alias="to", ge=0, le=2**62, description="the newer tree size")]


def _unprocessable(field: str, message: str) -> HTTPException:
    return HTTPException(422, detail=[{"loc": ["query", field], "msg": message}])


def _member(principal: Principal) -> str:
    member = member_key(role=principal.role.value, house_id=principal.house_id,
                        municipality_id=principal.municipality_id)
    if member is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="token names no house or municipality for its role")
    return member


async def _require_channel(ledger: Ledger, principal: Principal, channel: str):
    """The channel, if the caller is a member (403 otherwise); the GSA (member of all) gets 404 for an unknown one."""
    member = _member(principal)
    found = await ledger.store.channel(channel)
    if principal.role is Role.GSA:
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"channel {channel!r} not found")
        return found
    if found is None or not await ledger.store.is_member(channel, member):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"not a member of channel {channel!r}")
    return found


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise _unprocessable("from", "'from' must be before 'to'")


def _check_sizes(old: int, new: int) -> None:
    if old > new:
        raise _unprocessable("from", "'from' must not be above 'to'")


def _by_date(principal: Principal) -> bool:
    """Whether what the caller reads of a resident channel depends on event time (membership by date)."""
    return principal.role is Role.MUNICIPALITY and bool(principal.municipality_id)


async def _visible_part(ledger: Ledger, principal: Principal, channel: str) -> Visibility:
    """The event times of a member channel's entries the caller may read (`_require_channel` first): all of it
    but for a municipality on a resident channel, whose membership spans say (`domain.access`)."""
    if not _by_date(principal) or not channel.startswith("resident:"):
        return EVERYTHING
    spans = await ledger.store.channel_spans(channel)
    return channel_visibility(channel, role=principal.role.value, house_id=principal.house_id,
                              municipality_id=principal.municipality_id, spans_of_house=lambda _house: spans)


async def _account_filter(ledger: Ledger, principal: Principal) -> Callable[[str], Visibility]:
    """The event times of each account's postings the caller may see (nothing of an account it may not see)."""
    houses: dict[str, tuple[Span, ...]] = {}
    if _by_date(principal):
        houses = await ledger.store.house_spans_seen_by(principal.municipality_id)

    def visible(account: str) -> Visibility:
        return account_visibility(
            account, role=principal.role.value, house_id=principal.house_id,
            municipality_id=principal.municipality_id, spans_of_house=lambda house: houses.get(house, ()),
        )

    return visible


def _memberships(principal: Principal, spans: tuple[Span, ...]) -> list[MembershipOut]:
    """A channel's spans as the caller may know them: a municipality its own, the others all of them."""
    if _by_date(principal):
        spans = tuple(s for s in spans if s.municipality_id == principal.municipality_id)
    return [MembershipOut(municipality_id=s.municipality_id, member_from=s.start, member_until=s.end) for s in spans]


def _checkpoint_out(found: dict, keys: LogKeys) -> CheckpointOut:
    note = notes.with_signatures(found["note"], list(found["cosignatures"].values()))
    parsed = notes.parse_note(note)
    cosigned = [name for name, key in keys.witnesses.items()
                if notes.verify_cosignature(parsed, name=name, public_key=key) is not None]
    return CheckpointOut(size=found["size"], root=b64(found["root"]), note=note, cosigned_by=cosigned,
                         created_at=found["created_at"])


def _parse_seqs(text: str) -> list[int]:
    try:
        seqs = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise _unprocessable("seqs", "seqs is a comma-separated list of entry positions (1, 2, ...)") from None
    if not seqs or seqs[0] < 1 or seqs[-1] > 2**62:
        raise _unprocessable("seqs", "seqs must name at least one position >= 1")
    if len(seqs) > MAX_PROOF_ENTRIES:
        raise _unprocessable("seqs", f"at most {MAX_PROOF_ENTRIES} entries per request")
    return seqs


async def _proof_or_404(call: Awaitable[list[bytes]]) -> list[str]:
    try:
        return [b64(h) for h in await call]
    except ProofUnavailable as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no such proof: {error}") from None


async def _consume(ledger: Ledger, stop: asyncio.Event) -> None:
    """The ledger's streams beside the API; their end is logged when it comes, not only at shutdown."""
    try:
        await ledger.consume(stop)
    except Exception:
        log.exception("the ledger's consumers stopped")
        raise


def build_app(
    settings: LedgerSettings, *,
    open_ledger_fn: Callable[[LedgerSettings], Awaitable[Ledger]] | None = None,
    run_consumer: bool = False,
) -> FastAPI:
    """The FastAPI app; the lifespan opens the ledger (and the consumer when asked)."""
    if open_ledger_fn is None:
        open_ledger_fn = functools.partial(open_ledger, writer=run_consumer, follow_registry=True)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ledger = await open_ledger_fn(settings)
        app.state.ledger = ledger
        app.state.token_public_key = ledger.token_public_key()
        app.state.token_private_key = ledger.token_private_key()
        stop = asyncio.Event()
        consuming = asyncio.create_task(_consume(ledger, stop), name="ledger-consumer") if run_consumer else None
        await refresh_revocations(app)
        following = asyncio.create_task(follow_revocation_table(app, settings), name="revocations")
        registry = asyncio.create_task(ledger.follow_registry(), name="registry")
        try:
            yield
        finally:
            following.cancel()
            registry.cancel()
            stop.set()
            try:
                if consuming is not None:
                    await asyncio.wait_for(consuming, timeout=30)
            finally:
                await ledger.close()

    app = FastAPI(
        title="EnergyChain ledger",
        version="0.1.0",
        description="The verifiable, double-entry system of record: a Merkle tree per channel, a log of "
        "channel heads, signed checkpoints cosigned by witnesses, proofs (docs/LEDGER.md). Reads are scoped "
        "by channel membership: a resident reads its own channel and accounts; a municipality its channel "
        "and its residents'; the GSA everything; the auditor the log of heads and proofs by blinded id.",
        lifespan=lifespan,
    )

    async def database_ready() -> None:
        await app.state.ledger.store.ready()

    app.state.revocations = Revocations()
    install_health(app, {"database": database_ready})
    install_problem_details(app)

    app.include_router(auth_router(settings))

    @app.get("/channels", response_model=list[ChannelOut], tags=["channels"])
    async def channels(
        ledger: LedgerDep, principal: PrincipalDep,
        after: Annotated[str, Query(max_length=200, description="channel name to start after (paging)")] = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[ChannelOut]:
        """The channels the caller is a member of (the GSA: all), with their heads and blinded ids."""
        member = _member(principal)
        rows = await ledger.store.channels_for(None if member == GSA else member, after=after, limit=limit)
        spans = await ledger.store.spans_of_channels(r["channel"] for r in rows if r["kind"] == "resident")
        out = []
        for r in rows:
            resident = r["kind"] == "resident"
            municipality = r["municipality_id"]
            if resident and _by_date(principal):
                municipality = principal.municipality_id  # a member in its own right, from and until its spans
            out.append(ChannelOut(
                channel=r["channel"], kind=r["kind"], municipality_id=municipality,
                memberships=_memberships(principal, spans.get(r["channel"], ())) if resident else None,
                size=r["size"], root=b64(r["root"]), blinded_id=r["blinded_id"].hex(), salt=r["salt"].hex()))
        return out

    @app.get("/channels/{channel}/entries", response_model=EntryPage, tags=["channels"])
    async def channel_entries(
        ledger: LedgerDep, principal: PrincipalDep, channel: ChannelPath,
        kind: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        start: From = None, end: To = None,
        cursor: Annotated[int, Query(ge=0, le=2**62, description="return entries with seq > cursor")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> EntryPage:
        """A member's page of a channel's entries, by seq, filtered by kind and event time (a municipality reads
        a resident channel's entries of its membership spans only)."""
        _check_range(start, end)
        await _require_channel(ledger, principal, channel)
        visible = await _visible_part(ledger, principal, channel)
        stored = await ledger.store.channel_entries(channel, kind=kind, start=start, end=end, after_seq=cursor,
                                                    limit=limit, visible=visible)
        next_cursor = stored[-1].seq if len(stored) == limit else None
        return EntryPage(channel=channel, next_cursor=next_cursor,
                         entries=[entry_out(s, [Position(channel=channel, seq=s.seq)]) for s in stored])

    @app.get("/entries/{entry_id}", response_model=EntryOut, tags=["channels"])
    async def entry(
        ledger: LedgerDep, principal: PrincipalDep, entry_id: Annotated[str, Path(max_length=64)],
    ) -> EntryOut:
        """One entry and its positions on the channels the caller belongs to (404 if none)."""
        member = _member(principal)
        stored = await ledger.store.entry_rows(entry_id)
        if member != GSA:
            visible = await ledger.store.member_channels(member, [s.channel for s in stored])
            stored = [s for s in stored if s.channel in visible
                      and s.event_time in await _visible_part(ledger, principal, s.channel)]
        if not stored:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"entry {entry_id!r} not found")
        return entry_out(stored[0], [Position(channel=s.channel, seq=s.seq) for s in stored])

    @app.get("/channels/{channel}/proofs", response_model=ProofBundle, tags=["proofs"])
    async def channel_proofs(
        ledger: LedgerDep, principal: PrincipalDep, channel: ChannelPath,
        seqs: Annotated[str, Query(max_length=20_000, description="comma-separated entry positions, at most 1,000")],
        checkpoint: Annotated[int | None, Query(ge=1, le=2**62, description="default: the newest cosigned one")] = None,
    ) -> ProofBundle:
        """Inclusion of entries in one checkpoint: in the channel's head, and that head in the log of heads."""
        found = await _require_channel(ledger, principal, channel)
        wanted = _parse_seqs(seqs)
        visible = await _visible_part(ledger, principal, channel)
        if not visible.everything:  # hashes of other entries are in the proofs; their contents are not given
            hidden = [r.seq for r in await ledger.store.channel_entries(channel, seqs=wanted, limit=len(wanted))
                      if r.event_time not in visible]
            if hidden:
                raise HTTPException(status.HTTP_403_FORBIDDEN,
                                    detail=f"entries {', '.join(map(str, hidden))} of channel {channel!r} are outside "
                                    "your municipality's membership of it")
        keys = await ledger.log_keys()
        chosen = (await ledger.store.checkpoint(size=checkpoint) if checkpoint is not None else
                  await ledger.store.checkpoint(cosigned=True) or await ledger.store.checkpoint())
        if chosen is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such checkpoint")
        size = chosen["size"]
        head = await ledger.store.tree_size(found.tree_id, at_log_size=size)
        included = [s for s in wanted if head is not None and s <= head.size]
        entries, head_proof = [], []
        if head is not None and included:
            proofs = await ledger.store.inclusion_proofs(found.tree_id, [s - 1 for s in included], head.size)
            head_proof = [b64(h) for h in
                          (await ledger.store.inclusion_proofs(HEADS_TREE, [head.log_index], size))[head.log_index]]
            rows = await ledger.store.channel_entries(channel, seqs=included, limit=len(included))
            entries = [ProvedEntry(seq=r.seq, entry=r.entry.decode(), proof=[b64(h) for h in proofs[r.seq - 1]])
                       for r in rows]
        return ProofBundle(
            channel=channel, blinded_id=found.blinded_id.hex(), checkpoint=_checkpoint_out(chosen, keys),
            head=None if head is None else ProofHead(index=head.log_index, size=head.size, root=b64(head.root)),
            head_proof=head_proof, entries=entries, pending=[s for s in wanted if s not in set(included)],
        )

    @app.get("/channels/{channel}/proof/consistency", response_model=ConsistencyOut, tags=["proofs"])
    async def channel_consistency(
        ledger: LedgerDep, principal: PrincipalDep, channel: ChannelPath, old: SizeFrom, new: SizeTo,
    ) -> ConsistencyOut:
        """Consistency proof between two sizes of a member channel's tree."""
        found = await _require_channel(ledger, principal, channel)
        _check_sizes(old, new)
        return ConsistencyOut(from_size=old, to=new,
                              proof=await _proof_or_404(_tree_consistency(ledger, found.tree_id, old, new)))

    async def _tree_consistency(ledger: Ledger, tree_id: int, old: int, new: int) -> list[bytes]:
        head = await ledger.store.tree_size(tree_id)
        if head is None or new > head.size:
            raise ProofUnavailable(f"the tree has {0 if head is None else head.size} committed entries, not {new}")
        return await ledger.store.consistency_proof(tree_id, old, new)

    @app.get("/accounts/balances", response_model=list[BalanceOut], tags=["accounts"])
    async def balances(ledger: LedgerDep, principal: PrincipalDep) -> list[BalanceOut]:
        """Balances of the accounts the caller may see (a municipality: of a house that moved, the postings of its
        membership spans)."""
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
        ledger: LedgerDep, principal: PrincipalDep, account: Annotated[str, Path(max_length=200)],
        start: From = None, end: To = None,
    ) -> list[PostingOut]:
        """An account's postings between two event times (403 for an account the caller may not see)."""
        _check_range(start, end)
        _member(principal)
        visible = (await _account_filter(ledger, principal))(account)
        if visible.nothing:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"account {account!r} is not visible to you")
        return [PostingOut(**r) for r in await ledger.store.postings(account, start=start, end=end, visible=visible)]

    @app.get("/channels/{channel}/verify", response_model=VerifyOut, tags=["verification"])
    async def verify(ledger: LedgerDep, principal: PrincipalDep, channel: ChannelPath) -> VerifyOut:
        """Recompute a channel from its entry bytes: leaves, stored hashes, heads, signatures, postings, checkpoint."""
        await _require_channel(ledger, principal, channel)
        report = await verify_channel(ledger.store, ledger.keys, channel, log_keys=await ledger.log_keys(),
                                      visible=await _visible_part(ledger, principal, channel))
        return verify_out(report)

    @app.get("/verify", response_model=VerifyOut, tags=["verification"])
    async def verify_everything(
        ledger: LedgerDep, principal: Annotated[Principal, Depends(require_role(Role.GSA))],
    ) -> VerifyOut:
        """(GSA) The log of heads, every checkpoint and cosignature, every posting, what the witnesses cosigned."""
        return verify_out(await verify_log(ledger.store, log_keys=await ledger.log_keys()))

    # ------------------------------------------------------------------ the log (any role, the auditor too)
    @app.get("/log/key", response_model=LogKeyOut, tags=["log"])
    async def log_key(ledger: LedgerDep, principal: PrincipalDep) -> LogKeyOut:
        """The ledger's origin and C2SP verifier key, and the witnesses whose cosignatures it collects."""
        return LogKeyOut(origin=ledger.settings.ledger_origin, vkey=ledger.log_vkey(),
                         witnesses=[WitnessOut(name=w["name"], vkey=w["vkey"]) for w in await ledger.store.witnesses()])

    @app.get("/log/checkpoint", response_model=CheckpointOut, tags=["log"])
    async def latest_checkpoint(
        ledger: LedgerDep, principal: PrincipalDep,
        cosigned: Annotated[bool, Query(description="the newest one with at least one cosignature")] = False,
    ) -> CheckpointOut:
        """The newest signed checkpoint of the log of heads, with its cosignatures."""
        found = await ledger.store.checkpoint(cosigned=cosigned)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no checkpoint yet: nothing was appended")
        return _checkpoint_out(found, await ledger.log_keys())

    @app.get("/log/checkpoints/{size}", response_model=CheckpointOut, tags=["log"])
    async def checkpoint_of_size(
        ledger: LedgerDep, principal: PrincipalDep, size: Annotated[int, Path(ge=1, le=2**62)],
    ) -> CheckpointOut:
        """The checkpoint of one size of the log of heads."""
        found = await ledger.store.checkpoint(size=size)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no checkpoint of size {size}")
        return _checkpoint_out(found, await ledger.log_keys())

    @app.get("/log/heads", response_model=HeadsPage, tags=["log"])
    async def log_heads(
        ledger: LedgerDep, principal: PrincipalDep,
        start: Annotated[int, Query(ge=0, le=2**62)], end: Annotated[int, Query(ge=0, le=2**62)],
    ) -> HeadsPage:
        """Leaves of the log of heads, start <= index < end (at most 10,000): blinded ids, sizes, roots."""
        if end < start or end - start > 10_000:
            raise _unprocessable("end", "end must be within 10,000 above start")
        heads = await ledger.store.heads(start=start, end=end)
        blinded = await ledger.store.blinded_ids(h.tree_id for h in heads)
        return HeadsPage(heads=[HeadOut(index=h.log_index, blinded_id=blinded[h.tree_id].hex(), size=h.size,
                                        root=b64(h.root)) for h in heads])

    @app.get("/log/proof/consistency", response_model=ConsistencyOut, tags=["log"])
    async def log_consistency(ledger: LedgerDep, principal: PrincipalDep, old: SizeFrom, new: SizeTo) -> ConsistencyOut:
        """Consistency proof between two sizes of the log of heads."""
        _check_sizes(old, new)
        latest = await ledger.store.checkpoint()
        if new > (latest["size"] if latest else 0):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"the log of heads has no size {new}")
        return ConsistencyOut(from_size=old, to=new,
                              proof=await _proof_or_404(ledger.store.consistency_proof(HEADS_TREE, old, new)))

    @app.get("/log/proof/inclusion", response_model=InclusionOut, tags=["log"])
    async def log_inclusion(
        ledger: LedgerDep, principal: PrincipalDep,
        index: Annotated[int, Query(ge=0, le=2**62)], size: Annotated[int, Query(ge=1, le=2**62)],
    ) -> InclusionOut:
        """Inclusion proof of one leaf of the log of heads in the log of ``size``."""
        if index >= size:
            raise _unprocessable("index", "index must be below size")
        latest = await ledger.store.checkpoint()
        heads = await ledger.store.heads(start=index, end=index + 1)
        if not heads or size > (latest["size"] if latest else 0):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"the log of heads has no leaf {index} in size {size}")
        head = heads[0]
        blinded = (await ledger.store.blinded_ids([head.tree_id]))[head.tree_id]
        proof = await _proof_or_404(_log_inclusion(ledger, index, size))
        return InclusionOut(index=index, size=size, leaf=b64(head_leaf_data(blinded, head.size, head.root)), proof=proof)

    async def _log_inclusion(ledger: Ledger, index: int, size: int) -> list[bytes]:
        return (await ledger.store.inclusion_proofs(HEADS_TREE, [index], size))[index]

    @app.get("/log/channels/{blinded_id}/consistency", response_model=ConsistencyOut, tags=["log"])
    async def blinded_consistency(
        ledger: LedgerDep, principal: PrincipalDep,
        blinded_id: Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="hex blinded channel id")],
        old: SizeFrom, new: SizeTo,
    ) -> ConsistencyOut:
        """Consistency proof between two sizes of a channel's tree, by blinded id (hashes only)."""
        _check_sizes(old, new)
        found = await ledger.store.channel_by_blinded_id(bytes.fromhex(blinded_id))
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no channel has that blinded id")
        return ConsistencyOut(from_size=old, to=new,
                              proof=await _proof_or_404(_tree_consistency(ledger, found.tree_id, old, new)))

    @app.post("/log/cosignatures", response_model=CosignatureOut, status_code=201, tags=["log"])
    async def add_cosignature(
        ledger: LedgerDep, principal: PrincipalDep, response: Response, body: Annotated[CosignatureIn, Body()],
    ) -> CosignatureOut:
        """Keep a registered witness's cosignature of a checkpoint (C2SP tlog-cosignature); 422 if it does not verify."""
        found = await ledger.store.checkpoint(size=body.size)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no checkpoint of size {body.size}")
        line = body.signature if body.signature.endswith("\n") else body.signature + "\n"
        keys = await ledger.log_keys()
        try:
            parsed = notes.parse_note(notes.with_signatures(found["note"], [line]))
            name = next(s.name for s in parsed.signatures if notes.signature_line(s.name, s.key_hash, s.signature) == line)
        except (notes.NoteError, StopIteration, binascii.Error, ValueError):
            raise HTTPException(422, detail=[{"loc": ["body", "signature"],
                                              "msg": "not a signature line ('— <name> <base64>')"}]) from None
        key = keys.witnesses.get(name)
        if key is None:
            raise HTTPException(422, detail=[{"loc": ["body", "signature"], "msg": f"{name!r} is not a registered witness"}])
        timestamp = notes.verify_cosignature(notes.Note(parsed.body, tuple(s for s in parsed.signatures if s.name == name)),
                                             name=name, public_key=key)
        if timestamp is None:
            raise HTTPException(422, detail=[{"loc": ["body", "signature"],
                                              "msg": f"not a valid cosignature of checkpoint {body.size} by {name}"}])
        new = await ledger.store.add_cosignature(size=body.size, witness=name, cosigned_at=timestamp, line=line)
        if not new:
            response.status_code = status.HTTP_200_OK
        return CosignatureOut(size=body.size, witness=name, timestamp=timestamp, new=new)

    return app
