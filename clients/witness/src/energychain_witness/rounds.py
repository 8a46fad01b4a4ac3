"""One witness round: fetch the newest checkpoint, check it (docs/LEDGER.md "Witnesses" 1-7), cosign, store, submit.

A municipality's witness (any login but an auditor's) watches its member channels and reads
their entries and postings; an auditor's watches every blinded id of the log of heads and
checks each channel head by its consistency proof only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared.tlog import merkle, note

from energychain_witness import domain, metrics
from energychain_witness.client import LedgerClient, LedgerError, LedgerUnreachable
from energychain_witness.domain import Refused
from energychain_witness.store import Cosigned, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

PROOF_CONCURRENCY = 8  # channel consistency proofs asked at once

MEMBER = "member"
AUDITOR = "auditor"

COSIGNED = "cosigned"
UNCHANGED = "unchanged"
REFUSED = "refused"
EMPTY = "empty"  # the ledger has no checkpoint yet (nothing was appended)


class MembershipsChanged(LedgerError):
    """The caller's memberships (`GET /channels`) changed while a round that refused ran: the ledger read a
    move meanwhile, so what it served was filtered by two memberships. Not a refusal: the round fails and
    the next one checks again."""

    def __init__(self) -> None:
        super().__init__("GET /channels", 409, "the memberships changed during the round; the next round checks "
                                               "again")


@dataclass(frozen=True, slots=True)
class RoundOutcome:
    """What one round did."""

    status: str  # cosigned | unchanged | refused | empty
    size: int | None
    root: str | None = None  # base64
    reason: str | None = None
    detail: str | None = None
    signature: str | None = None
    submitted: bool = False
    entries_read: int = 0
    at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if self.status == REFUSED:
            return f"refused checkpoint {self.size}: {self.reason}: {self.detail}"
        if self.status == COSIGNED:
            sent = "submitted" if self.submitted else "stored, not yet accepted by the ledger"
            return f"cosigned checkpoint {self.size} root {self.root} ({self.entries_read} entries read; {sent})"
        if self.status == EMPTY:
            return "the ledger has no checkpoint yet"
        return f"checkpoint {self.size} already cosigned; nothing new"


def witness_vkey(name: str, private_key: Ed25519PrivateKey) -> str:
    """The witness's C2SP verifier key (cosignature/v1 key type), as the ledger registers it."""
    return note.verifier_key(name, private_key.public_key(), key_type=note.COSIGNATURE_V1)


