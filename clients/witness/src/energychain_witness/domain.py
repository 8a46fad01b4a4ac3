"""What a witness checks before it cosigns (docs/LEDGER.md "Witnesses", steps 1-7). Pure: no I/O.

The round (`rounds.py`) fetches what the ledger serves and hands it to these functions with
the witness's state; each either returns the state the checkpoint leads to or raises
`Refused` with a reason code and a detail naming the channel, seq or account.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from energychain_shared.tlog import merkle, note
from energychain_shared.tlog.heads import blinded_channel_id, head_leaf_data

# Why a witness refuses a checkpoint.
BAD_SIGNATURE = "bad_signature"  # the ledger's signature does not verify with the pinned key
ROLLBACK = "rollback"  # smaller than the last cosigned checkpoint
FORK = "fork"  # the same size as the last cosigned checkpoint with another root
INCONSISTENT_LOG = "inconsistent_log"  # the log-of-heads consistency proof does not verify
HEADS_MISMATCH = "heads_mismatch"  # the heads-log leaves do not give the checkpoint's root
CHANNEL_INCONSISTENT = "channel_inconsistent"  # a channel head does not extend the previous one
CHANNEL_ROLLBACK = "channel_rollback"  # a channel head smaller than the previous one
ENTRIES_MISMATCH = "entries_mismatch"  # a member channel's entries do not give its head
POSTING_MISMATCH = "posting_mismatch"  # a posting is not one side of its entry's transfer
AUDIT_MISMATCH = "audit_mismatch"  # an older entry is not what the ledger served before
UNPROVABLE = "unprovable"  # the ledger could not serve a proof or the data it rests on
REASONS = (BAD_SIGNATURE, ROLLBACK, FORK, INCONSISTENT_LOG, HEADS_MISMATCH, CHANNEL_INCONSISTENT,
           CHANNEL_ROLLBACK, ENTRIES_MISMATCH, POSTING_MISMATCH, AUDIT_MISMATCH, UNPROVABLE)

HASH_SIZE = 32


class Refused(Exception):
    """The witness will not cosign this checkpoint: a reason code and what it is about."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def b64(data: bytes) -> str:
    """Standard base64 text of ``data`` (how the ledger serves hashes)."""
    return base64.b64encode(data).decode()


def unb64(text: str, *, what: str, reason: str, size: int | None = HASH_SIZE) -> bytes:
    """Decode a served base64 hash, refusing with ``reason`` when it is not one."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise Refused(reason, f"{what}: not base64: {str(text)[:60]!r}") from None
    if size is not None and len(data) != size:
        raise Refused(reason, f"{what}: {len(data)} bytes, not {size}")
    return data


def proof_hashes(proof: Iterable[str], *, what: str, reason: str) -> list[bytes]:
    """A served proof (base64 hashes) as bytes."""
    return [unb64(h, what=f"{what} hash {i}", reason=reason) for i, h in enumerate(proof)]


def consistent(*, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """True when ``proof`` shows the tree of ``new_size`` extends the one of ``old_size`` (RFC 9162 2.1.4)."""
    try:
        answer = merkle.verify_consistency(old_size=old_size, new_size=new_size, old_root=old_root,
                                           new_root=new_root, proof=list(proof))
    except (merkle.ProofError, ValueError):
        return False
    return answer is not False


# ---------------------------------------------------------------- state


@dataclass(slots=True)
class ChannelState:
    """What the witness knows of one channel: its last head, and for a member channel its own compact range."""

    blinded_id: str  # hex
    name: str | None = None  # None: watched by blinded id only (the auditor)
    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    frontier: merkle.Frontier | None = None  # member channels: the tree of the entries the witness has read
    audit_cursor: int = 0  # last seq the rolling audit compared

    @property
    def member(self) -> bool:
        """True when the witness reads this channel's entries."""
        return self.name is not None

    def copy(self) -> ChannelState:
        return replace(self, frontier=None if self.frontier is None else self.frontier.copy())


