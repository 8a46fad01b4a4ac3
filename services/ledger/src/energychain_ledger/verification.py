"""Verification that catches everything the database could be made to say (docs/LEDGER.md).

``verify_channel`` recomputes a channel's leaves from the stored entry bytes, its stored
subtree hashes and every head it committed, checks each producer signature and the
columns reads filter on, re-derives the postings of its entries from the transfers inside
them, and proves its newest head in the newest checkpoint the witnesses cosigned.
``verify_log`` recomputes the log of heads, every checkpoint and its signatures, every
posting, and compares with what each reachable witness says it cosigned. Each problem is
named: the channel, seq and entry id, the posting, or the checkpoint, and what differs.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from energychain_ledger.adapters.signatures import SignatureVerifier
from energychain_ledger.adapters.store import LedgerStore, ProofUnavailable
from energychain_ledger.domain.appends import postings_for
from energychain_ledger.domain.log import HEADS_TREE, stored_level
from energychain_ledger.domain.membership import EVERYTHING, Visibility
from energychain_shared.rules import canonical_json
from energychain_shared.tlog import merkle, note as notes
from energychain_shared.tlog.heads import head_leaf_data
from energychain_shared.tlog.merkle import Frontier

log = logging.getLogger(__name__)

SEQUENCE_GAP = "sequence gap"
LEAF_MISMATCH = "leaf mismatch"
NOT_CANONICAL = "entry not canonical"
COLUMN_MISMATCH = "column mismatch"
BAD_SIGNATURE = "bad signature"
NODE_MISMATCH = "node mismatch"
HEAD_MISMATCH = "head mismatch"
TRUNCATED = "entries missing"
POSTING_MISMATCH = "posting mismatch"
POSTING_MISSING = "posting missing"
POSTING_EXTRA = "posting extra"
CHECKPOINT_MISMATCH = "checkpoint mismatch"
BAD_CHECKPOINT_SIGNATURE = "bad checkpoint signature"
BAD_COSIGNATURE = "bad cosignature"
LOG_MISMATCH = "log of heads mismatch"
READING_PRODUCER = "meter-ingest"
READING_KIND = "meter_reading"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that does not verify, and where."""

    problem: str
    detail: str
    channel: str | None = None
    seq: int | None = None
    entry_id: str | None = None
    posting: str | None = None  # "entry_id/transfer_index/account"
    checkpoint: int | None = None


@dataclass(slots=True)
class VerifyReport:
    """Outcome of verifying one channel (or the whole log when ``channel`` is None)."""

    channel: str | None
    entries_checked: int = 0
    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    checkpoint: int | None = None
    cosigned_by: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.problems

    @property
    def failure(self) -> Problem | None:
        """The first problem found."""
        return self.problems[0] if self.problems else None


@dataclass(frozen=True, slots=True)
class LogKeys:
    """What checkpoints are checked with: the ledger's key name and key, the witnesses' keys."""

    origin: str
    public_key: object
    witnesses: Mapping[str, object]  # name -> Ed25519PublicKey


def signature_ok(keys: Mapping[str, Sequence[SignatureVerifier]], *, producer: str, entry: bytes, signature: str) -> bool:
    """True when a registered key of ``producer`` signed exactly the entry bytes."""
    return any(verify(entry, signature) for verify in keys.get(producer, ()))


def _posting_key(entry_id: str, index: int, account: str) -> str:
    return f"{entry_id}/{index}/{account}"


