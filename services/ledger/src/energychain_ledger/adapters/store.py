"""PostgreSQL repository of the ledger (asyncpg): the verifiable log's write path, proofs, reads, users, keys.

One writer at a time appends (a transaction-scoped advisory lock, the log's sequencer):
each batch places its entries on their channel trees, appends the changed heads to the log
of heads and signs the checkpoint in the same transaction, so every committed entry is
covered by a signed checkpoint and no two checkpoints disagree. Several consumer processes
share the decoding and checking; the commit is theirs in turn.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import asyncpg

from energychain_ledger.domain.appends import Append
from energychain_ledger.domain.channels import ChannelSpec, channel_spec
from energychain_ledger.domain.log import HEADS_TREE, BatchPlan, ChannelTree, plan_batch, stored_level
from energychain_shared.events import LedgerCheckpointSigned, deterministic_id
from energychain_shared.settings import CommonSettings
from energychain_shared.tlog import merkle
from energychain_shared.tlog.heads import blinded_channel_id, head_leaf_data
from energychain_shared.tlog.merkle import Frontier

log = logging.getLogger(__name__)

WRITE_LOCK = 0x1ED6E6
ENTRY_COLUMNS = ("tree_id", "seq", "entry_id", "kind", "event_time", "record_time", "entry", "leaf", "signature")
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class LogIntegrityError(RuntimeError):
    """What the database holds no longer gives what the ledger signed: the writer stops appending."""


class ProofUnavailable(LookupError):
    """A proof needs hashes the database does not have (asked beyond a tree's size, or rows removed)."""


def dsn(settings: CommonSettings) -> str:
    """The libpq-style DSN asyncpg wants, from the EC_PG_* settings."""
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def make_pool(settings: CommonSettings, *, size: int = 5) -> asyncpg.Pool:
    """A connection pool on the configured database."""
    return await asyncpg.create_pool(dsn(settings), min_size=1, max_size=size)


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
        self, pool: asyncpg.Pool, *, house_municipality: Mapping[str, str],
        origin: str = "", sign_checkpoint: Callable[[int, bytes], str] | None = None,
    ) -> None:
        self._pool = pool
        self._house_municipality = dict(house_municipality)
        self._origin = origin
        self._sign_checkpoint = sign_checkpoint
        self._channels: dict[str, Channel] = {}
        # What this process last committed; checked against the database under the lock.
        self._trees: dict[str, ChannelTree] = {}
        self._log: Frontier | None = None
        self._write_lock = asyncio.Lock()

    @property
    def pool(self) -> asyncpg.Pool:
        """The underlying connection pool."""
        return self._pool

    # ------------------------------------------------------------------ channels
    async def ensure_channels(self, channels: Iterable[str]) -> None:
        """Create missing channels (tree id, salt, blinded id), their members (from the registry); idempotent."""
        missing = sorted(set(channels) - self._channels.keys())
        if not missing:
            return
        specs = [channel_spec(c, house_municipality=self._house_municipality) for c in missing]
        salts = [os.urandom(32) for _ in specs]
        async with self._pool.acquire() as connection:
            await connection.execute(
                """
                INSERT INTO ledger.channels (channel, tree_id, kind, owner_id, municipality_id, salt, blinded_id)
                SELECT v.channel, nextval('ledger.tree_ids'), v.kind, v.owner_id, v.municipality_id, v.salt, v.blinded
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::bytea[])
                     AS v(channel, kind, owner_id, municipality_id, salt, blinded)
                ON CONFLICT (channel) DO UPDATE SET municipality_id = EXCLUDED.municipality_id
                  WHERE ledger.channels.municipality_id IS NULL AND EXCLUDED.municipality_id IS NOT NULL
                """,
                missing, [s.kind for s in specs], [s.owner_id for s in specs], [s.municipality_id for s in specs],
                salts, [blinded_channel_id(s.channel, salt) for s, salt in zip(specs, salts)],
            )
            pairs = [(s.channel, m) for s in specs for m in sorted(s.members)]
            await connection.execute(
                "INSERT INTO ledger.channel_members (channel, member)"
                " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
                [p[0] for p in pairs], [p[1] for p in pairs],
            )
            records = await connection.fetch(
                "SELECT channel, tree_id, kind, municipality_id, salt, blinded_id FROM ledger.channels"
                " WHERE channel = ANY($1::text[])", missing,
            )
        for r in records:
            self._channels[r["channel"]] = _channel(r)

    async def channel(self, channel: str) -> Channel | None:
        """A channel's ids, or None when the ledger does not have it."""
        known = self._channels.get(channel)
        return known if known is not None else await self._channel_where("channel", channel)

    async def channel_by_blinded_id(self, blinded_id: bytes) -> Channel | None:
        """The channel a blinded id stands for, or None."""
        return await self._channel_where("blinded_id", blinded_id)

    async def _channel_where(self, column: str, value: object) -> Channel | None:
        async with self._pool.acquire() as connection:
            r = await connection.fetchrow(
                "SELECT channel, tree_id, kind, municipality_id, salt, blinded_id FROM ledger.channels"
                f" WHERE {column} = $1", value,
            )
        return None if r is None else _channel(r)

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
                    async with self._pool.acquire() as connection:
                        async with connection.transaction():
                            committed = await self._append_locked(connection, appends, names)
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
        await connection.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
        log_frontier = await self._current_log(connection)
        trees = await self._current_trees(connection, names)
        existing = await connection.fetch(
            "SELECT DISTINCT ON (entry_id) entry_id, entry FROM ledger.entries WHERE entry_id = ANY($1::text[])",
            list({a.entry_id for a in appends}),
        )
        record_time = datetime.now(timezone.utc)
        plan = plan_batch(appends, trees=trees, log=log_frontier, record_time=record_time,
                          existing={r["entry_id"]: bytes(r["entry"]) for r in existing})
        if not plan.changed:
            return CommittedBatch(plan, None)
        if self._sign_checkpoint is None:
            raise RuntimeError("this store was opened without the checkpoint key: it cannot append")
        # EntryRow's fields are ENTRY_COLUMNS, in order: the rows go to COPY as they are.
        await connection.copy_records_to_table("entries", schema_name="ledger", columns=ENTRY_COLUMNS,
                                               records=plan.entries)
        if plan.nodes:
            await connection.copy_records_to_table(
                "tree_nodes", schema_name="ledger", columns=("tree_id", "level", "index", "hash"), records=plan.nodes,
            )
        await connection.copy_records_to_table(
            "heads", schema_name="ledger", columns=("log_index", "tree_id", "size", "root"),
            records=[(h.log_index, h.tree_id, h.size, h.root) for h in plan.heads],
        )
        if plan.postings:
            await connection.copy_records_to_table(
                "postings", schema_name="ledger",
                columns=("entry_id", "transfer_index", "account", "amount_cents", "event_time", "memo"),
                records=[(p.entry_id, p.transfer_index, p.account, p.amount_cents, p.event_time, p.memo)
                         for p in plan.postings],
            )
        root = plan.log.root()
        note = self._sign_checkpoint(plan.log.size, root)
        await connection.execute(
            "INSERT INTO ledger.checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4)",
            plan.log.size, root, note, record_time,
        )
        return CommittedBatch(plan, note, self._origin, record_time)

    async def _current_log(self, connection: asyncpg.Connection) -> Frontier:
        """The log of heads' compact range: this process's own when no other writer came between."""
        latest = await connection.fetchrow("SELECT size, root FROM ledger.checkpoints ORDER BY size DESC LIMIT 1")
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
        heads = await connection.fetch(
            "SELECT DISTINCT ON (tree_id) tree_id, size, root FROM ledger.heads WHERE tree_id = ANY($1::int[])"
            " ORDER BY tree_id, log_index DESC",
            [c.tree_id for c in missing],
        )
        committed = {r["tree_id"]: (r["size"], bytes(r["root"])) for r in heads}
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
                "SELECT n.tree_id, n.level, n.index, n.hash FROM ledger.tree_nodes n"
                " JOIN unnest($1::int[], $2::smallint[], $3::bigint[]) AS w(tree_id, level, index)"
                " USING (tree_id, level, index)",
                [p[0] for p in nodes], [p[1] for p in nodes], [p[2] for p in nodes],
            ):
                found[(r["tree_id"], r["level"], r["index"])] = bytes(r["hash"])
        if leaves:
            for r in await connection.fetch(
                "SELECT e.tree_id, e.seq, e.leaf FROM ledger.entries e"
                " JOIN unnest($1::int[], $2::bigint[]) AS w(tree_id, seq) USING (tree_id, seq)",
                [p[0] for p in leaves], [p[2] + 1 for p in leaves],
            ):
                found[(r["tree_id"], 0, r["seq"] - 1)] = bytes(r["leaf"])
        if head_leaves:
            for r in await connection.fetch(
                "SELECT h.log_index, h.size, h.root, c.blinded_id FROM ledger.heads h"
                " JOIN ledger.channels c USING (tree_id) WHERE h.log_index = ANY($1::bigint[])",
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

    async def tree_size(self, tree_id: int, *, at_log_size: int | None = None) -> Head | None:
        """A tree's newest head (or its newest one in the log of heads of ``at_log_size``)."""
        async with self._pool.acquire() as connection:
            r = await connection.fetchrow(
                "SELECT log_index, tree_id, size, root FROM ledger.heads WHERE tree_id = $1"
                " AND ($2::bigint IS NULL OR log_index < $2) ORDER BY log_index DESC LIMIT 1",
                tree_id, at_log_size,
            )
        return None if r is None else Head(r["log_index"], r["tree_id"], r["size"], bytes(r["root"]))

    async def head(self, channel: str) -> Head | None:
        """A channel's newest committed head, or None (no channel, or nothing appended yet)."""
        found = await self.channel(channel)
        return None if found is None else await self.tree_size(found.tree_id)

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
    async def channels_for(self, member: str | None, *, after: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        """Channels ``member`` belongs to (None: every channel), with their newest heads, by name."""
        query = """
            SELECT c.channel, c.kind, c.owner_id, c.municipality_id, c.tree_id, c.salt, c.blinded_id,
                   coalesce(h.size, 0) AS size, h.root
            FROM ledger.channels c
            LEFT JOIN LATERAL (SELECT size, root FROM ledger.heads WHERE tree_id = c.tree_id
                               ORDER BY log_index DESC LIMIT 1) h ON true
            WHERE c.channel > $1 {filter}
            ORDER BY c.channel LIMIT $2
        """
        async with self._pool.acquire() as connection:
            if member is None:
                records = await connection.fetch(query.format(filter=""), after, limit)
            else:
                records = await connection.fetch(
                    query.format(filter="AND EXISTS (SELECT 1 FROM ledger.channel_members m"
                                 " WHERE m.channel = c.channel AND m.member = $3)"),
                    after, limit, member,
                )
        return [{**dict(r), "salt": bytes(r["salt"]), "blinded_id": bytes(r["blinded_id"]),
                 "root": merkle.EMPTY_ROOT if r["root"] is None else bytes(r["root"])} for r in records]

    async def is_member(self, channel: str, member: str) -> bool:
        """True when ``member`` belongs to ``channel``."""
        async with self._pool.acquire() as connection:
            return bool(await connection.fetchval(
                "SELECT 1 FROM ledger.channel_members WHERE channel = $1 AND member = $2", channel, member
            ))

    async def channel_exists(self, channel: str) -> bool:
        """True when the ledger has the channel."""
        return await self.channel(channel) is not None

    async def member_channels(self, member: str, channels: Sequence[str]) -> set[str]:
        """Which of ``channels`` ``member`` belongs to."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT channel FROM ledger.channel_members WHERE member = $1 AND channel = ANY($2::text[])",
                member, list(channels),
            )
        return {r["channel"] for r in records}

    async def channel_entries(
        self, channel: str, *, kind: str | None = None, start: datetime | None = None, end: datetime | None = None,
        after_seq: int = 0, limit: int = 1000, seqs: Sequence[int] | None = None,
    ) -> list[StoredEntry]:
        """A page of a channel's entries by seq, filtered by kind and event time [start, end), or the ``seqs`` asked."""
        found = await self.channel(channel)
        if found is None:
            return []
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                f"SELECT {', '.join(ENTRY_COLUMNS)} FROM ledger.entries"
                " WHERE tree_id = $1 AND seq > $2"
                " AND ($3::text IS NULL OR kind = $3)"
                " AND ($4::timestamptz IS NULL OR event_time >= $4)"
                " AND ($5::timestamptz IS NULL OR event_time < $5)"
                " AND ($7::bigint[] IS NULL OR seq = ANY($7::bigint[]))"
                " ORDER BY seq LIMIT $6",
                found.tree_id, after_seq, kind, start, end, limit, None if seqs is None else list(seqs),
            )
        return [_stored(channel, r) for r in records]

    async def entry_rows(self, entry_id: str) -> list[StoredEntry]:
        """Every channel position of one entry."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                f"SELECT c.channel, {', '.join('e.' + c for c in ENTRY_COLUMNS)} FROM ledger.entries e"
                " JOIN ledger.channels c USING (tree_id) WHERE e.entry_id = $1 ORDER BY c.channel",
                entry_id,
            )
        return [_stored(r["channel"], r) for r in records]

    async def tree_entries(self, tree_id: int, *, channel: str, page: int = 5000) -> AsyncIterator[StoredEntry]:
        """Every entry of a tree in seq order, read in pages (keyset) so memory stays flat."""
        last = 0
        while True:
            async with self._pool.acquire() as connection:
                records = await connection.fetch(
                    f"SELECT {', '.join(ENTRY_COLUMNS)} FROM ledger.entries WHERE tree_id = $1 AND seq > $2"
                    " ORDER BY seq LIMIT $3",
                    tree_id, last, page,
                )
            for record in records:
                yield _stored(channel, record)
            if len(records) < page:
                return
            last = records[-1]["seq"]

    async def stored_nodes(self, tree_id: int) -> dict[tuple[int, int], bytes]:
        """Every stored node of one tree: (level, index) -> hash."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT level, index, hash FROM ledger.tree_nodes WHERE tree_id = $1", tree_id
            )
        return {(r["level"], r["index"]): bytes(r["hash"]) for r in records}

    async def all_channels(self) -> list[str]:
        """Every channel name."""
        async with self._pool.acquire() as connection:
            return [r["channel"] for r in await connection.fetch("SELECT channel FROM ledger.channels ORDER BY 1")]

    async def heads(self, *, start: int, end: int, tree_id: int | None = None) -> list[Head]:
        """Leaves of the log of heads with start <= index < end (of one tree when given)."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT log_index, tree_id, size, root FROM ledger.heads"
                " WHERE log_index >= $1 AND log_index < $2 AND ($3::int IS NULL OR tree_id = $3) ORDER BY log_index",
                start, end, tree_id,
            )
        return [Head(r["log_index"], r["tree_id"], r["size"], bytes(r["root"])) for r in records]

    async def blinded_ids(self, tree_ids: Iterable[int]) -> dict[int, bytes]:
        """Blinded id of each tree id."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT tree_id, blinded_id FROM ledger.channels WHERE tree_id = ANY($1::int[])", list(set(tree_ids))
            )
        return {r["tree_id"]: bytes(r["blinded_id"]) for r in records}

    async def tree_ids(self) -> dict[int, str]:
        """Every channel's tree id."""
        async with self._pool.acquire() as connection:
            return {r["tree_id"]: r["channel"]
                    for r in await connection.fetch("SELECT tree_id, channel FROM ledger.channels")}

    # ------------------------------------------------------------------ checkpoints and witnesses
    async def checkpoint(self, *, size: int | None = None, cosigned: bool = False) -> dict[str, Any] | None:
        """A checkpoint (the newest; of ``size``; the newest with a cosignature) with its cosignature lines."""
        async with self._pool.acquire() as connection:
            record = await connection.fetchrow(
                "SELECT c.size, c.root, c.note, c.created_at FROM ledger.checkpoints c"
                " WHERE ($1::bigint IS NULL OR c.size = $1)"
                " AND (NOT $2 OR EXISTS (SELECT 1 FROM ledger.cosignatures s WHERE s.size = c.size))"
                " ORDER BY c.size DESC LIMIT 1",
                size, cosigned,
            )
            if record is None:
                return None
            lines = await connection.fetch(
                "SELECT witness, line FROM ledger.cosignatures WHERE size = $1 ORDER BY witness", record["size"]
            )
        return {**dict(record), "root": bytes(record["root"]), "cosignatures": {r["witness"]: r["line"] for r in lines}}

    async def checkpoints_page(self, *, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Checkpoints with size > ``after``, oldest first."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT size, root, note, created_at FROM ledger.checkpoints WHERE size > $1 ORDER BY size LIMIT $2",
                after, limit,
            )
        return [{**dict(r), "root": bytes(r["root"])} for r in records]

    async def register_witness(self, *, name: str, vkey: str, url: str | None) -> None:
        """Record (or update) a witness's verifier key."""
        async with self._pool.acquire() as connection:
            await connection.execute(
                "INSERT INTO ledger.witnesses (name, vkey, url) VALUES ($1, $2, $3)"
                " ON CONFLICT (name) DO UPDATE SET vkey = EXCLUDED.vkey, url = EXCLUDED.url",
                name, vkey, url,
            )

    async def witnesses(self) -> list[dict[str, Any]]:
        """Every registered witness."""
        async with self._pool.acquire() as connection:
            return [dict(r) for r in await connection.fetch("SELECT name, vkey, url FROM ledger.witnesses ORDER BY name")]

    async def add_cosignature(self, *, size: int, witness: str, cosigned_at: int, line: str) -> bool:
        """Keep a verified cosignature; False when that witness had already cosigned that size."""
        async with self._pool.acquire() as connection:
            status = await connection.execute(
                "INSERT INTO ledger.cosignatures (size, witness, cosigned_at, line) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT DO NOTHING",
                size, witness, cosigned_at, line,
            )
        return status.endswith(" 1")

    async def cosignatures(self) -> list[dict[str, Any]]:
        """Every kept cosignature, oldest first."""
        async with self._pool.acquire() as connection:
            return [dict(r) for r in await connection.fetch(
                "SELECT size, witness, cosigned_at, line FROM ledger.cosignatures ORDER BY size, witness"
            )]

    async def postings_of(self, entry_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The postings of some entries (for verification)."""
        async with self._pool.acquire() as connection:
            return [dict(r) for r in await connection.fetch(
                "SELECT entry_id, transfer_index, account, amount_cents FROM ledger.postings"
                " WHERE entry_id = ANY($1::text[])", list(entry_ids),
            )]

    async def entries_with_transfers(self) -> list[StoredEntry]:
        """One row of every entry that is not a meter reading (the ones that can carry transfers)."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                f"SELECT DISTINCT ON (e.entry_id) c.channel, {', '.join('e.' + c for c in ENTRY_COLUMNS)}"
                " FROM ledger.entries e JOIN ledger.channels c USING (tree_id)"
                " WHERE e.kind <> 'meter_reading' ORDER BY e.entry_id"
            )
        return [_stored(r["channel"], r) for r in records]

    async def all_postings(self) -> list[dict[str, Any]]:
        """Every posting (for verification)."""
        async with self._pool.acquire() as connection:
            return [dict(r) for r in await connection.fetch(
                "SELECT entry_id, transfer_index, account, amount_cents, memo FROM ledger.postings"
            )]

    async def balances(self, accounts_filter: Callable[[str], bool]) -> dict[str, int]:
        """Balance (debits minus credits, cents) of every account the filter admits."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT account, sum(amount_cents)::bigint AS balance FROM ledger.postings GROUP BY account"
            )
        return {r["account"]: r["balance"] for r in records if accounts_filter(r["account"])}

    async def postings(self, account: str, *, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
        """An account's postings in event-time order within [start, end)."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT entry_id, transfer_index, amount_cents, event_time, memo FROM ledger.postings"
                " WHERE account = $1 AND ($2::timestamptz IS NULL OR event_time >= $2)"
                " AND ($3::timestamptz IS NULL OR event_time < $3)"
                " ORDER BY event_time, entry_id, transfer_index",
                account, start, end,
            )
        return [dict(r) for r in records]

    async def trial_balance(self) -> tuple[int, int, int]:
        """(sum of all balances, number of accounts, number of postings): the sum must be zero."""
        async with self._pool.acquire() as connection:
            record = await connection.fetchrow(
                "SELECT coalesce(sum(amount_cents), 0)::bigint AS total, count(DISTINCT account) AS accounts,"
                " count(*) AS postings FROM ledger.postings"
            )
        return record["total"], record["accounts"], record["postings"]

    async def municipality_of_houses(self) -> dict[str, str]:
        """House id -> municipality id, as recorded on the residents' channels."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT owner_id, municipality_id FROM ledger.channels"
                " WHERE kind = 'resident' AND municipality_id IS NOT NULL"
            )
        return {r["owner_id"]: r["municipality_id"] for r in records}

    # ------------------------------------------------------------------ keys
    async def register_service_keys(self, pems: Mapping[str, str]) -> None:
        """Record each producer's public key (kept forever: old entries stay verifiable)."""
        rows = [(service, key_id(pem), pem) for service, pem in pems.items()]
        async with self._pool.acquire() as connection:
            await connection.executemany(
                "INSERT INTO ledger.service_keys (service, key_id, public_key_pem) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                rows,
            )

    async def service_keys(self) -> dict[str, list[str]]:
        """Every registered public key (PEM) per producer, newest first."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT service, public_key_pem FROM ledger.service_keys ORDER BY registered_at DESC"
            )
        keys: dict[str, list[str]] = {}
        for r in records:
            keys.setdefault(r["service"], []).append(r["public_key_pem"])
        return keys

    # ------------------------------------------------------------------ users
    async def upsert_user(
        self, *, username: str, password_hash: str, role: str, municipality_id: str | None, house_id: str | None
    ) -> None:
        """Create or update a user."""
        async with self._pool.acquire() as connection:
            await connection.execute(
                """
                INSERT INTO ledger.users (username, password_hash, role, municipality_id, house_id)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash,
                    role = EXCLUDED.role, municipality_id = EXCLUDED.municipality_id,
                    house_id = EXCLUDED.house_id, updated_at = now()
                """,
                username, password_hash, role, municipality_id, house_id,
            )

    async def user(self, username: str) -> dict[str, Any] | None:
        """A user's record, or None."""
        async with self._pool.acquire() as connection:
            record = await connection.fetchrow(
                "SELECT username, password_hash, role, municipality_id, house_id FROM ledger.users"
                " WHERE username = $1",
                username,
            )
        return None if record is None else dict(record)


def _channel(r: Mapping[str, Any]) -> Channel:
    return Channel(r["channel"], r["tree_id"], r["kind"], r["municipality_id"], bytes(r["salt"]), bytes(r["blinded_id"]))


def _stored(channel: str, r: Mapping[str, Any]) -> StoredEntry:
    return StoredEntry(channel, r["seq"], r["entry_id"], r["kind"], r["event_time"], r["record_time"],
                       bytes(r["entry"]), bytes(r["leaf"]), r["signature"])


def key_id(pem: str) -> str:
    """A short stable id of a public key: the start of its SHA-256."""
    return hashlib.sha256(pem.strip().encode()).hexdigest()[:16]
