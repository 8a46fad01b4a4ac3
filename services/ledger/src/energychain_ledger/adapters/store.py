"""PostgreSQL repository of the ledger (asyncpg): batch appends, reads, users, keys, checkpoints."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import asyncpg

from energychain_ledger.domain.appends import Append, BatchPlan, Head, plan_batch
from energychain_ledger.domain.chain import GENESIS_HASH, ChainRow, canonical_json, format_time
from energychain_ledger.domain.channels import ChannelSpec, channel_spec
from energychain_shared.settings import CommonSettings

log = logging.getLogger(__name__)

ENTRY_COLUMNS = (
    "channel", "seq", "entry_id", "kind", "event_time", "record_time", "producer",
    "payload", "transfers", "channels", "signature", "prev_hash", "hash",
)
_RETRYABLE = (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


def dsn(settings: CommonSettings) -> str:
    """The libpq-style DSN asyncpg wants, from the EC_PG_* settings."""
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def make_pool(settings: CommonSettings, *, size: int = 5) -> asyncpg.Pool:
    """A connection pool on the configured database."""
    return await asyncpg.create_pool(dsn(settings), min_size=1, max_size=size)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored on one channel, with its record time."""

    row: ChainRow
    record_time: datetime


def _row(record: Mapping[str, Any]) -> ChainRow:
    return ChainRow(
        channel=record["channel"], seq=record["seq"], entry_id=record["entry_id"], kind=record["kind"],
        event_time=record["event_time"], producer=record["producer"],
        payload=json.loads(record["payload"]), transfers=tuple(json.loads(record["transfers"])),
        channels=tuple(record["channels"]), signature=record["signature"],
        prev_hash=record["prev_hash"], hash=record["hash"],
    )