def compare_postings(
    expected: Mapping[str, int], stored: Mapping[str, int], *, only_entries: set[str] | None = None,
) -> list[Problem]:
    """Postings the entries' transfers imply vs. the postings table, each difference named."""
    problems = []
    for key, amount in sorted(expected.items()):
        found = stored.get(key)
        if found is None:
            problems.append(Problem(POSTING_MISSING, f"posting {key} of {amount} cents is not in the postings table",
                                    entry_id=key.split("/")[0], posting=key))
        elif found != amount:
            problems.append(Problem(POSTING_MISMATCH, f"posting {key} is {found} cents; the signed entry says {amount}",
                                    entry_id=key.split("/")[0], posting=key))
    for key, amount in sorted(stored.items()):
        entry_id = key.split("/")[0]
        if key not in expected and (only_entries is None or entry_id in only_entries):
            problems.append(Problem(POSTING_EXTRA, f"posting {key} of {amount} cents belongs to no transfer of a "
                                    "signed entry", entry_id=entry_id, posting=key))
    return problems


def _expected_postings(entry_id: str, event_time: datetime, transfers: Sequence[Mapping]) -> dict[str, int]:
    return {_posting_key(p.entry_id, p.transfer_index, p.account): p.amount_cents
            for p in postings_for(entry_id=entry_id, event_time=event_time, transfers=transfers)}


def check_entry(
    stored, *, channel: str, keys: Mapping[str, Sequence[SignatureVerifier]],
) -> tuple[list[Problem], dict | None]:
    """The problems of one stored entry on its own (bytes, leaf, columns, signature) and its parsed content."""
    where = dict(channel=channel, seq=stored.seq, entry_id=stored.entry_id)
    problems = []
    if merkle.leaf_hash(stored.entry) != stored.leaf:
        problems.append(Problem(LEAF_MISMATCH, "the stored entry bytes do not hash to the entry's leaf: its content "
                                "was changed after it was recorded", **where))
    try:
        content = json.loads(stored.entry)
        if not isinstance(content, dict):
            raise ValueError("not an object")
    except ValueError as error:
        problems.append(Problem(NOT_CANONICAL, f"the entry bytes are not a JSON object: {error}", **where))
        return problems, None
    if canonical_json(content) != stored.entry:
        problems.append(Problem(NOT_CANONICAL, "the entry bytes are not canonical JSON", **where))
    occurred = content.get("occurred_at")
    for column, value, expected in (
        ("entry_id", stored.entry_id, content.get("entry_id")),
        ("kind", stored.kind, content.get("kind")),
        ("event_time", stored.event_time.isoformat() if stored.event_time else None,
         datetime.fromisoformat(occurred.replace("Z", "+00:00")).isoformat() if isinstance(occurred, str) else None),
    ):
        if value != expected:
            problems.append(Problem(COLUMN_MISMATCH, f"column {column} is {value!r} but the entry says {expected!r}",
                                    **where))
    if channel not in (content.get("channels") or ()):
        problems.append(Problem(COLUMN_MISMATCH, f"the entry does not name channel {channel}", **where))
    producer = content.get("producer")
    is_reading = producer == READING_PRODUCER and content.get("kind") == READING_KIND and stored.signature == ""
    if not is_reading and not signature_ok(keys, producer=str(producer), entry=stored.entry,
                                           signature=stored.signature):
        problems.append(Problem(BAD_SIGNATURE, f"the signature does not verify with {producer}'s registered key",
                                **where))
    return problems, content


def check_checkpoint_note(text: str, *, size: int, root: bytes, keys: LogKeys) -> tuple[list[Problem], list[str]]:
    """A stored checkpoint's note: it says (size, root), the ledger signed it; which witnesses validly cosigned."""
    problems: list[Problem] = []
    try:
        parsed = notes.parse_note(text)
        checkpoint = notes.parse_checkpoint(parsed.body)
    except notes.NoteError as error:
        return [Problem(BAD_CHECKPOINT_SIGNATURE, f"checkpoint {size} is not a valid note: {error}", checkpoint=size)], []
    if (checkpoint.origin, checkpoint.size, checkpoint.root) != (keys.origin, size, root):
        problems.append(Problem(CHECKPOINT_MISMATCH, f"checkpoint {size}'s note says size {checkpoint.size} root "
                                f"{base64.b64encode(checkpoint.root).decode()}", checkpoint=size))
    if not notes.verify_signature(parsed, name=keys.origin, public_key=keys.public_key):
        problems.append(Problem(BAD_CHECKPOINT_SIGNATURE, f"checkpoint {size} is not signed by {keys.origin}",
                                checkpoint=size))
    cosigned = [name for name, key in keys.witnesses.items()
                if notes.verify_cosignature(parsed, name=name, public_key=key) is not None]
    return problems, cosigned


