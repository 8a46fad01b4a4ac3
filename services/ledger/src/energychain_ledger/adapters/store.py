"""PostgreSQL repository of the ledger: the verifiable log's write path, proofs, reads, users, keys.

Raw asyncpg (the driver connection of the same transaction) for the append transaction and the hash reads
of proofs and frontiers only: COPY of each batch's rows is the hot path; every other query is SQLAlchemy Core.

One writer at a time appends (a transaction-scoped advisory lock, the log's sequencer):
each batch places its entries on their channel trees, appends the changed heads to the log
of heads and signs the checkpoint in the same transaction, so every committed entry is
covered by a signed checkpoint and no two checkpoints disagree. Several consumer processes
share the decoding and checking; the commit is theirs in turn. Every connection works in
schema ``ledger`` (its ``search_path``), so no query names the schema.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import asyncpg
from sqlalchemy import (
    BigInteger, Integer, Row, Text, and_, any_, bindparam, cast, delete, distinct, exists, false, func, or_, select,
    true, update,
)
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeEngine

from energychain_ledger.adapters.tables import (
    SCHEMA,
    channel_members,
    channel_memberships,
    channels,
    checkpoints,
    cosignatures,
    entries,
    heads,
    login_attempts,
    postings as postings_table,
    service_keys as service_keys_table,
    tree_ids as tree_id_sequence,
    tree_nodes,
    users,
    witnesses as witnesses_table,
)
from energychain_ledger.domain.appends import Append
from energychain_ledger.domain.channels import channel_spec, municipality_member
from energychain_ledger.domain.log import HEADS_TREE, BatchPlan, ChannelTree, EntryRow, plan_batch
from energychain_ledger.domain.membership import EVERYTHING, NOTHING, Span, Visibility, ever_members
from energychain_ledger.domain.throttle import Attempts
from energychain_ledger.domain.users import NewUser
from energychain_shared.db import driver_connection, make_engine
from energychain_shared.events import LedgerCheckpointSigned, deterministic_id
from energychain_shared.migrations import assert_migrated
from energychain_shared.settings import CommonSettings
from energychain_shared.tlog import merkle
from energychain_shared.tlog.heads import blinded_channel_id, head_leaf_data
from energychain_shared.tlog.merkle import Frontier

log = logging.getLogger(__name__)

WRITE_LOCK = 0x1ED6E6
MEMBERSHIP_LOCK = 0x1ED6E7  # one membership sync at a time (several ledger processes start together)
# EntryRow's fields are the entries table's columns, in order: the rows go to COPY as they are.
ENTRY_COLUMNS = EntryRow._fields
POSTING_COLUMNS = ("entry_id", "transfer_index", "account", "amount_cents", "event_time", "memo")
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_CHANNEL_COLUMNS = (channels.c.channel, channels.c.tree_id, channels.c.kind, channels.c.municipality_id,
                    channels.c.salt, channels.c.blinded_id)
_ENTRY_COLUMNS = tuple(entries.c[name] for name in ENTRY_COLUMNS)
_HEAD_COLUMNS = (heads.c.log_index, heads.c.tree_id, heads.c.size, heads.c.root)
_CHECKPOINT_COLUMNS = (checkpoints.c.size, checkpoints.c.root, checkpoints.c.note, checkpoints.c.created_at)
# Built once: a benchmark asks these every few milliseconds from the consumer's own process.
_NEWEST_SIZES = (select(heads.c.size).ext(distinct_on(heads.c.tree_id))
                 .order_by(heads.c.tree_id, heads.c.log_index.desc()).subquery())
_COMMITTED_ENTRIES = select(cast(func.coalesce(func.sum(_NEWEST_SIZES.c.size), 0), BigInteger))
_CHECKPOINT_COUNT = select(func.count()).select_from(checkpoints)


class LogIntegrityError(RuntimeError):
    """What the database holds no longer gives what the ledger signed: the writer stops appending."""


class ProofUnavailable(LookupError):
    """A proof needs hashes the database does not have (asked beyond a tree's size, or rows removed)."""


def ledger_engine(settings: CommonSettings, *, pool_size: int = 5) -> AsyncEngine:
    """The one engine of a ledger process: its connections work in schema ``ledger``."""
    return make_engine(settings, schema=SCHEMA, pool_size=pool_size)


class DriverPool:
    """asyncpg connections of the engine's pool outside any transaction: each statement commits on its own.

    For the proofs' hash reads (many small statements) and for scripts and tests that edit the log directly.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """One pooled connection's asyncpg connection, returned to the pool on exit."""
        async with self._engine.connect() as connection:
            yield await driver_connection(connection)


def _any(values: Iterable[Any], of: type[TypeEngine]) -> Any:
    """``= ANY($n)`` with one array parameter: any number of values in one statement."""
    return any_(bindparam(None, list(values), type_=ARRAY(of)))


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel as the ledger stores it."""

    channel: str
    tree_id: int
    kind: str
    municipality_id: str | None
    salt: bytes
    blinded_id: bytes


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One leaf of one channel tree, as stored."""

    channel: str
    seq: int
    entry_id: str
    kind: str
    event_time: datetime
    record_time: datetime
    entry: bytes
    leaf: bytes
    signature: str


@dataclass(frozen=True, slots=True)
class Head:
    """A channel's size and root as recorded at one index of the log of heads."""

    log_index: int
    tree_id: int
    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class CommittedBatch:
    """A committed batch and the checkpoint note signed with it (None when it appended nothing)."""

    plan: BatchPlan
    note: str | None
    origin: str = ""
    signed_at: datetime | None = None

    @property
    def event(self) -> LedgerCheckpointSigned:
        """The event that publishes this batch's checkpoint."""
        assert self.note is not None and self.signed_at is not None
        size = self.plan.log.size
        return LedgerCheckpointSigned(
            event_id=deterministic_id("LedgerCheckpointSigned", self.origin, size), occurred_at=self.signed_at,
            producer="ledger", origin=self.origin, size=size,
            root=base64.b64encode(self.plan.log.root()).decode(), note=self.note,
        )


def _perfect(lo: int, hi: int) -> int:
    size = hi - lo
    if size <= 0 or size & (size - 1) or lo % size:
        raise ValueError(f"[{lo}, {hi}) is not a perfect aligned subtree")
    return size.bit_length() - 1


def _fold_perfect(hashes: list[bytes]) -> bytes:
    # A perfect subtree's hash from its 2^k children, level by level.
    while len(hashes) > 1:
        hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


class LedgerStore:
    """Every query the ledger runs; the batch writer owns its transaction."""

    def __init__(
        self, engine: AsyncEngine, *, house_municipality: Mapping[str, str],
        origin: str = "", sign_checkpoint: Callable[[int, bytes], str] | None = None,
    ) -> None:
        self._engine = engine
        self._pool = DriverPool(engine)
        self._house_municipality = dict(house_municipality)
        self._origin = origin
        self._sign_checkpoint = sign_checkpoint
        self._channels: dict[str, Channel] = {}
        # What this process last committed; checked against the database under the lock.
        self._trees: dict[str, ChannelTree] = {}
        self._log: Frontier | None = None
        self._write_lock = asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        """The engine (the process's one connection pool)."""
        return self._engine

    @property
    def pool(self) -> DriverPool:
        """Raw asyncpg connections of the engine's pool, outside any transaction."""
        return self._pool

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    async def ready(self) -> None:
        """Raise unless the database answers and the ledger schema is migrated (readiness)."""
        await assert_migrated(self._engine)

    # ------------------------------------------------------------------ channels
    def learn_houses(self, house_municipality: Mapping[str, str]) -> None:
        """Houses enrolled since the store was made: the municipality their channels get as member."""
        self._house_municipality.update(house_municipality)

    async def ensure_channels(self, names: Iterable[str]) -> None:
        """Create missing channels (tree id, salt, blinded id), their members (from the registry); idempotent."""
        missing = sorted(set(names) - self._channels.keys())
        if not missing:
            return
        specs = [channel_spec(c, house_municipality=self._house_municipality) for c in missing]
        rows = []
        for spec in specs:
            salt = os.urandom(32)
            rows.append({"channel": spec.channel, "kind": spec.kind, "owner_id": spec.owner_id,
                         "municipality_id": spec.municipality_id, "salt": salt,
                         "blinded_id": blinded_channel_id(spec.channel, salt)})
        new = insert(channels).values(tree_id=tree_id_sequence.next_value())
        # A resident channel created before the registry knew its house gets its municipality later.
        new = new.on_conflict_do_update(
            index_elements=[channels.c.channel], set_={"municipality_id": new.excluded.municipality_id},
            where=channels.c.municipality_id.is_(None) & new.excluded.municipality_id.is_not(None),
        )
        members = [{"channel": s.channel, "member": m} for s in specs for m in sorted(s.members)]
        # A resident channel's first membership span: its enrolment's municipality, open at both ends
        # (`sync_memberships` gives the spans of a house that moved).
        spans = [{"channel": s.channel, "span": 0, "municipality_id": s.municipality_id}
                 for s in specs if s.kind == "resident" and s.municipality_id is not None]
        async with self._engine.begin() as connection:
            await connection.execute(new, rows)
            await connection.execute(insert(channel_members).on_conflict_do_nothing(), members)
            if spans:
                await connection.execute(insert(channel_memberships).on_conflict_do_nothing(), spans)
            found = await connection.execute(select(*_CHANNEL_COLUMNS).where(channels.c.channel == _any(missing, Text)))
        for row in found:
            self._channels[row.channel] = _channel(row)

    async def sync_memberships(self, spans: Mapping[str, Sequence[Span]]) -> list[str]:
        """Make each resident channel's membership spans (channel -> spans, from the registry) those stored;
        returns the channels changed. Idempotent: equal spans write nothing.

        Every municipality of the spans becomes a member (`channel_members`, kept for ever: the channel
        stays listed for it). Moves only go forward, so a channel that has more spans stored than given
        (a process whose registry has not read a later move yet) is left as it is. The channels exist
        (`ensure_channels` first).
        """
        wanted = {channel: tuple(given) for channel, given in spans.items() if given}
        if not wanted:
            return []
        m = channel_memberships.c
        async with self._engine.begin() as connection:
            await connection.execute(select(func.pg_advisory_xact_lock(MEMBERSHIP_LOCK)))
            stored = _spans_by_channel(await connection.execute(
                select(m.channel, m.municipality_id, m.member_from, m.member_until)
                .where(m.channel == _any(wanted, Text)).order_by(m.channel, m.span)))
            changed = sorted(channel for channel, given in wanted.items()
                             if given != stored.get(channel, ()) and len(given) >= len(stored.get(channel, ())))
            if not changed:
                return []
            await connection.execute(delete(channel_memberships).where(m.channel == _any(changed, Text)))
            await connection.execute(insert(channel_memberships), [
                {"channel": channel, "span": index, "municipality_id": span.municipality_id,
                 "member_from": span.start, "member_until": span.end}
                for channel in changed for index, span in enumerate(wanted[channel])])
            await connection.execute(insert(channel_members).on_conflict_do_nothing(), [
                {"channel": channel, "member": municipality_member(municipality)}
                for channel in changed for municipality in sorted(ever_members(wanted[channel]))])
            # A channel created by an append before the registry knew its house gets its municipality now.
            await connection.execute(
                update(channels).where(channels.c.channel == bindparam("name"), channels.c.municipality_id.is_(None))
                .values(municipality_id=bindparam("enrolled")),
                [{"name": channel, "enrolled": wanted[channel][0].municipality_id} for channel in changed])
        log.info("channel memberships changed", extra={"channels": len(changed)})
        return changed

    async def spans_of_channels(self, names: Iterable[str]) -> dict[str, tuple[Span, ...]]:
        """The membership spans of each named resident channel, in date order (channels without any left out)."""
        m = channel_memberships.c
        return _spans_by_channel(await self._rows(
            select(m.channel, m.municipality_id, m.member_from, m.member_until)
            .where(m.channel == _any(set(names), Text)).order_by(m.channel, m.span)))

    async def channel_spans(self, channel: str) -> tuple[Span, ...]:
        """One resident channel's membership spans, in date order (empty: no municipality member)."""
        return (await self.spans_of_channels([channel])).get(channel, ())

    async def house_spans_seen_by(self, municipality_id: str) -> dict[str, tuple[Span, ...]]:
        """House id -> every membership span of its channel, for each house ``municipality_id`` was ever the
        municipality of."""
        m = channel_memberships.c
        ever = select(m.channel).where(m.municipality_id == municipality_id)
        rows = await self._rows(
            select(channels.c.owner_id.label("channel"), m.municipality_id, m.member_from, m.member_until)
            .select_from(channel_memberships.join(channels, channels.c.channel == m.channel))
            .where(m.channel.in_(ever), channels.c.kind == "resident").order_by(channels.c.owner_id, m.span))
        return _spans_by_channel(rows)

    async def channel(self, channel: str) -> Channel | None:
        """A channel's ids, or None when the ledger does not have it."""
        known = self._channels.get(channel)
        return known if known is not None else await self._channel_where(channels.c.channel == channel)

    async def channel_by_blinded_id(self, blinded_id: bytes) -> Channel | None:
        """The channel a blinded id stands for, or None."""
        return await self._channel_where(channels.c.blinded_id == blinded_id)

    async def _channel_where(self, condition: Any) -> Channel | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(*_CHANNEL_COLUMNS).where(condition))).first()
        return None if row is None else _channel(row)

    # ------------------------------------------------------------------ appends
    async def append_batch(self, appends: Sequence[Append]) -> CommittedBatch:
        """Place ``appends`` on their trees, append the new heads, sign the checkpoint: ONE transaction."""
        if not appends:
            return CommittedBatch(BatchPlan(log=Frontier()), None)
        names = sorted({c for a in appends for c in a.channels})
        await self.ensure_channels(names)
        async with self._write_lock:
            for attempt in range(1, 6):
                try:
                    async with self._engine.begin() as connection:
                        # Through SQLAlchemy, so the transaction has begun before the driver's statements run in it.
                        await connection.execute(select(func.pg_advisory_xact_lock(WRITE_LOCK)))
                        committed = await self._append_locked(await driver_connection(connection), appends, names)
                    break
                except _RETRYABLE as error:
                    log.warning("append batch retry %d after %s", attempt, type(error).__name__)
                    await asyncio.sleep(0.01 * attempt)
            else:
                raise RuntimeError("append batch failed after 5 attempts")
            # Only what committed becomes this process's view of the log.
            if committed.note is not None:
                self._trees.update(committed.plan.trees)
                self._log = committed.plan.log
            return committed

    async def _append_locked(
        self, connection: asyncpg.Connection, appends: Sequence[Append], names: list[str],
    ) -> CommittedBatch:
        log_frontier = await self._current_log(connection)
        trees = await self._current_trees(connection, names)
        existing = await connection.fetch(
            "SELECT DISTINCT ON (entry_id) entry_id, entry FROM entries WHERE entry_id = ANY($1::text[])",
            list({a.entry_id for a in appends}),
        )
        record_time = datetime.now(timezone.utc)
        plan = plan_batch(appends, trees=trees, log=log_frontier, record_time=record_time,
                          existing={r["entry_id"]: bytes(r["entry"]) for r in existing})
        if not plan.changed:
            return CommittedBatch(plan, None)
        if self._sign_checkpoint is None:
            raise RuntimeError("this store was opened without the checkpoint key: it cannot append")
        await connection.copy_records_to_table("entries", columns=ENTRY_COLUMNS, records=plan.entries)
        if plan.nodes:
            await connection.copy_records_to_table(
                "tree_nodes", columns=("tree_id", "level", "index", "hash"), records=plan.nodes,
            )
        await connection.copy_records_to_table(
            "heads", columns=("log_index", "tree_id", "size", "root"),
            records=[(h.log_index, h.tree_id, h.size, h.root) for h in plan.heads],
        )
        if plan.postings:
            await connection.copy_records_to_table(
                "postings", columns=POSTING_COLUMNS,
                records=[(p.entry_id, p.transfer_index, p.account, p.amount_cents, p.event_time, p.memo)
                         for p in plan.postings],
            )
        root = plan.log.root()
        note = self._sign_checkpoint(plan.log.size, root)
        await connection.execute(
            "INSERT INTO checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4)",
            plan.log.size, root, note, record_time,
        )
        return CommittedBatch(plan, note, self._origin, record_time)

    async def _current_log(self, connection: asyncpg.Connection) -> Frontier:
        """The log of heads' compact range: this process's own when no other writer came between."""
        latest = await connection.fetchrow("SELECT size, root FROM checkpoints ORDER BY size DESC LIMIT 1")
        size, root = (0, merkle.EMPTY_ROOT) if latest is None else (latest["size"], bytes(latest["root"]))
        if self._log is not None and self._log.size == size and self._log.root() == root:
            return self._log
        # Another writer appended (or this process just started): start from the database.
        self._trees.clear()
        frontier = await self._load_frontier(connection, HEADS_TREE, size)
        if frontier.root() != root:
            raise LogIntegrityError(
                f"the log of heads stored in the database does not give the root of checkpoint {size}: "
                "heads or their nodes were changed"
            )
        self._log = frontier
        return frontier

    async def _current_trees(self, connection: asyncpg.Connection, names: Sequence[str]) -> dict[str, ChannelTree]:
        trees = {name: self._trees[name] for name in names if name in self._trees}
        missing = [self._channels[name] for name in names if name not in trees]
        if not missing:
            return trees
        newest = await connection.fetch(
            "SELECT DISTINCT ON (tree_id) tree_id, size, root FROM heads WHERE tree_id = ANY($1::int[])"
            " ORDER BY tree_id, log_index DESC",
            [c.tree_id for c in missing],
        )
        committed = {r["tree_id"]: (r["size"], bytes(r["root"])) for r in newest}
        frontiers = await self._load_frontiers(
            connection, {c.tree_id: committed.get(c.tree_id, (0, b""))[0] for c in missing}
        )
        for channel in missing:
            size, root = committed.get(channel.tree_id, (0, merkle.EMPTY_ROOT))
            frontier = frontiers[channel.tree_id]
            if frontier.root() != root:
                raise LogIntegrityError(
                    f"channel {channel.channel}: its stored entries and nodes do not give its committed head "
                    f"(size {size}): entries were changed, removed or reordered"
                )
            trees[channel.channel] = ChannelTree(channel.channel, channel.tree_id, channel.blinded_id, frontier)
        return trees

    async def _load_frontier(self, connection: asyncpg.Connection, tree_id: int, size: int) -> Frontier:
        return (await self._load_frontiers(connection, {tree_id: size}))[tree_id]

    async def _load_frontiers(self, connection: asyncpg.Connection, sizes: Mapping[int, int]) -> dict[int, Frontier]:
        wanted = [(tree_id, lo, hi) for tree_id, size in sizes.items() for lo, hi in merkle.frontier_ranges(size)]
        hashes = await self._perfect_hashes(connection, wanted)
        return {
            tree_id: Frontier(size, [hashes[(tree_id, lo, hi)] for lo, hi in merkle.frontier_ranges(size)])
            for tree_id, size in sizes.items()
        }

    # ------------------------------------------------------------------ tree hashes and proofs
    async def _perfect_hashes(
        self, connection: asyncpg.Connection, wanted: Sequence[tuple[int, int, int]],
    ) -> dict[tuple[int, int, int], bytes]:
        """Hashes of perfect aligned subtrees (tree id, lo, hi) from stored nodes and leaves, in two queries."""
        plans: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
        for tree_id, lo, hi in wanted:
            level = _perfect(lo, hi)
            base = level - level % 4
            plans[(tree_id, lo, hi)] = [(tree_id, base, i) for i in range(lo >> base, hi >> base)]
        parts = {p for need in plans.values() for p in need}
        found = await self._fetch_parts(connection, parts)
        result = {}
        for key, need in plans.items():
            try:
                result[key] = _fold_perfect([found[p] for p in need])
            except KeyError as error:
                tree_id, level, index = error.args[0]
                raise ProofUnavailable(
                    f"tree {tree_id}: no stored {'leaf' if level == 0 else 'node'} at level {level} index {index}"
                ) from None
        return result

    async def _fetch_parts(
        self, connection: asyncpg.Connection, parts: Iterable[tuple[int, int, int]],
    ) -> dict[tuple[int, int, int], bytes]:
        nodes = [p for p in parts if p[1] > 0]
        leaves = [p for p in parts if p[1] == 0 and p[0] != HEADS_TREE]
        head_leaves = [p[2] for p in parts if p[1] == 0 and p[0] == HEADS_TREE]
        found: dict[tuple[int, int, int], bytes] = {}
        if nodes:
            for r in await connection.fetch(
                "SELECT n.tree_id, n.level, n.index, n.hash FROM tree_nodes n"
                " JOIN unnest($1::int[], $2::smallint[], $3::bigint[]) AS w(tree_id, level, index)"
                " USING (tree_id, level, index)",
                [p[0] for p in nodes], [p[1] for p in nodes], [p[2] for p in nodes],
            ):
                found[(r["tree_id"], r["level"], r["index"])] = bytes(r["hash"])
        if leaves:
            for r in await connection.fetch(
                "SELECT e.tree_id, e.seq, e.leaf FROM entries e"
                " JOIN unnest($1::int[], $2::bigint[]) AS w(tree_id, seq) USING (tree_id, seq)",
                [p[0] for p in leaves], [p[2] + 1 for p in leaves],
            ):
                found[(r["tree_id"], 0, r["seq"] - 1)] = bytes(r["leaf"])
        if head_leaves:
            for r in await connection.fetch(
                "SELECT h.log_index, h.size, h.root, c.blinded_id FROM heads h"
                " JOIN channels c USING (tree_id) WHERE h.log_index = ANY($1::bigint[])",
                head_leaves,
            ):
                data = head_leaf_data(bytes(r["blinded_id"]), r["size"], bytes(r["root"]))
                found[(HEADS_TREE, 0, r["log_index"])] = merkle.leaf_hash(data)
        return found

    async def _range_hashes(
        self, connection: asyncpg.Connection, tree_id: int, ranges: Sequence[tuple[int, int]],
    ) -> list[bytes]:
        wanted = {(tree_id, a, b) for lo, hi in ranges for a, b in merkle.perfect_ranges(lo, hi)}
        hashes = await self._perfect_hashes(connection, sorted(wanted))
        return [merkle.range_hash(lo, hi, lambda a, b: hashes[(tree_id, a, b)]) for lo, hi in ranges]

    async def inclusion_proofs(self, tree_id: int, indexes: Sequence[int], size: int) -> dict[int, list[bytes]]:
        """RFC 9162 inclusion proofs of leaves ``indexes`` in the tree of ``size``, read in two queries."""
        if any(not 0 <= i < size for i in indexes):
            raise ProofUnavailable(f"an index is outside a tree of size {size}")
        plans = {i: merkle.inclusion_ranges(i, size) for i in indexes}
        every = sorted({r for ranges in plans.values() for r in ranges})
        async with self._pool.acquire() as connection:
            hashes = dict(zip(every, await self._range_hashes(connection, tree_id, every)))
        return {i: [hashes[r] for r in ranges] for i, ranges in plans.items()}

    async def consistency_proof(self, tree_id: int, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 consistency proof between two sizes of a tree."""
        if not 0 <= old_size <= new_size:
            raise ProofUnavailable(f"no consistency proof from size {old_size} to {new_size}")
        async with self._pool.acquire() as connection:
            return await self._range_hashes(connection, tree_id, merkle.consistency_ranges(old_size, new_size))

    async def tree_root(self, tree_id: int, size: int) -> bytes:
        """The root of a tree at ``size`` computed from stored hashes."""
        async with self._pool.acquire() as connection:
            return (await self._load_frontier(connection, tree_id, size)).root()

    # ------------------------------------------------------------------ reads
    async def _rows(self, query: Any) -> list[Row]:
        async with self._engine.connect() as connection:
            return list(await connection.execute(query))

    async def _dicts(self, query: Any) -> list[dict[str, Any]]:
        async with self._engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def _scalar(self, query: Any) -> Any:
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).scalar()

    async def _scalars(self, query: Any) -> list[Any]:
        async with self._engine.connect() as connection:
            return list((await connection.execute(query)).scalars())

    async def tree_size(self, tree_id: int, *, at_log_size: int | None = None) -> Head | None:
        """A tree's newest head (or its newest one in the log of heads of ``at_log_size``)."""
        query = select(*_HEAD_COLUMNS).where(heads.c.tree_id == tree_id).order_by(heads.c.log_index.desc()).limit(1)
        if at_log_size is not None:
            query = query.where(heads.c.log_index < at_log_size)
        found = await self._rows(query)
        return _head(found[0]) if found else None

    async def head(self, channel: str) -> Head | None:
        """A channel's newest committed head, or None (no channel, or nothing appended yet)."""
        found = await self.channel(channel)
        return None if found is None else await self.tree_size(found.tree_id)

    async def channels_for(self, member: str | None, *, after: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        """Channels ``member`` belongs to (None: every channel), with their newest heads, by name."""
        newest = (select(heads.c.size, heads.c.root).where(heads.c.tree_id == channels.c.tree_id)
                  .order_by(heads.c.log_index.desc()).limit(1).lateral("newest"))
        query = (
            select(channels.c.channel, channels.c.kind, channels.c.owner_id, channels.c.municipality_id,
                   channels.c.tree_id, channels.c.salt, channels.c.blinded_id,
                   func.coalesce(newest.c.size, 0).label("size"), newest.c.root)
            .select_from(channels.outerjoin(newest, true()))
            .where(channels.c.channel > after).order_by(channels.c.channel).limit(limit)
        )
        if member is not None:
            query = query.where(exists().where(channel_members.c.channel == channels.c.channel,
                                               channel_members.c.member == member))
        found = await self._dicts(query)
        return [{**r, "salt": bytes(r["salt"]), "blinded_id": bytes(r["blinded_id"]),
                 "root": merkle.EMPTY_ROOT if r["root"] is None else bytes(r["root"])} for r in found]

    async def is_member(self, channel: str, member: str) -> bool:
        """True when ``member`` belongs to ``channel``."""
        return bool(await self._scalar(
            select(exists().where(channel_members.c.channel == channel, channel_members.c.member == member))
        ))

    async def channel_exists(self, channel: str) -> bool:
        """True when the ledger has the channel."""
        return await self.channel(channel) is not None

    async def member_channels(self, member: str, names: Sequence[str]) -> set[str]:
        """Which of ``names`` ``member`` belongs to."""
        return set(await self._scalars(select(channel_members.c.channel).where(
            channel_members.c.member == member, channel_members.c.channel == _any(names, Text))))

    async def channel_entries(
        self, channel: str, *, kind: str | None = None, start: datetime | None = None, end: datetime | None = None,
        after_seq: int = 0, limit: int = 1000, seqs: Sequence[int] | None = None, visible: Visibility = EVERYTHING,
    ) -> list[StoredEntry]:
        """A page of a channel's entries by seq, filtered by kind and event time [start, end), or the ``seqs`` asked;
        only those whose event time is ``visible``."""
        found = await self.channel(channel)
        if found is None or visible.nothing:
            return []
        query = (select(*_ENTRY_COLUMNS).where(entries.c.tree_id == found.tree_id, entries.c.seq > after_seq)
                 .order_by(entries.c.seq).limit(limit))
        if kind is not None:
            query = query.where(entries.c.kind == kind)
        if start is not None:
            query = query.where(entries.c.event_time >= start)
        if end is not None:
            query = query.where(entries.c.event_time < end)
        if seqs is not None:
            query = query.where(entries.c.seq == _any(seqs, BigInteger))
        within = _within(entries.c.event_time, visible)
        if within is not None:
            query = query.where(within)
        return [_stored(channel, r) for r in await self._rows(query)]

    async def entry_rows(self, entry_id: str) -> list[StoredEntry]:
        """Every channel position of one entry."""
        query = (select(channels.c.channel, *_ENTRY_COLUMNS).select_from(entries.join(channels, _same_tree()))
                 .where(entries.c.entry_id == entry_id).order_by(channels.c.channel))
        return [_stored(r.channel, r) for r in await self._rows(query)]

    async def tree_entries(self, tree_id: int, *, channel: str, page: int = 5000) -> AsyncIterator[StoredEntry]:
        """Every entry of a tree in seq order, read in pages (keyset) so memory stays flat."""
        last = 0
        while True:
            rows = await self._rows(select(*_ENTRY_COLUMNS).where(entries.c.tree_id == tree_id, entries.c.seq > last)
                                    .order_by(entries.c.seq).limit(page))
            for row in rows:
                yield _stored(channel, row)
            if len(rows) < page:
                return
            last = rows[-1].seq

    async def stored_nodes(self, tree_id: int) -> dict[tuple[int, int], bytes]:
        """Every stored node of one tree: (level, index) -> hash."""
        rows = await self._rows(select(tree_nodes.c.level, tree_nodes.c["index"], tree_nodes.c.hash)
                                .where(tree_nodes.c.tree_id == tree_id))
        return {(level, index): bytes(digest) for level, index, digest in rows}

    async def all_channels(self) -> list[str]:
        """Every channel name."""
        return await self._scalars(select(channels.c.channel).order_by(channels.c.channel))

    async def heads(self, *, start: int, end: int, tree_id: int | None = None) -> list[Head]:
        """Leaves of the log of heads with start <= index < end (of one tree when given)."""
        query = select(*_HEAD_COLUMNS).where(heads.c.log_index >= start, heads.c.log_index < end)
        if tree_id is not None:
            query = query.where(heads.c.tree_id == tree_id)
        return [_head(r) for r in await self._rows(query.order_by(heads.c.log_index))]

    async def blinded_ids(self, trees: Iterable[int]) -> dict[int, bytes]:
        """Blinded id of each tree id."""
        rows = await self._rows(select(channels.c.tree_id, channels.c.blinded_id)
                                .where(channels.c.tree_id == _any(set(trees), Integer)))
        return {r.tree_id: bytes(r.blinded_id) for r in rows}

    async def tree_ids(self) -> dict[int, str]:
        """Every channel's tree id."""
        return {r.tree_id: r.channel for r in await self._rows(select(channels.c.tree_id, channels.c.channel))}

    async def committed_entries(self) -> int:
        """The sum of every channel's newest head: the entries committed (on a database of one run)."""
        return await self._scalar(_COMMITTED_ENTRIES)

    # ------------------------------------------------------------------ checkpoints and witnesses
    async def checkpoint(self, *, size: int | None = None, cosigned: bool = False) -> dict[str, Any] | None:
        """A checkpoint (the newest; of ``size``; the newest with a cosignature) with its cosignature lines."""
        query = select(*_CHECKPOINT_COLUMNS).order_by(checkpoints.c.size.desc()).limit(1)
        if size is not None:
            query = query.where(checkpoints.c.size == size)
        if cosigned:
            query = query.where(exists().where(cosignatures.c.size == checkpoints.c.size))
        async with self._engine.connect() as connection:
            found = (await connection.execute(query)).mappings().first()
            if found is None:
                return None
            lines = await connection.execute(select(cosignatures.c.witness, cosignatures.c.line)
                                             .where(cosignatures.c.size == found["size"])
                                             .order_by(cosignatures.c.witness))
            return {**found, "root": bytes(found["root"]), "cosignatures": {r.witness: r.line for r in lines}}

    async def checkpoints_page(self, *, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Checkpoints with size > ``after``, oldest first."""
        query = select(*_CHECKPOINT_COLUMNS).where(checkpoints.c.size > after).order_by(checkpoints.c.size).limit(limit)
        return [{**r, "root": bytes(r["root"])} for r in await self._dicts(query)]

    async def checkpoint_count(self) -> int:
        """How many checkpoints were signed."""
        return await self._scalar(_CHECKPOINT_COUNT)

    async def register_witness(self, *, name: str, vkey: str, url: str | None) -> None:
        """Record (or update) a witness's verifier key."""
        new = insert(witnesses_table).values(name=name, vkey=vkey, url=url)
        async with self._engine.begin() as connection:
            await connection.execute(new.on_conflict_do_update(
                index_elements=[witnesses_table.c.name], set_={"vkey": new.excluded.vkey, "url": new.excluded.url}))

    async def witnesses(self) -> list[dict[str, Any]]:
        """Every registered witness."""
        return await self._dicts(select(witnesses_table.c.name, witnesses_table.c.vkey, witnesses_table.c.url)
                                 .order_by(witnesses_table.c.name))

    async def add_cosignature(self, *, size: int, witness: str, cosigned_at: int, line: str) -> bool:
        """Keep a verified cosignature; False when that witness had already cosigned that size."""
        new = insert(cosignatures).values(size=size, witness=witness, cosigned_at=cosigned_at, line=line)
        async with self._engine.begin() as connection:
            result = await connection.execute(new.on_conflict_do_nothing())
        return result.rowcount == 1

    async def cosignatures(self) -> list[dict[str, Any]]:
        """Every kept cosignature, oldest first."""
        c = cosignatures.c
        return await self._dicts(select(c.size, c.witness, c.cosigned_at, c.line).order_by(c.size, c.witness))

    # ------------------------------------------------------------------ postings
    async def postings_of(self, entry_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The postings of some entries (for verification)."""
        p = postings_table.c
        return await self._dicts(select(p.entry_id, p.transfer_index, p.account, p.amount_cents)
                                 .where(p.entry_id == _any(entry_ids, Text)))

    async def entries_with_transfers(self) -> list[StoredEntry]:
        """One row of every entry that is not a meter reading (the ones that can carry transfers)."""
        query = (select(channels.c.channel, *_ENTRY_COLUMNS).select_from(entries.join(channels, _same_tree()))
                 .where(entries.c.kind != "meter_reading").ext(distinct_on(entries.c.entry_id))
                 .order_by(entries.c.entry_id))
        return [_stored(r.channel, r) for r in await self._rows(query)]

    async def all_postings(self) -> list[dict[str, Any]]:
        """Every posting (for verification)."""
        p = postings_table.c
        return await self._dicts(select(p.entry_id, p.transfer_index, p.account, p.amount_cents, p.memo))

    async def balances(self, visibility_of: Callable[[str], Visibility | bool]) -> dict[str, int]:
        """Balance (debits minus credits, cents) of every account ``visibility_of`` admits (True: all of it;
        a `Visibility`: the sum of its postings of the event times it covers, the account left out when it has
        none then)."""
        p = postings_table.c
        rows = await self._rows(select(p.account, cast(func.sum(p.amount_cents), BigInteger).label("balance"))
                                .group_by(p.account))
        found, partly = {}, []
        for r in rows:
            visible = _visibility(visibility_of(r.account))
            if visible.everything:
                found[r.account] = r.balance
            elif not visible.nothing:
                partly.append((r.account, visible))
        for account, visible in partly:  # houses that moved: few, each one indexed read
            (row,) = await self._rows(select(cast(func.coalesce(func.sum(p.amount_cents), 0), BigInteger),
                                             func.count()).where(p.account == account,
                                                                 _within(p.event_time, visible)))
            if row[1]:
                found[account] = row[0]
        return found

    async def postings(
        self, account: str, *, start: datetime | None, end: datetime | None, visible: Visibility = EVERYTHING,
    ) -> list[dict[str, Any]]:
        """An account's postings in event-time order within [start, end), of the event times ``visible``."""
        p = postings_table.c
        if visible.nothing:
            return []
        query = (select(p.entry_id, p.transfer_index, p.amount_cents, p.event_time, p.memo)
                 .where(p.account == account).order_by(p.event_time, p.entry_id, p.transfer_index))
        if start is not None:
            query = query.where(p.event_time >= start)
        if end is not None:
            query = query.where(p.event_time < end)
        within = _within(p.event_time, visible)
        if within is not None:
            query = query.where(within)
        return await self._dicts(query)

    async def trial_balance(self) -> tuple[int, int, int]:
        """(sum of all balances, number of accounts, number of postings): the sum must be zero."""
        p = postings_table.c
        (row,) = await self._rows(select(cast(func.coalesce(func.sum(p.amount_cents), 0), BigInteger),
                                         func.count(distinct(p.account)), func.count()))
        total, accounts, count = row
        return total, accounts, count

    # ------------------------------------------------------------------ keys
    async def register_service_keys(self, pems: Mapping[str, str]) -> None:
        """Record each producer's public key (kept forever: old entries stay verifiable)."""
        rows = [{"service": service, "key_id": key_id(pem), "public_key_pem": pem} for service, pem in pems.items()]
        if not rows:
            return
        async with self._engine.begin() as connection:
            await connection.execute(insert(service_keys_table).on_conflict_do_nothing(), rows)

    async def service_keys(self) -> dict[str, list[str]]:
        """Every registered public key (PEM) per producer, newest first."""
        k = service_keys_table.c
        keys: dict[str, list[str]] = {}
        for r in await self._rows(select(k.service, k.public_key_pem).order_by(k.registered_at.desc())):
            keys.setdefault(r.service, []).append(r.public_key_pem)
        return keys

    # ------------------------------------------------------------------ users
    async def upsert_user(
        self, *, username: str, password_hash: str, role: str, municipality_id: str | None, house_id: str | None
    ) -> None:
        """Create or update a user."""
        new = insert(users).values(username=username, password_hash=password_hash, role=role,
                                   municipality_id=municipality_id, house_id=house_id)
        changed = {name: new.excluded[name] for name in ("password_hash", "role", "municipality_id", "house_id")}
        async with self._engine.begin() as connection:
            await connection.execute(new.on_conflict_do_update(
                index_elements=[users.c.username], set_={**changed, "updated_at": func.now()}))

    async def user(self, username: str) -> dict[str, Any] | None:
        """A user's record (its password hash too), or None."""
        u = users.c
        found = await self._dicts(select(u.username, u.password_hash, u.role, u.municipality_id, u.house_id,
                                         u.disabled_at, u.tokens_valid_after, u.created_at, u.updated_at)
                                  .where(u.username == username))
        return found[0] if found else None

    async def users(self, *, role: str | None = None, after: str = "", limit: int = 100) -> list[dict[str, Any]]:
        """Users by name (no password hashes), after ``after``, of one role if given."""
        u = users.c
        query = (select(u.username, u.role, u.municipality_id, u.house_id, u.disabled_at, u.created_at, u.updated_at)
                 .where(u.username > after).order_by(u.username).limit(limit))
        return await self._dicts(query if role is None else query.where(u.role == role))

    async def create_user(self, user: NewUser, password_hash: str) -> dict[str, Any] | None:
        """Store a new user; None when the name is taken (nothing changes then)."""
        async with self._engine.begin() as connection:
            created = (await connection.execute(
                insert(users).values(username=user.username, password_hash=password_hash, role=user.role,
                                     municipality_id=user.municipality_id, house_id=user.house_id)
                .on_conflict_do_nothing(index_elements=[users.c.username]).returning(users.c.username)
            )).first()
        return None if created is None else await self.user(user.username)

    async def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disable a user (its tokens refused from now), or enable it again (tokens from before still refused).
        False when there is no such user."""
        now = func.now()
        changes = {"disabled_at": now} if disabled else {"disabled_at": None, "tokens_valid_after": now}
        async with self._engine.begin() as connection:
            done = await connection.execute(
                update(users).where(users.c.username == username).values(**changes, updated_at=now)
            )
        return done.rowcount == 1

    async def set_password(self, username: str, password_hash: str) -> None:
        """A new password; the user's older tokens are refused from now."""
        now = func.now()
        async with self._engine.begin() as connection:
            await connection.execute(update(users).where(users.c.username == username)
                                     .values(password_hash=password_hash, tokens_valid_after=now, updated_at=now))

    async def revocations(self) -> list[tuple[str, datetime | None]]:
        """(username, tokens valid after) of every user whose tokens are (partly) refused: None when disabled."""
        u = users.c
        rows = await self._rows(select(u.username, u.disabled_at, u.tokens_valid_after)
                                .where((u.disabled_at.is_not(None)) | (u.tokens_valid_after.is_not(None))))
        return [(r.username, None if r.disabled_at is not None else r.tokens_valid_after) for r in rows]

    # ------------------------------------------------------------------ sign-in attempts
    async def login_attempts(self, keys: Sequence[str]) -> dict[str, Attempts]:
        """The failures counted for each of ``keys`` (keys never failed are left out)."""
        a = login_attempts.c
        rows = await self._rows(select(a.key, a.failures, a.window_start, a.locked_until)
                                .where(a.key == any_(bindparam("keys", list(keys), type_=ARRAY(Text)))))
        return {r.key: Attempts(r.failures, r.window_start, r.locked_until) for r in rows}

    async def record_failure(
        self, keys: Sequence[str], counted: Callable[[str, Attempts], Attempts]
    ) -> dict[str, Attempts]:
        """Count one more failure on each key (``counted(key, attempts)`` gives the new attempts), each row
        locked while it changes, so concurrent failures all count."""
        a = login_attempts.c
        result = {}
        async with self._engine.begin() as connection:
            for key in sorted(keys):  # one lock order: two concurrent failures cannot deadlock
                before = await self._locked_attempts(connection, key)
                if before is None:
                    after = counted(key, Attempts())
                    inserted = (await connection.execute(
                        insert(login_attempts).values(key=key, failures=after.failures, window_start=after.window_start,
                                                      locked_until=after.locked_until)
                        .on_conflict_do_nothing(index_elements=[a.key]).returning(a.key))).first()
                    if inserted is not None:
                        result[key] = after
                        continue
                    before = await self._locked_attempts(connection, key)  # another sign-in counted first meanwhile
                after = counted(key, before)
                await connection.execute(update(login_attempts).where(a.key == key).values(
                    failures=after.failures, window_start=after.window_start, locked_until=after.locked_until))
                result[key] = after
        return result

    @staticmethod
    async def _locked_attempts(connection: Any, key: str) -> Attempts | None:
        a = login_attempts.c
        row = (await connection.execute(select(a.failures, a.window_start, a.locked_until)
                                        .where(a.key == key).with_for_update())).first()
        return None if row is None else Attempts(*row)

    async def clear_attempts(self, key: str) -> None:
        """Forget the failures of ``key`` (a correct sign-in)."""
        async with self._engine.begin() as connection:
            await connection.execute(delete(login_attempts).where(login_attempts.c.key == key))


def _same_tree() -> Any:
    return entries.c.tree_id == channels.c.tree_id


def _visibility(admitted: Visibility | bool) -> Visibility:
    if isinstance(admitted, Visibility):
        return admitted
    return EVERYTHING if admitted else NOTHING


def _within(column: Any, visible: Visibility) -> Any:
    """The condition that ``column`` (an event time) is inside the visible spans; None: no condition."""
    if visible.spans is None or any(span.unbounded for span in visible.spans):
        return None
    if not visible.spans:
        return false()
    return or_(*(and_(true(), *([column >= span.start] if span.start is not None else []),
                      *([column < span.end] if span.end is not None else [])) for span in visible.spans))


def _spans_by_channel(rows: Iterable[Row]) -> dict[str, tuple[Span, ...]]:
    """Rows (channel, municipality_id, member_from, member_until) in span order -> spans by channel."""
    found: dict[str, list[Span]] = {}
    for r in rows:
        found.setdefault(r.channel, []).append(Span(r.municipality_id, r.member_from, r.member_until))
    return {channel: tuple(spans) for channel, spans in found.items()}


def _channel(r: Row) -> Channel:
    return Channel(r.channel, r.tree_id, r.kind, r.municipality_id, bytes(r.salt), bytes(r.blinded_id))


def _head(r: Row) -> Head:
    return Head(r.log_index, r.tree_id, r.size, bytes(r.root))


def _stored(channel: str, r: Row) -> StoredEntry:
    return StoredEntry(channel, r.seq, r.entry_id, r.kind, r.event_time, r.record_time,
                       bytes(r.entry), bytes(r.leaf), r.signature)


def key_id(pem: str) -> str:
    """A short stable id of a public key: the start of its SHA-256."""
    return hashlib.sha256(pem.strip().encode()).hexdigest()[:16]