@dataclass(slots=True)
class WitnessState:
    """The last cosigned checkpoint, the log of heads' compact range at its size, and the watched channels."""

    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    heads: merkle.Frontier = field(default_factory=merkle.Frontier)
    channels: dict[str, ChannelState] = field(default_factory=dict)  # by blinded id
    account_cursor: str = ""  # last account the rolling postings comparison read

    def copy(self) -> WitnessState:
        return WitnessState(self.size, self.root, self.heads.copy(), {k: c.copy() for k, c in self.channels.items()},
                            self.account_cursor)

    def member_channels(self) -> dict[str, ChannelState]:
        """Member channels by name."""
        return {c.name: c for c in self.channels.values() if c.name is not None}


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint whose ledger signature verified."""

    origin: str
    size: int
    root: bytes
    body: str  # the checkpoint body the cosignature covers
    note_text: str


# ---------------------------------------------------------------- steps 1-4: the log of heads


def verify_checkpoint(note_text: str, *, ledger_name: str, ledger_public_key: object) -> SignedCheckpoint:
    """Step 1: the note is a checkpoint of the ledger's origin and its signature verifies with the pinned key."""
    try:
        parsed = note.parse_note(note_text)
        checkpoint = note.parse_checkpoint(parsed.body)
    except (ValueError, TypeError, KeyError) as error:
        raise Refused(BAD_SIGNATURE, f"not a signed checkpoint note: {error}") from None
    if checkpoint.origin != ledger_name:
        raise Refused(BAD_SIGNATURE, f"checkpoint origin {checkpoint.origin!r} is not the ledger's {ledger_name!r}")
    try:
        valid = note.verify_signature(parsed, name=ledger_name, public_key=ledger_public_key)
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise Refused(BAD_SIGNATURE, f"checkpoint {checkpoint.size}: no valid signature by {ledger_name}")
    body = parsed.body if isinstance(parsed.body, str) else parsed.body.decode()
    return SignedCheckpoint(checkpoint.origin, checkpoint.size, bytes(checkpoint.root), body, note_text)


def is_new(state: WitnessState, checkpoint: SignedCheckpoint) -> bool:
    """Step 2: False for the checkpoint last cosigned, True for a larger one; refuse a smaller or forked one."""
    if checkpoint.size < state.size:
        raise Refused(ROLLBACK, f"checkpoint size {checkpoint.size} is below the last cosigned size {state.size}")
    if checkpoint.size == state.size:
        if checkpoint.root != state.root:
            raise Refused(FORK, f"checkpoint {checkpoint.size} has root {b64(checkpoint.root)}, "
                                f"the one cosigned at that size {b64(state.root)}")
        return False
    return True


def check_log_consistency(state: WitnessState, checkpoint: SignedCheckpoint, proof: Sequence[str]) -> None:
    """Step 3: the consistency proof from the last cosigned size to the new one verifies."""
    if state.size == 0:
        return
    hashes = proof_hashes(proof, what=f"consistency proof {state.size}->{checkpoint.size}", reason=INCONSISTENT_LOG)
    if not consistent(old_size=state.size, new_size=checkpoint.size, old_root=state.root, new_root=checkpoint.root,
                      proof=hashes):
        raise Refused(INCONSISTENT_LOG, f"the consistency proof from {state.size} to {checkpoint.size} does not verify")


@dataclass(frozen=True, slots=True)
class Head:
    """One leaf of the log of heads: a (blinded) channel's size and root after a batch."""

    index: int
    blinded_id: str  # hex
    size: int
    root: bytes

    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(head_leaf_data(bytes.fromhex(self.blinded_id), self.size, self.root))


def parse_head(served: Mapping[str, object]) -> Head:
    """A served heads-log leaf ({"index", "blinded_id", "size", "root"}) as a Head."""
    try:
        index, size, blinded = int(served["index"]), int(served["size"]), str(served["blinded_id"])
        root = served["root"]
    except (KeyError, TypeError, ValueError):
        raise Refused(HEADS_MISMATCH, f"malformed head {dict(served)!r:.200}") from None
    try:
        if len(bytes.fromhex(blinded)) != HASH_SIZE:
            raise ValueError
    except ValueError:
        raise Refused(HEADS_MISMATCH, f"head {index}: blinded id {blinded[:70]!r} is not 32 bytes of hex") from None
    if not 0 <= size < 2**64:
        raise Refused(HEADS_MISMATCH, f"head {index}: size {size} out of range")
    return Head(index, blinded.lower(), size, unb64(str(root), what=f"head {index} root", reason=HEADS_MISMATCH))