async def _witness_checkpoints(witnesses: Sequence[Mapping]) -> list[tuple[str, int, bytes]]:
    """(witness, size, root) of what each reachable witness says it last cosigned."""
    found = []
    async with httpx.AsyncClient(timeout=3.0) as client:
        for witness in witnesses:
            if not witness.get("url"):
                continue
            try:
                answer = (await client.get(witness["url"].rstrip("/") + "/status")).json()
                cosigned = answer.get("cosigned") or {}
                if cosigned.get("size"):
                    found.append((witness["name"], int(cosigned["size"]), base64.b64decode(cosigned["root"])))
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
                log.warning("witness %s did not answer: %s", witness["name"], error)
    return found


WITHHELD = "outside the caller's membership of the channel: detail withheld"


async def verify_channel(
    store: LedgerStore, keys: Mapping[str, Sequence[SignatureVerifier]], channel: str, *, log_keys: LogKeys,
    visible: Visibility = EVERYTHING,
) -> VerifyReport:
    """Recompute one channel from its stored entries; prove its newest head in the newest cosigned checkpoint.

    Every entry is checked whatever ``visible`` says (the roots need them all); a problem of an entry whose
    event time the caller may not read keeps its kind and position, not its detail (values from the entry)
    nor its entry id (`withhold`).
    """
    report = VerifyReport(channel)
    found = await store.channel(channel)
    if found is None:
        report.problems.append(Problem("unknown channel", f"no channel {channel}", channel=channel))
        return report
    heads = await store.heads(start=0, end=2**62, tree_id=found.tree_id)
    head_at = {h.size: h for h in heads}
    nodes = await store.stored_nodes(found.tree_id)
    frontier = Frontier()
    expected_postings: dict[str, int] = {}
    with_transfers: set[str] = set()
    hidden_seqs: set[int] = set()
    hidden_ids: set[str] = set()
    async for stored in store.tree_entries(found.tree_id, channel=channel):
        if stored.event_time not in visible:
            hidden_seqs.add(stored.seq)
            hidden_ids.add(stored.entry_id)
        if stored.seq != frontier.size + 1:
            report.problems.append(Problem(SEQUENCE_GAP, f"expected seq {frontier.size + 1}, found {stored.seq}",
                                           channel=channel, seq=stored.seq, entry_id=stored.entry_id))
            break
        problems, content = check_entry(stored, channel=channel, keys=keys)
        report.problems.extend(problems)
        if content and content.get("transfers"):
            try:
                expected_postings.update(_expected_postings(stored.entry_id, stored.event_time, content["transfers"]))
                with_transfers.add(stored.entry_id)
            except (KeyError, TypeError, ValueError):
                report.problems.append(Problem(COLUMN_MISMATCH, "the entry's transfers are malformed",
                                               channel=channel, seq=stored.seq, entry_id=stored.entry_id))
        # The tree is built from the entry bytes themselves, not from the stored leaf column.
        for level, index, digest in frontier.append(merkle.leaf_hash(stored.entry)):
            if stored_level(level) and nodes.get((level, index), digest) != digest:
                first = index * (1 << level) + 1
                report.problems.append(Problem(
                    NODE_MISMATCH, f"entries {first}..{first + (1 << level) - 1} do not give their stored subtree "
                    f"hash (level {level}, index {index}): entries were changed, removed or reordered",
                    channel=channel, seq=first,
                ))
        head = head_at.get(frontier.size)
        if head is not None and frontier.root() != head.root:
            report.problems.append(Problem(
                HEAD_MISMATCH, f"entries 1..{frontier.size} do not give the root committed at log index "
                f"{head.log_index}: an entry up to seq {frontier.size} was changed, removed or reordered",
                channel=channel, seq=frontier.size, entry_id=stored.entry_id,
            ))
        report.entries_checked += 1
    report.size, report.root = frontier.size, frontier.root()
    committed = heads[-1].size if heads else 0
    if frontier.size < committed:
        report.problems.append(Problem(
            TRUNCATED, f"the channel's newest head (log index {heads[-1].log_index}) has {committed} entries; "
            f"the database holds {frontier.size}", channel=channel, seq=frontier.size + 1,
        ))
    elif frontier.size > committed:
        report.problems.append(Problem(
            HEAD_MISMATCH, f"entries after seq {committed} are in no committed head", channel=channel, seq=committed + 1,
        ))
    stored_postings = {_posting_key(p["entry_id"], p["transfer_index"], p["account"]): p["amount_cents"]
                       for p in await store.postings_of(with_transfers)} if with_transfers else {}
    report.problems.extend(Problem(p.problem, p.detail, channel=channel, entry_id=p.entry_id, posting=p.posting)
                           for p in compare_postings(expected_postings, stored_postings, only_entries=with_transfers))
    await _prove_in_cosigned_checkpoint(store, report, tree_id=found.tree_id, blinded_id=found.blinded_id,
                                        log_keys=log_keys)
    if hidden_seqs:
        report.problems = withhold(report.problems, hidden_seqs=hidden_seqs, hidden_ids=hidden_ids)
    return report