class Witness:
    """One witness: its key, its store, its session at the ledger."""

    def __init__(self, *, name: str, private_key: Ed25519PrivateKey, ledger_vkey: str, store: Store,
                 client: LedgerClient, audit_entries: int = 5000, audit_accounts: int = 20,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.private_key = private_key
        self.vkey = witness_vkey(name, private_key)
        self.ledger_vkey = ledger_vkey
        self.ledger_name, _, self.ledger_key = note.parse_verifier_key(ledger_vkey)
        self.store = store
        self.client = client
        self.audit_entries = audit_entries
        self.audit_accounts = audit_accounts
        self.clock = clock
        self.mode: str | None = None
        self.last_round: RoundOutcome | None = None
        self.last_error: str | None = None
        self._nudged: int | None = None  # size whose cosignature an unchanged round sent again
        self._rejected: int | None = None  # size whose cosignature the ledger refused (not retried every round)

    # ------------------------------------------------------------ start

    async def start(self) -> None:
        """Log in, learn the mode from the login's role, bind the store to it, re-send a pending cosignature."""
        await self.client.login()
        mode = AUDITOR if self.client.role == "auditor" else MEMBER
        self.store.claim("witness_name", self.name)
        self.store.claim("ledger_vkey", self.ledger_vkey)
        self.store.claim("mode", mode)
        self.mode = mode
        last = self.store.last_cosigned()
        if last is not None:
            metrics.COSIGNED_SIZE.set(last.size)
        metrics.WATCHED_CHANNELS.set(len(self.store.load_state().channels))
        await self._check_registration()
        await self.resubmit_pending()
        log.info("witness started", extra={"witness": self.name, "mode": mode, "vkey": self.vkey,
                                           "cosigned_size": None if last is None else last.size})

    async def _check_registration(self) -> None:
        try:
            key = await self.client.log_key()
        except LedgerError as error:
            log.warning("cannot read the ledger's key and witnesses", extra={"error": str(error)})
            return
        if key.get("vkey") and key["vkey"] != self.ledger_vkey:
            log.error("the ledger serves another verifier key than the one this witness pins; its checkpoints "
                      "will be refused", extra={"served": key["vkey"], "pinned": self.ledger_vkey})
        registered = {w.get("name"): w.get("vkey") for w in key.get("witnesses", []) if isinstance(w, dict)}
        if registered.get(self.name) != self.vkey:
            log.warning("this witness is not registered at the ledger with its key; the ledger will refuse its "
                        "cosignatures", extra={"witness": self.name, "vkey": self.vkey})

    async def resubmit_pending(self) -> bool:
        """If the ledger lacks the stored cosignature (killed before it was sent, or lost), send it again."""
        last = self.store.last_cosigned()
        if last is None:
            return False
        try:
            served = await self.client.checkpoint_at(last.size)
        except LedgerError as error:
            log.warning("cannot read the last cosigned checkpoint back from the ledger",
                        extra={"size": last.size, "error": str(error)})
            return False
        if self.name in (served.get("cosigned_by") or []):
            if not last.submitted:
                self.store.mark_submitted(last.size)
            return False
        log.info("sending the stored cosignature again", extra={"size": last.size})
        return await self._submit(last)

    # ------------------------------------------------------------ one round

    async def round(self) -> RoundOutcome:
        """Check the newest checkpoint and cosign it if it passes; a refusal is kept and counted, never raised.

        Raises LedgerUnreachable (or LedgerError for the checkpoint or login routes) when the
        round could not be run at all; the caller retries.
        """
        metrics.ROUNDS.inc()
        try:
            if self.mode is None:
                await self.start()
            last = self.store.last_cosigned()
            if last is not None and not last.submitted and self._rejected != last.size:
                await self._submit(last)
            try:
                served = await self.client.checkpoint()
            except LedgerError as error:
                if error.status != 404:
                    raise
                outcome = RoundOutcome(EMPTY, None, at=self.clock())  # 404: nothing appended yet
            else:
                outcome = await self._round(served)
        except Exception as error:
            metrics.ROUND_ERRORS.inc()
            self.last_error = f"{type(error).__name__}: {error}"
            raise
        self.last_error = None
        self.last_round = outcome
        return outcome

    async def _round(self, served: dict[str, Any]) -> RoundOutcome:
        state = self.store.load_state()
        size = _int_or_none(served.get("size"))
        try:
            checkpoint = domain.verify_checkpoint(str(served.get("note", "")), ledger_name=self.ledger_name,
                                                  ledger_public_key=self.ledger_key)
            size = checkpoint.size
            if not domain.is_new(state, checkpoint):
                await self._nudge(served)
                return RoundOutcome(UNCHANGED, checkpoint.size, domain.b64(checkpoint.root), at=self.clock())
            accepted = await self._check(state, checkpoint)
        except Refused as refusal:
            return self._refuse(refusal, size)
        return await self._cosign(state, accepted)

    async def _check(self, state: domain.WitnessState, checkpoint: domain.SignedCheckpoint) -> domain.Accepted:
        """Steps 3-6 for a checkpoint larger than the last cosigned one."""
        client = self.client
        # 3. The log of heads extends the last cosigned checkpoint.
        if state.size > 0:
            proof = await self._served(client.consistency(state.size, checkpoint.size))
            domain.check_log_consistency(state, checkpoint, proof)
        # 4. Its new leaves, on the witness's compact range, give the new root.
        served_heads = await self._served(client.heads(state.size, checkpoint.size))
        heads = [domain.parse_head(h) for h in served_heads]
        frontier = domain.extend_heads(state, checkpoint, heads)
        # 5. Every watched channel's head extends its previous one.
        if self.mode == AUDITOR:
            transitions, by_channel = domain.channel_transitions(state.channels, heads, watch_all=True)
            await self._check_transitions([t for t in transitions if t.needs_proof])
            return domain.accept(state, checkpoint, frontier, domain.apply_heads(state.channels, by_channel))
        listed = await self._served(client.channels())
        channels, watched = domain.check_member_channels(state, listed)
        spans = domain.member_spans(listed)  # by channel name; None: read whole
        try:
            return await self._check_member(state, checkpoint, frontier, heads, channels, watched, spans)
        except Refused as refusal:
            # A move read by the ledger during the round filters its answers by two memberships: ask again.
            try:
                again = domain.member_spans(await self._served(client.channels()))
            except Refused:
                raise refusal from None
            if again != spans:
                raise MembershipsChanged() from None
            raise

    async def _check_member(
        self, state: domain.WitnessState, checkpoint: domain.SignedCheckpoint, frontier: merkle.Frontier,
        heads: list[domain.Head], channels: dict[str, domain.ChannelState], watched: set[str],
        spans: dict[str, domain.Spans],
    ) -> domain.Accepted:
        """Steps 5 and 6 of a member witness. A channel it reads in part (membership by date: a municipality's
        resident channel after a move) has each new head proved by consistency, and its entries that the
        witness can read proved at their seqs in the last one (`domain.apply_entries_in_spans`); every other
        channel's entries recompute every new head (`domain.apply_entries`)."""
        client = self.client
        for gone in sorted(channels[k].name or k for k in set(channels) - watched):
            log.warning("channel no longer listed for this login; not followed", extra={"channel": gone})
        in_part = {k for k in watched
                   if not domain.reads_whole(channels[k], spans.get(channels[k].name or ""))}
        transitions, by_channel = domain.channel_transitions({k: channels[k] for k in watched}, heads,
                                                             watch_all=False)
        transitions = domain.collapse_transitions(transitions, keep=in_part)
        await self._check_transitions([t for t in transitions if t.needs_proof])
        # 6. A member reads the new entries, their postings, and re-reads older entries.
        new_channels = {k: c.copy() for k, c in channels.items()}
        entries: list[domain.Entry] = []
        for blinded, channel_heads in by_channel.items():
            channel = channels[blinded]
            assert channel.name is not None
            last = channel_heads[-1].size
            served = await self._served(client.entries(channel.name, channel.size + 1, last))
            parsed = [domain.parse_entry(channel.name, seq, text) for seq, text in served]
            if blinded in in_part:
                seqs = [e.seq for e in parsed if channel.size < e.seq <= last]
                bundles = await self._served(client.proofs(channel.name, seqs, checkpoint.size)) if seqs else []
                new_channels[blinded], taken = domain.apply_entries_in_spans(
                    channel, channel_heads, parsed, bundles, spans=spans.get(channel.name))
            else:
                new_channels[blinded], taken = domain.apply_entries(channel, channel_heads, parsed)
            entries.extend(taken)
        domain.check_same_entries(entries, self.store.leaves_of_entries(e.entry_id for e in entries))
        account_cursor = await self._compare_postings(state, entries, spans)
        await self._audit(state, new_channels, watched, spans)
        return domain.accept(state, checkpoint, frontier, new_channels, account_cursor=account_cursor,
                             entries=entries)

    async def _check_transitions(self, transitions: list[domain.Transition]) -> None:
        """Fetch the channel consistency proofs a few at a time; check them in log order."""
        gate = asyncio.Semaphore(PROOF_CONCURRENCY)

        async def fetch(t: domain.Transition) -> list[str]:
            async with gate:
                return await self._served(self.client.channel_consistency(t.blinded_id, t.old_size, t.new_size))

        proofs = await asyncio.gather(*(fetch(t) for t in transitions), return_exceptions=True)
        for transition, proof in zip(transitions, proofs):
            if isinstance(proof, BaseException):
                raise proof
            domain.check_transition(transition, proof)

    async def _compare_postings(self, state: domain.WitnessState, entries: list[domain.Entry],
                                spans: dict[str, domain.Spans]) -> str:
        touched = {a for e in entries for t in e.transfers for a in (t.debit_account, t.credit_account)}
        visible = await self._served(self.client.visible_accounts())
        accounts, cursor = domain.accounts_to_compare(visible, touched, cursor=state.account_cursor,
                                                      budget=self.audit_accounts)
        new = {e.entry_id: e.transfers for e in entries}
        for account in accounts:
            postings = await self._served(self.client.postings(account))
            seen = dict(self.store.transfers_touching(account))
            seen.update(self.store.seen_transfers(p.entry_id for p in postings))
            named = {p.entry_id for p in postings}
            seen.update({entry_id: transfers for entry_id, transfers in new.items()
                         if entry_id in named or any(account in (t.debit_account, t.credit_account)
                                                     for t in transfers)})
            part = domain.account_spans(account, spans)
            if part is not None:  # a house's account read in part: its postings of the witness's spans
                times = self.store.event_times(seen)
                times.update({e.entry_id: e.occurred_at for e in entries if e.entry_id in seen})
                seen = domain.seen_in_spans(seen, times, part)
            domain.check_postings(account, postings, seen)
        return cursor

    async def _audit(self, state: domain.WitnessState, new_channels: dict[str, domain.ChannelState],
                     watched: set[str], spans: dict[str, domain.Spans]) -> None:
        """The rolling audit: up to ``audit_entries`` older entries per member channel, from its cursor."""
        for blinded, channel in state.channels.items():
            if channel.name is None or channel.size == 0 or blinded not in watched:
                continue
            ranges, cursor = domain.audit_ranges(channel.size, channel.audit_cursor, self.audit_entries)
            for first, last in ranges:
                served = await self._served(self.client.entries(channel.name, first, last))
                domain.check_audit(channel.name, first, last, served,
                                   self.store.stored_leaves(channel.name, first, last),
                                   spans=spans.get(channel.name))
            new_channels[blinded].audit_cursor = cursor

    async def _served(self, call: Awaitable[T]) -> T:
        """What a ledger route served; its refusal to serve (a 4xx but 401) is the checkpoint's `unprovable`.
        A 5xx is the ledger failing to answer now, not refusing: the round fails and the next one asks again."""
        try:
            return await call
        except LedgerError as error:
            if error.status in (0, 401) or error.status >= 500:
                raise
            raise Refused(domain.UNPROVABLE, str(error)) from None
        except (KeyError, TypeError, ValueError) as error:
            raise Refused(domain.UNPROVABLE, f"malformed answer: {type(error).__name__}: {error}") from None

    # ------------------------------------------------------------ step 7

    async def _cosign(self, state: domain.WitnessState, accepted: domain.Accepted) -> RoundOutcome:
        """Sign, store the new state and the cosignature in one transaction, then submit."""
        checkpoint = accepted.checkpoint
        timestamp = int(self.clock())
        line = note.cosign(checkpoint.body, name=self.name, private_key=self.private_key,
                           timestamp=timestamp).removesuffix("\n")
        cosigned = Cosigned(checkpoint.size, checkpoint.root, checkpoint.note_text, line, timestamp, self.clock())
        self.store.commit_round(base_size=state.size, base_root=state.root, accepted=accepted, cosigned=cosigned)
        metrics.COSIGNED_SIZE.set(checkpoint.size)
        metrics.WATCHED_CHANNELS.set(len(accepted.state.channels))
        log.info("cosigned", extra={"size": checkpoint.size, "root": domain.b64(checkpoint.root),
                                    "entries_read": len(accepted.entries)})
        submitted = await self._submit(cosigned)
        return RoundOutcome(COSIGNED, checkpoint.size, domain.b64(checkpoint.root), signature=line,
                            submitted=submitted, entries_read=len(accepted.entries), at=self.clock())

    async def _submit(self, cosigned: Cosigned) -> bool:
        """POST the cosignature; True when the ledger has it. A failure leaves it stored for the next try."""
        try:
            await self.client.submit_cosignature(cosigned.size, cosigned.signature)
        except LedgerUnreachable as error:
            metrics.SUBMISSIONS.labels(outcome="unreachable").inc()
            log.warning("cosignature not sent; it stays stored and is sent again",
                        extra={"size": cosigned.size, "error": str(error)})
            return False
        except LedgerError as error:
            if error.status != 409:  # 409: the ledger already has it
                self._rejected = cosigned.size
                metrics.SUBMISSIONS.labels(outcome="rejected").inc()
                log.error("the ledger refused the cosignature", extra={"size": cosigned.size, "error": str(error)})
                return False
        metrics.SUBMISSIONS.labels(outcome="accepted").inc()
        self.store.mark_submitted(cosigned.size)
        return True

    async def _nudge(self, served: dict[str, Any]) -> None:
        """The newest checkpoint is the last cosigned one: send its cosignature again once if the ledger lacks it."""
        last = self.store.last_cosigned()
        if last is None or self.name in (served.get("cosigned_by") or []) or self._nudged == last.size:
            return
        self._nudged = last.size
        await self._submit(last)

    def _refuse(self, refusal: Refused, size: int | None) -> RoundOutcome:
        metrics.REFUSALS.labels(reason=refusal.reason).inc()
        self.store.record_refusal(reason=refusal.reason, detail=refusal.detail, checkpoint_size=size, at=self.clock())
        log.warning("refused checkpoint", extra={"size": size, "reason": refusal.reason, "detail": refusal.detail})
        return RoundOutcome(REFUSED, size, reason=refusal.reason, detail=refusal.detail, at=self.clock())


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