def extend_heads(state: WitnessState, checkpoint: SignedCheckpoint, heads: Sequence[Head]) -> merkle.Frontier:
    """Step 4: the heads since the last cosigned size, appended to the witness's compact range, give the new root."""
    expected = checkpoint.size - state.size
    if len(heads) != expected:
        raise Refused(HEADS_MISMATCH, f"ledger served {len(heads)} heads for indexes {state.size}.."
                                      f"{checkpoint.size - 1}, not {expected}")
    frontier = state.heads.copy()
    for offset, head in enumerate(heads):
        if head.index != state.size + offset:
            raise Refused(HEADS_MISMATCH, f"head at position {state.size + offset} says index {head.index}")
        frontier.append(head.leaf_hash())
    if frontier.size != checkpoint.size or frontier.root() != checkpoint.root:
        raise Refused(HEADS_MISMATCH, f"heads {state.size}..{checkpoint.size - 1} give root {b64(frontier.root())}, "
                                      f"the checkpoint says {b64(checkpoint.root)}")
    return frontier


# ---------------------------------------------------------------- step 5: channel heads


def blinded_id_hex(channel: str, salt_hex: str) -> str:
    """The blinded id a member computes from the channel's name and salt."""
    return blinded_channel_id(channel, bytes.fromhex(salt_hex)).hex()


def check_member_channels(
    state: WitnessState, served: Sequence[Mapping[str, object]],
) -> tuple[dict[str, ChannelState], set[str]]:
    """The member channels `GET /channels` lists, each blinded id recomputed from its salt; new ones added.

    Returns the channel states with the new member channels (size 0) added, and the blinded
    ids listed now (a channel no longer listed keeps its state but is not followed while so).
    """
    channels = {k: c.copy() for k, c in state.channels.items()}
    by_name = {c.name: c for c in channels.values() if c.name is not None}
    listed: set[str] = set()
    for item in served:
        name = str(item.get("channel"))
        salt, claimed = str(item.get("salt") or ""), str(item.get("blinded_id") or "").lower()
        try:
            computed = blinded_id_hex(name, salt)
        except ValueError:
            raise Refused(CHANNEL_INCONSISTENT, f"channel {name}: salt {salt[:70]!r} is not 32 bytes of hex") from None
        if claimed != computed:
            raise Refused(CHANNEL_INCONSISTENT, f"channel {name}: served blinded id {claimed[:64]} is not "
                                                f"SHA-256 of its salt and name ({computed})")
        known = by_name.get(name)
        if known is not None and known.blinded_id != computed:
            raise Refused(CHANNEL_INCONSISTENT, f"channel {name}: blinded id changed from {known.blinded_id} "
                                                f"to {computed} (a new salt)")
        if computed not in channels:
            channels[computed] = ChannelState(computed, name, frontier=merkle.Frontier())
            by_name[name] = channels[computed]
        listed.add(computed)
    return channels, listed


@dataclass(frozen=True, slots=True)
class Transition:
    """A watched channel's move from one head to the next within one round."""

    blinded_id: str
    name: str | None
    head_index: int
    old_size: int
    old_root: bytes
    new_size: int
    new_root: bytes

    @property
    def needs_proof(self) -> bool:
        return self.old_size > 0

    def label(self) -> str:
        return self.name if self.name is not None else self.blinded_id


def channel_transitions(
    channels: Mapping[str, ChannelState], heads: Sequence[Head], *, watch_all: bool,
) -> tuple[list[Transition], dict[str, list[Head]]]:
    """Step 5, first half: each watched channel's heads in order, refusing a head smaller than the one before.

    Returns the transitions that grew a channel (those from a non-empty head need a consistency
    proof) and the new heads of each watched channel. ``watch_all``: the auditor watches every
    blinded id; a member witness only the channels in ``channels``. The first head of a channel
    is taken as it is.
    """
    last: dict[str, tuple[int, bytes]] = {k: (c.size, c.root) for k, c in channels.items()}
    transitions: list[Transition] = []
    by_channel: dict[str, list[Head]] = {}
    for head in heads:
        known = channels.get(head.blinded_id)
        if known is None and not watch_all:
            continue
        name = known.name if known is not None else None
        label = name if name is not None else head.blinded_id
        old_size, old_root = last.get(head.blinded_id, (0, merkle.EMPTY_ROOT))
        if head.size < old_size:
            raise Refused(CHANNEL_ROLLBACK, f"channel {label}: head {head.index} has size {head.size}, "
                                            f"below its previous head's {old_size}")
        if head.size == old_size:
            if head.root != old_root:
                raise Refused(CHANNEL_INCONSISTENT, f"channel {label}: head {head.index} has size {head.size} "
                                                    f"like the previous one but another root")
            continue
        transitions.append(Transition(head.blinded_id, name, head.index, old_size, old_root, head.size, head.root))
        by_channel.setdefault(head.blinded_id, []).append(head)
        last[head.blinded_id] = (head.size, head.root)
    return transitions, by_channel