def withhold(problems: Sequence[Problem], *, hidden_seqs: set[int], hidden_ids: set[str]) -> list[Problem]:
    """The problems as a reader who may not see some entries reads them: a problem naming one of those keeps
    its kind, channel and seq; its detail and entry id are withheld."""
    return [Problem(p.problem, WITHHELD, channel=p.channel, seq=p.seq, checkpoint=p.checkpoint)
            if p.seq in hidden_seqs or p.entry_id in hidden_ids else p for p in problems]


async def _prove_in_cosigned_checkpoint(
    store: LedgerStore, report: VerifyReport, *, tree_id: int, blinded_id: bytes, log_keys: LogKeys,
) -> None:
    checkpoint = await store.checkpoint(cosigned=True) or await store.checkpoint()
    if checkpoint is None:
        return
    size = checkpoint["size"]
    text = notes.with_signatures(checkpoint["note"], list(checkpoint["cosignatures"].values()))
    problems, cosigned = check_checkpoint_note(text, size=size, root=checkpoint["root"], keys=log_keys)
    report.problems.extend(problems)
    report.checkpoint, report.cosigned_by = size, cosigned
    head = await store.tree_size(tree_id, at_log_size=size)
    if head is None:
        return
    try:
        proof = (await store.inclusion_proofs(HEADS_TREE, [head.log_index], size))[head.log_index]
    except ProofUnavailable as error:
        report.problems.append(Problem(LOG_MISMATCH, f"the channel's head cannot be proved in checkpoint {size}: "
                                       f"{error}", channel=report.channel, checkpoint=size))
        return
    leaf = merkle.leaf_hash(head_leaf_data(blinded_id, head.size, head.root))
    if not merkle.verify_inclusion(index=head.log_index, size=size, leaf_hash=leaf, proof=proof,
                                   root=checkpoint["root"]):
        report.problems.append(Problem(
            LOG_MISMATCH, f"the channel's head at log index {head.log_index} (size {head.size}) is not in checkpoint "
            f"{size}{' cosigned by ' + ', '.join(cosigned) if cosigned else ''}", channel=report.channel,
            checkpoint=size,
        ))