class LedgerStore:
    """Every query the ledger runs; the batch writer owns its transaction."""

    def __init__(self, pool: asyncpg.Pool, *, house_municipality: Mapping[str, str]) -> None:
        self._pool = pool
        self._house_municipality = dict(house_municipality)
        self._known_channels: set[str] = set()

    @property
    def pool(self) -> asyncpg.Pool:
        """The underlying connection pool."""
        return self._pool

    # ------------------------------------------------------------------ channels
    async def ensure_channels(self, channels: Iterable[str], *, connection: asyncpg.Connection | None = None) -> None:
        """Create missing channels, their members (from the registry) and heads; idempotent."""
        missing = sorted(set(channels) - self._known_channels)
        if not missing:
            return
        specs = [channel_spec(c, house_municipality=self._house_municipality) for c in missing]
        if connection is None:
            async with self._pool.acquire() as connection:
                await self._write_channels(connection, specs)
        else:
            await self._write_channels(connection, specs)
        self._known_channels.update(missing)

    @staticmethod
    async def _write_channels(connection: asyncpg.Connection, specs: Sequence[ChannelSpec]) -> None:
        names = [s.channel for s in specs]
        await connection.execute(
            """
            INSERT INTO ledger.channels (channel, kind, owner_id, municipality_id)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
            ON CONFLICT (channel) DO UPDATE SET municipality_id = EXCLUDED.municipality_id
              WHERE ledger.channels.municipality_id IS NULL AND EXCLUDED.municipality_id IS NOT NULL
            """,
            names, [s.kind for s in specs], [s.owner_id for s in specs], [s.municipality_id for s in specs],
        )
        pairs = [(s.channel, m) for s in specs for m in sorted(s.members)]
        await connection.execute(
            """
            INSERT INTO ledger.channel_members (channel, member)
            SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING
            """,
            [p[0] for p in pairs], [p[1] for p in pairs],
        )
        await connection.execute(
            """
            INSERT INTO ledger.channel_heads (channel, seq, head_hash)
            SELECT c, 0, $2 FROM unnest($1::text[]) AS c ON CONFLICT DO NOTHING
            """,
            names, GENESIS_HASH,
        )

    # ------------------------------------------------------------------ appends
    async def append_batch(self, appends: Sequence[Append]) -> BatchPlan:
        """Chain and persist ``appends`` in ONE transaction; duplicates change nothing, conflicts are returned."""
        if not appends:
            return BatchPlan()
        channels = sorted({c for a in appends for c in a.channels})
        await self.ensure_channels(channels)
        for attempt in range(1, 6):
            try:
                async with self._pool.acquire() as connection:
                    async with connection.transaction():
                        return await self._append_locked(connection, appends, channels)
            except _RETRYABLE as error:
                # A concurrent writer recorded one of these entry ids first (or a lock cycle):
                # the retry sees its commit and classifies the entry as duplicate or conflict.
                log.warning("append batch retry %d after %s", attempt, type(error).__name__)
                await asyncio.sleep(0.01 * attempt)
        raise RuntimeError("append batch failed after 5 attempts")

    async def _append_locked(
        self, connection: asyncpg.Connection, appends: Sequence[Append], channels: list[str]
    ) -> BatchPlan:
        # Lock heads in channel order: two writers never wait on each other in a cycle.
        head_records = await connection.fetch(
            "SELECT channel, seq, head_hash FROM ledger.channel_heads WHERE channel = ANY($1::text[])"
            " ORDER BY channel FOR UPDATE",
            channels,
        )
        heads = {r["channel"]: Head(r["seq"], r["head_hash"]) for r in head_records}
        absent = set(channels) - heads.keys()
        if absent:
            raise RuntimeError(f"channel heads missing for {sorted(absent)}")
        existing = await connection.fetch(
            "SELECT entry_id, digest FROM ledger.entry_ids WHERE entry_id = ANY($1::text[])",
            list({a.entry_id for a in appends}),
        )
        plan = plan_batch(appends, heads=heads, existing_digests={r["entry_id"]: r["digest"] for r in existing})
        if not plan.appended:
            return plan
        record_time = datetime.now(timezone.utc)
        await connection.copy_records_to_table(
            "entries", schema_name="ledger", columns=ENTRY_COLUMNS,
            records=[
                (
                    r.channel, r.seq, r.entry_id, r.kind, r.event_time, record_time, r.producer,
                    canonical_json(r.payload).decode(), canonical_json(list(r.transfers)).decode(),
                    list(r.channels), r.signature, r.prev_hash, r.hash,
                )
                for r in plan.rows
            ],
        )
        await connection.copy_records_to_table(
            "entry_ids", schema_name="ledger", columns=("entry_id", "digest", "producer", "record_time"),
            records=[(a.entry_id, a.digest, a.producer, record_time) for a in plan.appended],
        )
        if plan.postings:
            await connection.copy_records_to_table(
                "postings", schema_name="ledger",
                columns=("entry_id", "transfer_index", "account", "amount_cents", "event_time", "memo"),
                records=[
                    (p.entry_id, p.transfer_index, p.account, p.amount_cents, p.event_time, p.memo)
                    for p in plan.postings
                ],
            )
        moved = {c: h for c, h in plan.heads.items() if heads[c] != h}
        await connection.execute(
            """
            UPDATE ledger.channel_heads h SET seq = v.seq, head_hash = v.hash
            FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(channel, seq, hash)
            WHERE h.channel = v.channel
            """,
            list(moved), [h.seq for h in moved.values()], [h.hash for h in moved.values()],
        )
        return plan

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

    # ------------------------------------------------------------------ reads
    async def channels_for(self, member: str | None, *, after: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        """Channels ``member`` belongs to (None: every channel), with their heads, by name."""
        query = """
            SELECT c.channel, c.kind, c.owner_id, c.municipality_id, h.seq, h.head_hash
            FROM ledger.channels c JOIN ledger.channel_heads h USING (channel)
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
        return [dict(r) for r in records]

    async def is_member(self, channel: str, member: str) -> bool:
        """True when ``member`` belongs to ``channel``."""
        async with self._pool.acquire() as connection:
            return bool(await connection.fetchval(
                "SELECT 1 FROM ledger.channel_members WHERE channel = $1 AND member = $2", channel, member
            ))

    async def channel_exists(self, channel: str) -> bool:
        """True when the ledger has the channel."""
        async with self._pool.acquire() as connection:
            return bool(await connection.fetchval("SELECT 1 FROM ledger.channels WHERE channel = $1", channel))

    async def member_channels(self, member: str, channels: Sequence[str]) -> set[str]:
        """Which of ``channels`` ``member`` belongs to."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT channel FROM ledger.channel_members WHERE member = $1 AND channel = ANY($2::text[])",
                member, list(channels),
            )
        return {r["channel"] for r in records}

    async def channel_entries(
        self, channel: str, *, kind: str | None, start: datetime | None, end: datetime | None,
        after_seq: int, limit: int,
    ) -> list[StoredEntry]:
        """A page of a channel's entries by seq, filtered by kind and event time [start, end)."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                f"SELECT {', '.join(ENTRY_COLUMNS)} FROM ledger.entries"
                " WHERE channel = $1 AND seq > $2"
                " AND ($3::text IS NULL OR kind = $3)"
                " AND ($4::timestamptz IS NULL OR event_time >= $4)"
                " AND ($5::timestamptz IS NULL OR event_time < $5)"
                " ORDER BY seq LIMIT $6",
                channel, after_seq, kind, start, end, limit,
            )
        return [StoredEntry(_row(r), r["record_time"]) for r in records]

    async def entry_rows(self, entry_id: str) -> list[StoredEntry]:
        """Every channel position of one entry."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                f"SELECT {', '.join(ENTRY_COLUMNS)} FROM ledger.entries WHERE entry_id = $1 ORDER BY channel",
                entry_id,
            )
        return [StoredEntry(_row(r), r["record_time"]) for r in records]

    async def chain(self, channel: str, *, after_seq: int = 0, page: int = 5000) -> AsyncIterator[ChainRow]:
        """A channel's rows in seq order, read in pages (keyset) so memory stays flat."""
        last = after_seq
        while True:
            async with self._pool.acquire() as connection:
                records = await connection.fetch(
                    f"SELECT {', '.join(ENTRY_COLUMNS)} FROM ledger.entries"
                    " WHERE channel = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    channel, last, page,
                )
            for record in records:
                yield _row(record)
            if len(records) < page:
                return
            last = records[-1]["seq"]

    async def head(self, channel: str) -> tuple[int, str] | None:
        """The recorded (seq, hash) head of a channel, or None when it does not exist."""
        async with self._pool.acquire() as connection:
            record = await connection.fetchrow(
                "SELECT seq, head_hash FROM ledger.channel_heads WHERE channel = $1", channel
            )
        return None if record is None else (record["seq"], record["head_hash"])

    async def all_channels(self) -> list[str]:
        """Every channel name."""
        async with self._pool.acquire() as connection:
            return [r["channel"] for r in await connection.fetch("SELECT channel FROM ledger.channels ORDER BY 1")]

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

    # ------------------------------------------------------------------ checkpoints
    async def checkpoint(self, sign: Callable[[bytes], str]) -> int:
        """Pin every channel head that moved since its last checkpoint; returns how many were pinned."""
        async with self._pool.acquire() as connection:
            async with connection.transaction():
                heads = await connection.fetch(
                    """
                    SELECT h.channel, h.seq, h.head_hash FROM ledger.channel_heads h
                    WHERE h.seq > coalesce(
                        (SELECT max(c.seq) FROM ledger.checkpoints c WHERE c.channel = h.channel), 0)
                    """
                )
                if not heads:
                    return 0
                created = datetime.now(timezone.utc)
                await connection.copy_records_to_table(
                    "checkpoints", schema_name="ledger",
                    columns=("channel", "seq", "head_hash", "created_at", "signature"),
                    records=[
                        (h["channel"], h["seq"], h["head_hash"], created,
                         sign(checkpoint_material(h["channel"], h["seq"], h["head_hash"], created)))
                        for h in heads
                    ],
                )
        return len(heads)

    async def checkpoints(self, channels: Sequence[str] | None, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Newest checkpoints first, of ``channels`` (None: every channel)."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT checkpoint_id, channel, seq, head_hash, created_at, signature FROM ledger.checkpoints"
                " WHERE $1::text[] IS NULL OR channel = ANY($1::text[])"
                " ORDER BY checkpoint_id DESC LIMIT $2",
                None if channels is None else list(channels), limit,
            )
        return [dict(r) for r in records]

    async def channel_checkpoints(self, channel: str) -> list[tuple[int, str]]:
        """(seq, head hash) of each checkpoint of one channel, oldest first."""
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT seq, head_hash FROM ledger.checkpoints WHERE channel = $1 ORDER BY seq", channel
            )
        return [(r["seq"], r["head_hash"]) for r in records]

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


def key_id(pem: str) -> str:
    """A short stable id of a public key: the start of its SHA-256."""
    return hashlib.sha256(pem.strip().encode()).hexdigest()[:16]


def checkpoint_material(channel: str, seq: int, head_hash: str, created_at: datetime) -> bytes:
    """The bytes the ledger signs to pin a channel head."""
    return canonical_json(
        {"channel": channel, "seq": seq, "head_hash": head_hash, "created_at": format_time(created_at)}
    )