def collapse_transitions(transitions: Sequence[Transition], *, keep: Collection[str] = ()) -> list[Transition]:
    """One transition per channel, from its head before the round to its last head in the round.

    For a member channel this is all step 5 needs a proof for: step 6 recomputes the root of
    every head in between from the entries, each a prefix of the last. ``keep``: blinded ids of
    channels read in part (membership by date), whose heads no entries recompute: each of their
    transitions stays, to be proved like the auditor proves them.
    """
    first: dict[str, Transition] = {}
    last: dict[str, Transition] = {}
    kept: list[Transition] = []
    for t in transitions:
        if t.blinded_id in keep:
            kept.append(t)
            continue
        first.setdefault(t.blinded_id, t)
        last[t.blinded_id] = t
    return [*(replace(last[k], old_size=f.old_size, old_root=f.old_root) for k, f in first.items()), *kept]


def check_transition(transition: Transition, proof: Sequence[str]) -> None:
    """Step 5, second half: the channel's consistency proof from its previous head to this one verifies."""
    if not transition.needs_proof:
        return
    what = f"channel {transition.label()}: consistency proof {transition.old_size}->{transition.new_size}"
    hashes = proof_hashes(proof, what=what, reason=CHANNEL_INCONSISTENT)
    if not consistent(old_size=transition.old_size, new_size=transition.new_size, old_root=transition.old_root,
                      new_root=transition.new_root, proof=hashes):
        raise Refused(CHANNEL_INCONSISTENT, f"channel {transition.label()}: head {transition.head_index} "
                                            f"(size {transition.new_size}) does not extend size "
                                            f"{transition.old_size}: the consistency proof does not verify")


def apply_heads(
    channels: Mapping[str, ChannelState], by_channel: Mapping[str, Sequence[Head]],
) -> dict[str, ChannelState]:
    """Channel states after the round's heads: each watched channel at its last head (frontiers untouched)."""
    out = {k: c.copy() for k, c in channels.items()}
    for blinded, heads in by_channel.items():
        state = out.get(blinded) or ChannelState(blinded)
        state.size, state.root = heads[-1].size, heads[-1].root
        out[blinded] = state
    return out


# ---------------------------------------------------------------- step 6: entries and postings