async def verify_log(store: LedgerStore, *, log_keys: LogKeys, page: int = 50_000) -> VerifyReport:
    """Recompute the log of heads and every checkpoint; every posting; what each witness cosigned."""
    report = VerifyReport(None)
    blinded = await store.blinded_ids((await store.tree_ids()).keys())
    checkpoints = {}
    after = 0
    while True:
        batch = await store.checkpoints_page(after=after, limit=10_000)
        checkpoints.update({c["size"]: c for c in batch})
        if len(batch) < 10_000:
            break
        after = batch[-1]["size"]
    cosignatures: dict[int, list[str]] = {}
    for c in await store.cosignatures():
        cosignatures.setdefault(c["size"], []).append(c["line"])
    frontier, start, roots = Frontier(), 0, {}
    nodes = await store.stored_nodes(HEADS_TREE)
    while True:
        heads = await store.heads(start=start, end=start + page)
        for head in heads:
            if head.log_index != frontier.size:
                report.problems.append(Problem(LOG_MISMATCH, f"the log of heads has no leaf {frontier.size}",
                                               checkpoint=frontier.size))
                break
            data = head_leaf_data(blinded.get(head.tree_id, b"\0" * 32), head.size, head.root)
            for level, index, digest in frontier.append(merkle.leaf_hash(data)):
                if stored_level(level) and nodes.get((level, index), digest) != digest:
                    report.problems.append(Problem(LOG_MISMATCH, f"heads {index << level}..{((index + 1) << level) - 1}"
                                                   f" do not give their stored subtree hash", checkpoint=frontier.size))
            if frontier.size in checkpoints:
                roots[frontier.size] = frontier.root()
        if len(heads) < page or report.problems:
            break
        start += page
    report.size, report.root = frontier.size, frontier.root()
    for size, checkpoint in sorted(checkpoints.items()):
        if size not in roots:
            report.problems.append(Problem(LOG_MISMATCH, f"checkpoint {size} is beyond the log of heads "
                                           f"({frontier.size} leaves)", checkpoint=size))
            continue
        if roots[size] != checkpoint["root"]:
            report.problems.append(Problem(CHECKPOINT_MISMATCH, f"the log of heads does not give checkpoint {size}'s "
                                           "root", checkpoint=size))
        text = notes.with_signatures(checkpoint["note"], cosignatures.get(size, []))
        problems, cosigned = check_checkpoint_note(text, size=size, root=checkpoint["root"], keys=log_keys)
        report.problems.extend(problems)
        if cosigned:
            report.checkpoint, report.cosigned_by = size, cosigned
        if len(cosigned) != len(cosignatures.get(size, [])):
            report.problems.append(Problem(BAD_COSIGNATURE, f"a stored cosignature of checkpoint {size} does not "
                                           "verify with its witness's key", checkpoint=size))
    for name, size, root in await _witness_checkpoints(await store.witnesses()):
        if size > frontier.size:
            report.problems.append(Problem(LOG_MISMATCH, f"witness {name} cosigned checkpoint {size}; the log of "
                                           f"heads holds only {frontier.size} leaves: it was cut", checkpoint=size))
        elif size in roots and roots[size] != root:
            report.problems.append(Problem(LOG_MISMATCH, f"witness {name} cosigned checkpoint {size} with another "
                                           "root: the log of heads was rewritten", checkpoint=size))
    report.problems.extend(await _verify_all_postings(store))
    return report


async def _verify_all_postings(store: LedgerStore) -> list[Problem]:
    """Every posting against the transfers of the signed entries (each entry counted once)."""
    expected: dict[str, int] = {}
    for stored in await store.entries_with_transfers():
        try:
            content = json.loads(stored.entry)
            expected.update(_expected_postings(stored.entry_id, stored.event_time, content.get("transfers") or ()))
        except (ValueError, KeyError, TypeError):
            continue  # the channel's own verification names the malformed entry
    stored_postings = {_posting_key(p["entry_id"], p["transfer_index"], p["account"]): p["amount_cents"]
                       for p in await store.all_postings()}
    return compare_postings(expected, stored_postings)
