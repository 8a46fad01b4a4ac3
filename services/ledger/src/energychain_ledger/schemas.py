"""The ledger API's request and response bodies."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from energychain_ledger.adapters.store import StoredEntry
from energychain_ledger.verification import Problem, VerifyReport


def b64(value: bytes) -> str:
    """Base64 text of a hash, as every route writes it."""
    return base64.b64encode(value).decode()


class TokenOut(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class MembershipOut(BaseModel):
    """A municipality's membership of a resident channel: it reads the entries whose event time is in
    [member_from, member_until) (null: since the channel began; still a member)."""

    municipality_id: str
    member_from: datetime | None
    member_until: datetime | None


class ChannelOut(BaseModel):
    """A channel the caller belongs to, with its newest head and what members need to find it in the log."""

    channel: str
    kind: str
    municipality_id: str | None = Field(description="a resident channel: the municipality the house was enrolled "
                                        "in (for a municipality caller: itself, a member by `memberships`)")
    memberships: list[MembershipOut] | None = Field(
        default=None, description="a resident channel: its municipalities by date (a municipality caller: its own "
        "spans only); the entries a municipality reads are those of its spans")
    size: int = Field(description="entries in the channel's tree at its newest head")
    root: str = Field(description="base64 root of the channel's tree at its newest head")
    blinded_id: str = Field(description="hex id of the channel in the log of heads")
    salt: str = Field(description="hex salt of the blinded id (members only)")


class Position(BaseModel):
    """Where an entry sits on one channel (seq n is leaf n - 1 of the channel's tree)."""

    channel: str
    seq: int


class EntryOut(BaseModel):
    """One ledger entry: its bytes as recorded, and their content."""

    entry_id: str
    seq: int = Field(description="position on the channel asked for (the first visible one for /entries/{id})")
    kind: str
    event_time: datetime
    record_time: datetime
    producer: str
    payload: dict[str, Any]
    transfers: list[dict[str, Any]]
    channels: list[str]
    signature: str = Field(description="the producer's base64 Ed25519 signature of `entry`; empty for meter readings")
    entry: str = Field(description="the entry bytes (canonical JSON) the leaf hashes: SHA-256(0x00 || entry)")
    positions: list[Position]


def entry_out(stored: StoredEntry, positions: list[Position]) -> EntryOut:
    """API form of a stored entry: what it says is read from its bytes, never from other columns."""
    content = json.loads(stored.entry)
    return EntryOut(
        entry_id=stored.entry_id, seq=stored.seq, kind=str(content.get("kind", stored.kind)),
        event_time=stored.event_time, record_time=stored.record_time, producer=str(content.get("producer", "")),
        payload=dict(content.get("body") or {}), transfers=list(content.get("transfers") or []),
        channels=list(content.get("channels") or []), signature=stored.signature,
        entry=stored.entry.decode(), positions=positions,
    )


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


class ProblemOut(BaseModel):
    """One thing that did not verify, and where."""

    problem: str
    detail: str
    channel: str | None = None
    seq: int | None = None
    entry_id: str | None = None
    posting: str | None = None
    checkpoint: int | None = None


def problem_out(problem: Problem) -> ProblemOut:
    """API form of a verification problem."""
    return ProblemOut(problem=problem.problem, detail=problem.detail, channel=problem.channel, seq=problem.seq,
                      entry_id=problem.entry_id, posting=problem.posting, checkpoint=problem.checkpoint)


class VerifyOut(BaseModel):
    """Outcome of verifying one channel, or the whole ledger."""

    channel: str | None
    ok: bool
    entries_checked: int
    size: int
    root: str
    checkpoint: int | None = Field(description="the cosigned checkpoint the channel was proved in")
    cosigned_by: list[str]
    failure: ProblemOut | None = Field(description="the first problem")
    problems: list[ProblemOut] = Field(description="every problem found (at most 100)")


def verify_out(report: VerifyReport) -> VerifyOut:
    """API form of a verification report."""
    return VerifyOut(
        channel=report.channel, ok=report.ok, entries_checked=report.entries_checked, size=report.size,
        root=b64(report.root), checkpoint=report.checkpoint, cosigned_by=report.cosigned_by,
        failure=None if report.failure is None else problem_out(report.failure),
        problems=[problem_out(p) for p in report.problems[:100]],
    )


class WitnessOut(BaseModel):
    """A witness the ledger collects cosignatures from."""

    name: str
    vkey: str


class LogKeyOut(BaseModel):
    """How to check the ledger's checkpoints: its origin and C2SP verifier key, and its witnesses'."""

    origin: str
    vkey: str
    witnesses: list[WitnessOut]


class CheckpointOut(BaseModel):
    """A signed checkpoint of the log of heads with the cosignatures collected for it."""

    size: int
    root: str
    note: str = Field(description="C2SP signed note: the ledger's signature line, then each witness's cosignature")
    cosigned_by: list[str]
    created_at: datetime


class HeadOut(BaseModel):
    """A leaf of the log of heads."""

    index: int
    blinded_id: str
    size: int
    root: str


class HeadsPage(BaseModel):
    """Leaves of the log of heads."""

    heads: list[HeadOut]


class ConsistencyOut(BaseModel):
    """An RFC 9162 consistency proof between two sizes of a tree."""

    from_size: int = Field(alias="from", serialization_alias="from")
    to: int
    proof: list[str]

    model_config = {"populate_by_name": True}


class InclusionOut(BaseModel):
    """An RFC 9162 inclusion proof of one leaf of the log of heads."""

    index: int
    size: int
    leaf: str = Field(description="base64 leaf data (73 bytes)")
    proof: list[str]


class CosignatureIn(BaseModel):
    """A witness's cosignature of one checkpoint."""

    size: int = Field(ge=1)
    signature: str = Field(min_length=10, max_length=1000, description="the signature line: '— <name> <base64>'")


class CosignatureOut(BaseModel):
    """A cosignature the ledger kept."""

    size: int
    witness: str
    timestamp: int
    new: bool


class ProvedEntry(BaseModel):
    """An entry and its inclusion proof in the channel head of the checkpoint."""

    seq: int
    entry: str
    proof: list[str]


class ProofHead(BaseModel):
    """The channel's head the entries are proved against, and where it is in the log of heads."""

    index: int
    size: int
    root: str


class ProofBundle(BaseModel):
    """Entries proved in one checkpoint: channel tree -> channel head -> log of heads -> signed checkpoint."""

    channel: str
    blinded_id: str
    checkpoint: CheckpointOut
    head: ProofHead | None
    head_proof: list[str]
    entries: list[ProvedEntry]
    pending: list[int] = Field(description="asked entries that are not yet in this checkpoint")


class UserIn(BaseModel):
    """A resident or municipality user the GSA creates."""

    username: str = Field(min_length=1, max_length=63, examples=["maria"])
    role: str = Field(examples=["resident"], description="resident or municipality")
    password: str = Field(min_length=1, max_length=256, description="12 to 256 characters")
    house_id: str | None = Field(default=None, max_length=100, description="a resident's registered house")
    municipality_id: str | None = Field(default=None, max_length=100, description="a municipality user's municipality")


class UserOut(BaseModel):
    """A user as the GSA sees it (never its password)."""

    username: str
    role: str
    municipality_id: str | None
    house_id: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PasswordChangeIn(BaseModel):
    """A user's change of its own password."""

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256, description="12 to 256 characters")


class RevocationOut(BaseModel):
    subject_sha256: str = Field(description="SHA-256 of the username, hex")
    not_before: datetime | None = Field(description="tokens issued before are refused; null: every token (disabled)")


class RevocationsOut(BaseModel):
    """Users whose tokens the services refuse; each service's API refreshes this list."""

    revoked: list[RevocationOut]