@dataclass(frozen=True, slots=True)
class Transfer:
    """One money movement of an entry: ``amount_cents`` debited to one account, credited to another."""

    debit_account: str
    credit_account: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry the witness has read on one of its channels."""

    channel: str
    seq: int
    entry_id: str
    leaf: bytes
    transfers: tuple[Transfer, ...]
    occurred_at: str | None = None  # its event time as the entry bytes give it (membership by date reads it)


def parse_entry(channel: str, seq: int, text: str) -> Entry:
    """Parse served entry bytes (canonical JSON) into what the witness keeps; refuse what is not an entry."""
    data = text.encode()
    where = f"channel {channel} seq {seq}"
    try:
        value = json.loads(text)
        entry_id = str(value["entry_id"])
        channels = value["channels"]
        transfers = tuple(
            Transfer(str(t["debit_account"]), str(t["credit_account"]), int(t["amount_cents"]))
            for t in value.get("transfers") or ()
        )
        occurred_at = value.get("occurred_at")
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise Refused(ENTRIES_MISMATCH, f"{where}: not a ledger entry ({type(error).__name__}: {error})") from None
    if not isinstance(channels, list) or channel not in channels:
        raise Refused(ENTRIES_MISMATCH, f"{where}: entry {entry_id} does not name channel {channel} "
                                        f"among its channels {channels!r:.200}")
    return Entry(channel, seq, entry_id, merkle.leaf_hash(data), transfers,
                 occurred_at if isinstance(occurred_at, str) else None)


def apply_entries(
    state: ChannelState, heads: Sequence[Head], entries: Sequence[Entry],
) -> tuple[ChannelState, list[Entry]]:
    """Step 6: a member channel's new entries, appended to its compact range, give every new head's root.

    ``entries`` are the entries served from the channel's previous size on (parsed with
    `parse_entry`), as far as its last new head; any beyond it are left for the next round.
    """
    assert state.name is not None and state.frontier is not None, "a member channel"
    channel = state.name
    if not heads:
        return state.copy(), []
    if state.frontier.size != state.size:
        raise ValueError(f"channel {channel}: frontier size {state.frontier.size} is not the head size {state.size}")
    frontier = state.frontier.copy()
    target = heads[-1].size
    pending = list(heads)
    taken: list[Entry] = []
    for entry in entries:
        if entry.seq > target:
            break
        expected_seq = state.size + len(taken) + 1
        if entry.seq != expected_seq or entry.channel != channel:
            raise Refused(ENTRIES_MISMATCH, f"channel {channel}: ledger served seq {entry.seq} where seq "
                                            f"{expected_seq} was due")
        frontier.append(entry.leaf)
        taken.append(entry)
        while pending and pending[0].size == frontier.size:
            head = pending.pop(0)
            if frontier.root() != head.root:
                raise Refused(ENTRIES_MISMATCH, f"channel {channel}: entries 1..{entry.seq} give root "
                                                f"{b64(frontier.root())}, head {head.index} says {b64(head.root)}")
    if frontier.size != target:
        raise Refused(ENTRIES_MISMATCH, f"channel {channel}: ledger served entries up to seq {frontier.size}, "
                                        f"its head {heads[-1].index} has size {target}")
    new = state.copy()
    new.size, new.root, new.frontier = target, heads[-1].root, frontier
    return new, taken


def check_same_entries(entries: Sequence[Entry], known: Mapping[str, bytes]) -> None:
    """Step 6: an entry on several channels has the same bytes on each (``known``: leaves read in earlier rounds)."""
    leaves = dict(known)
    for entry in entries:
        other = leaves.setdefault(entry.entry_id, entry.leaf)
        if other != entry.leaf:
            raise Refused(ENTRIES_MISMATCH, f"channel {entry.channel} seq {entry.seq}: entry {entry.entry_id} has "
                                            f"other bytes than on another channel the witness reads")


@dataclass(frozen=True, slots=True)
class Posting:
    """One served posting of an account: debit +amount, credit -amount."""

    entry_id: str
    transfer_index: int
    amount_cents: int


def check_postings(account: str, postings: Sequence[Posting], seen: Mapping[str, Sequence[Transfer]]) -> None:
    """Step 6: every posting of an entry the witness has seen is one side of one of its transfers, amount and all,
    and every side of those transfers on this account is posted once.

    ``seen`` holds the transfers of every seen entry that touches ``account`` or that one of
    ``postings`` names (postings of entries the witness has not seen are not its to judge).
    """
    served: Counter[tuple[str, int, int]] = Counter()
    for posting in postings:
        transfers = seen.get(posting.entry_id)
        if transfers is None:
            continue
        where = f"account {account}: posting of entry {posting.entry_id} transfer {posting.transfer_index}"
        if not 0 <= posting.transfer_index < len(transfers):
            raise Refused(POSTING_MISMATCH, f"{where}: the entry has {len(transfers)} transfers")
        transfer = transfers[posting.transfer_index]
        sides = _sides(account, transfer)
        if posting.amount_cents not in sides:
            raise Refused(POSTING_MISMATCH, f"{where} is {posting.amount_cents} cents; the transfer "
                                            f"{transfer.debit_account} <- {transfer.credit_account} "
                                            f"{transfer.amount_cents} gives this account {sides or 'nothing'}")
        served[(posting.entry_id, posting.transfer_index, posting.amount_cents)] += 1
    expected: Counter[tuple[str, int, int]] = Counter()
    for entry_id, transfers in seen.items():
        for index, transfer in enumerate(transfers):
            for amount in _sides(account, transfer):
                expected[(entry_id, index, amount)] += 1
    for key in sorted(set(expected) | set(served)):
        if served[key] != expected[key]:
            entry_id, index, amount = key
            raise Refused(POSTING_MISMATCH, f"account {account}: entry {entry_id} transfer {index} side {amount} "
                                            f"is posted {served[key]} times, not {expected[key]}")


def _sides(account: str, transfer: Transfer) -> list[int]:
    sides = []
    if transfer.debit_account == account:
        sides.append(transfer.amount_cents)
    if transfer.credit_account == account:
        sides.append(-transfer.amount_cents)
    return sides


def accounts_to_compare(
    visible: Sequence[str], touched: Iterable[str], *, cursor: str, budget: int,
) -> tuple[list[str], str]:
    """The accounts whose postings a round compares: those new entries touch (if visible), plus ``budget``
    more visible ones after ``cursor`` (wrapping). Returns them and the new cursor."""
    ordered = sorted(set(visible))
    chosen = sorted(set(touched) & set(ordered))
    if not ordered or budget <= 0:
        return chosen, cursor
    start = next((i for i, a in enumerate(ordered) if a > cursor), 0)
    rolling = [ordered[(start + i) % len(ordered)] for i in range(min(budget, len(ordered)))]
    return sorted(set(chosen) | set(rolling)), rolling[-1]


# ---------------------------------------------------------------- step 6: the rolling audit


def audit_ranges(size: int, cursor: int, budget: int) -> tuple[list[tuple[int, int]], int]:
    """Which older entries of a channel of ``size`` entries to re-read: ``budget`` seqs after ``cursor``,
    wrapping at the end; as (first seq, last seq) ranges. Returns them and the new cursor."""
    if size <= 0 or budget <= 0:
        return [], cursor
    count = min(budget, size)
    first = cursor + 1 if 0 <= cursor < size else 1
    ranges = []
    if first + count - 1 <= size:
        ranges.append((first, first + count - 1))
    else:
        ranges.append((first, size))
        ranges.append((1, count - (size - first + 1)))
    return ranges, ranges[-1][1]


def check_audit(
    channel: str, first: int, last: int, served: Sequence[tuple[int, str]],
    stored: Mapping[int, tuple[bytes, str] | tuple[bytes, str, str | None]], *, spans: Spans = None,
) -> None:
    """Step 6: the entries ``first..last`` the ledger serves now have the leaves the witness stored when it
    read them.

    ``stored``: seq -> (leaf, entry id[, event time]). On a channel read in part (``spans``, membership by
    date) an entry the witness read before it learned a move, whose event time is outside its spans now,
    is no longer served to it: that is no mismatch (the channel's consistency proofs keep its leaf in the
    tree); one inside its spans must still be served.
    """
    by_seq = {seq: text for seq, text in served if first <= seq <= last}
    for seq in range(first, last + 1):
        leaf, entry_id, *more = stored.get(seq, (None, "?"))
        if leaf is None:
            continue  # not one the witness has read (it keeps every entry it has read, so: none)
        text = by_seq.get(seq)
        if text is None and not in_spans(spans, more[0] if more else None):
            continue  # outside the witness's membership now: taken on the strength of the proofs
        if text is None:
            raise Refused(AUDIT_MISMATCH, f"channel {channel} seq {seq} (entry {entry_id}): the ledger no longer "
                                          f"serves it")
        if merkle.leaf_hash(text.encode()) != leaf:
            raise Refused(AUDIT_MISMATCH, f"channel {channel} seq {seq} (entry {entry_id}): the ledger now serves "
                                          f"other bytes than when the witness read it")


# ---------------------------------------------------------------- membership by date


@dataclass(frozen=True, slots=True)
class Span:
    """The caller is a member of a resident channel for the event times in [start, end) (None: open)."""

    start: datetime | None = None
    end: datetime | None = None

    def covers(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


# The part of a channel the witness may read: None is the whole channel; otherwise the event times of its
# spans (a municipality's membership of a resident channel after a move; empty: none).
Spans = tuple[Span, ...] | None


def event_time(text: object) -> datetime | None:
    """An ISO 8601 instant with its offset (an entry's ``occurred_at``, a span bound); None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.utcoffset() is not None else None


def parse_memberships(channel: str, served: object) -> Spans:
    """The caller's spans of a channel from `GET /channels`'s ``memberships``.

    None or absent (not a resident channel): the whole channel; a span open at both ends among them (a
    house that never moved): the whole channel too, checked as every channel was before membership by
    date. Otherwise the spans, the channel being read in part. A malformed answer is `unprovable`.
    """
    if served is None:
        return None
    if not isinstance(served, list):
        raise Refused(UNPROVABLE, f"channel {channel}: memberships {served!r:.200} is not a list")
    spans = []
    for item in served:
        bounds = []
        for key in ("member_from", "member_until"):
            value = item.get(key) if isinstance(item, Mapping) else "?"
            at = None if value is None else event_time(value)
            if value is not None and at is None:
                raise Refused(UNPROVABLE, f"channel {channel}: membership {item!r:.200}: {key} is not an instant")
            bounds.append(at)
        start, end = bounds
        if start is not None and end is not None and start >= end:
            raise Refused(UNPROVABLE, f"channel {channel}: membership {item!r:.200} is empty")
        spans.append(Span(start, end))
    if any(s.start is None and s.end is None for s in spans):
        return None
    return tuple(spans)


def member_spans(served: Sequence[Mapping[str, object]]) -> dict[str, Spans]:
    """Each channel `GET /channels` lists -> the part of it the caller reads (`parse_memberships`)."""
    return {str(item.get("channel")): parse_memberships(str(item.get("channel")), item.get("memberships"))
            for item in served}


def in_spans(spans: Spans, occurred_at: str | None) -> bool:
    """Whether an entry with this event time is one the caller reads: every entry of a whole channel; of a
    channel read in part, one whose event time is inside one of its spans (an unknown time: not known to be)."""
    if spans is None:
        return True
    at = event_time(occurred_at)
    return at is not None and any(s.covers(at) for s in spans)


def reads_whole(channel: ChannelState, spans: Spans) -> bool:
    """Whether step 6 recomputes this member channel's heads from all its entries, as before membership by
    date: the witness reads all of it (``spans`` None) and its compact range is at the channel's head.
    Otherwise it checks the channel in part (`apply_entries_in_spans`)."""
    return spans is None and channel.frontier is not None and channel.frontier.size == channel.size


def apply_entries_in_spans(
    state: ChannelState, heads: Sequence[Head], entries: Sequence[Entry], bundles: Sequence[Mapping[str, object]],
    *, spans: Spans,
) -> tuple[ChannelState, list[Entry]]:
    """Step 6 for a member channel the witness reads in part (membership by date): the new entries it can
    read are exactly the leaves at their seqs of the round's last head of the channel.

    ``entries``: what `GET /channels/{c}/entries` served after the previous size (parsed); those past the
    last head are left for the next round. ``bundles``: `GET /channels/{c}/proofs?seqs=&checkpoint=` of
    their seqs in the checkpoint being checked: proved against that same head, each entry's proof must give
    its root from the leaf of the bytes `/entries` served (and `/proofs` must serve the same bytes). The
    entries outside the witness's spans are not served to it: the consistency proofs of step 5 (every head
    of such a channel, none collapsed) prove the growth append-only, and they are taken on the strength of
    those proofs, never as a mismatch. With ``spans`` None (the whole channel, but no compact range of it
    to extend), every seq must be served. The witness keeps no compact range of such a channel.
    """
    assert state.name is not None, "a member channel"
    channel = state.name
    if not heads:
        return state.copy(), []
    target = heads[-1]
    taken: list[Entry] = []
    for entry in entries:
        if entry.seq > target.size:
            break
        after = taken[-1].seq if taken else state.size
        if entry.channel != channel or entry.seq <= after:
            raise Refused(ENTRIES_MISMATCH, f"channel {channel}: ledger served seq {entry.seq} after seq {after}")
        if spans is None and entry.seq != after + 1:
            raise Refused(ENTRIES_MISMATCH, f"channel {channel}: ledger served seq {entry.seq} where seq "
                                            f"{after + 1} was due")
        taken.append(entry)
    if spans is None and (taken[-1].seq if taken else state.size) != target.size:
        raise Refused(ENTRIES_MISMATCH, f"channel {channel}: ledger served entries up to seq "
                                        f"{taken[-1].seq if taken else state.size}, its head {target.index} has "
                                        f"size {target.size}")
    proved: dict[int, tuple[bytes, list[bytes]]] = {}
    for bundle in bundles:
        head = bundle.get("head")
        try:
            index, size, root = int(head["index"]), int(head["size"]), str(head["root"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            raise Refused(UNPROVABLE, f"channel {channel}: proofs without the channel's head ({head!r:.200})") from None
        if (index, size, unb64(root, what=f"channel {channel} proved head", reason=ENTRIES_MISMATCH)) != \
                (target.index, target.size, target.root):
            raise Refused(ENTRIES_MISMATCH, f"channel {channel}: entries proved against head {index} of size "
                                            f"{size}, the checkpoint's last head of the channel is {target.index} "
                                            f"of size {target.size} with another root or index")
        for item in bundle.get("entries") or ():  # type: ignore[union-attr]
            try:
                seq, text, proof = int(item["seq"]), str(item["entry"]), list(item["proof"])
            except (KeyError, TypeError, ValueError):
                raise Refused(UNPROVABLE, f"channel {channel}: malformed proved entry {item!r:.200}") from None
            what = f"channel {channel} seq {seq} inclusion proof"
            proved[seq] = (merkle.leaf_hash(text.encode()), proof_hashes(proof, what=what, reason=ENTRIES_MISMATCH))
    for entry in taken:
        found = proved.get(entry.seq)
        if found is None:
            raise Refused(UNPROVABLE, f"channel {channel}: no inclusion proof served for seq {entry.seq}")
        leaf, proof = found
        if leaf != entry.leaf:
            raise Refused(ENTRIES_MISMATCH, f"channel {channel} seq {entry.seq}: the proofs route serves other "
                                            f"bytes than the entries route")
        if not merkle.verify_inclusion(index=entry.seq - 1, size=target.size, leaf_hash=entry.leaf, proof=proof,
                                       root=target.root):
            raise Refused(ENTRIES_MISMATCH, f"channel {channel} seq {entry.seq} (entry {entry.entry_id}): its "
                                            f"leaf is not leaf {entry.seq} of head {target.index} (size "
                                            f"{target.size}, root {b64(target.root)})")
    new = state.copy()
    new.size, new.root, new.frontier = target.size, target.root, None
    return new, taken


def account_spans(account: str, spans_by_channel: Mapping[str, Spans]) -> Spans:
    """The event times of an account's postings the caller reads: a house's accounts (``resident:<h>:...``)
    those of its channel's spans (the ledger's rule for entries and postings is the same); any other
    account, or a house whose channel the caller does not follow, all of it."""
    parts = account.split(":")
    if len(parts) >= 3 and parts[0] == "resident":
        return spans_by_channel.get(f"resident:{parts[1]}")
    return None


def seen_in_spans(
    seen: Mapping[str, Sequence[Transfer]], event_times: Mapping[str, str | None], spans: Spans,
) -> dict[str, Sequence[Transfer]]:
    """The seen entries whose postings the caller reads on an account with these spans (`check_postings`'s
    ``seen``): all of them on an account it reads whole, else those whose event time is inside its spans.
    An entry the witness read before it learned a move is not expected among the postings outside its
    spans."""
    if spans is None:
        return dict(seen)
    return {entry_id: transfers for entry_id, transfers in seen.items()
            if in_spans(spans, event_times.get(entry_id))}


# ---------------------------------------------------------------- step 7


@dataclass(frozen=True, slots=True)
class Accepted:
    """A checked checkpoint: the state it leads to, with what the store must add."""

    checkpoint: SignedCheckpoint
    state: WitnessState
    entries: tuple[Entry, ...] = ()


def accept(state: WitnessState, checkpoint: SignedCheckpoint, heads: merkle.Frontier,
           channels: Mapping[str, ChannelState], *, account_cursor: str | None = None,
           entries: Sequence[Entry] = ()) -> Accepted:
    """The state after cosigning ``checkpoint``."""
    new = WitnessState(checkpoint.size, checkpoint.root, heads, dict(channels),
                       state.account_cursor if account_cursor is None else account_cursor)
    return Accepted(checkpoint, new, tuple(entries))
