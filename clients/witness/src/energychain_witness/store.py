"""The witness's own SQLite store (stdlib sqlite3): its last cosignature and everything it has checked.

One round's new state and its cosignature are written in one transaction before the
cosignature leaves the process; a witness killed at any point resumes from here. The store
is held by one process at a time (an exclusive lock on ``witness.lock`` beside it).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from energychain_shared.tlog.merkle import EMPTY_ROOT, HASH_SIZE, Frontier

from energychain_witness.domain import Accepted, ChannelState, Transfer, WitnessState

SCHEMA_VERSION = "1"
_CHUNK = 500  # ids per IN (...) query

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- The last checkpoint this witness cosigned, and the cosignature line it sent (or is about to send).
CREATE TABLE IF NOT EXISTS cosigned (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    signature TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    cosigned_at REAL NOT NULL,
    submitted INTEGER NOT NULL DEFAULT 0
);
-- The compact range of the log of heads at the last cosigned size.
CREATE TABLE IF NOT EXISTS heads_frontier (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    hashes BLOB NOT NULL
);
-- Every watched channel: its last head; for a member channel also its name and compact range.
CREATE TABLE IF NOT EXISTS channels (
    blinded_id TEXT PRIMARY KEY,
    name TEXT UNIQUE,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    frontier BLOB,
    audit_cursor INTEGER NOT NULL DEFAULT 0
);
-- The leaf of every member-channel entry the witness has read, with its event time (membership by date).
CREATE TABLE IF NOT EXISTS entries (
    channel TEXT NOT NULL,
    seq INTEGER NOT NULL,
    entry_id TEXT NOT NULL,
    leaf BLOB NOT NULL,
    occurred_at TEXT,
    PRIMARY KEY (channel, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_entry_id ON entries (entry_id);
-- The transfers of those entries (once per entry, whatever the number of its channels).
CREATE TABLE IF NOT EXISTS transfers (
    entry_id TEXT NOT NULL,
    transfer_index INTEGER NOT NULL,
    debit_account TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    PRIMARY KEY (entry_id, transfer_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS transfers_by_debit ON transfers (debit_account);
CREATE INDEX IF NOT EXISTS transfers_by_credit ON transfers (credit_account);
-- Every refused checkpoint (the same refusal again only counts up).
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    last_at REAL NOT NULL,
    repeats INTEGER NOT NULL DEFAULT 1,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    checkpoint_size INTEGER
);
"""


class StoreError(Exception):
    """The store cannot be used as asked (locked by another process, another mode, moved on)."""


@dataclass(frozen=True, slots=True)
class Cosigned:
    """The last checkpoint cosigned, with its cosignature line."""

    size: int
    root: bytes
    note: str
    signature: str
    timestamp: int
    cosigned_at: float
    submitted: bool = False


@dataclass(frozen=True, slots=True)
class RefusalRow:
    """One refusal as the store keeps it."""

    id: int
    at: float
    last_at: float
    repeats: int
    reason: str
    detail: str
    checkpoint_size: int | None


def pack_hashes(hashes: Iterable[bytes]) -> bytes:
    return b"".join(hashes)


def unpack_hashes(blob: bytes) -> list[bytes]:
    if len(blob) % HASH_SIZE:
        raise StoreError(f"a stored hash list of {len(blob)} bytes")
    return [blob[i:i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


class Store:
    """The witness's SQLite database. Use `Store.open`; close it (or use it as a context manager)."""

    def __init__(self, connection: sqlite3.Connection, path: Path, lock_fd: int | None) -> None:
        self.connection = connection
        self.path = path
        self._lock_fd = lock_fd

    @classmethod
    def open(cls, path: Path, *, exclusive: bool = True) -> Store:
        """Open (creating the schema) ``path``; ``exclusive``: fail if another process holds it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = None
        if exclusive:
            lock_fd = os.open(path.parent / "witness.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock_fd)
                raise StoreError(f"{path.parent} is in use by another energychain-witness process") from None
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")  # a committed cosignature survives a power cut
            connection.execute("PRAGMA foreign_keys=ON")
            connection.executescript(SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(entries)")}
            if "occurred_at" not in columns:  # a store from before membership by date: the column is added
                connection.execute("ALTER TABLE entries ADD COLUMN occurred_at TEXT")
            version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None:
                connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            elif version[0] != SCHEMA_VERSION:
                raise StoreError(f"{path}: schema version {version[0]}, this witness reads {SCHEMA_VERSION}")
        except BaseException:
            connection.close()
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        return cls(connection, path, lock_fd)

    def close(self) -> None:
        self.connection.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on any error)."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    # ------------------------------------------------------------ meta

    def meta(self, key: str) -> str | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def claim(self, key: str, value: str) -> None:
        """Record ``value`` under ``key`` the first time; refuse another value later (e.g. the witness's mode)."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
            elif row[0] != value:
                raise StoreError(f"{self.path}: this store belongs to {key} {row[0]!r}, not {value!r}; "
                                 f"use another EC_WITNESS_DIR")

    # ------------------------------------------------------------ state

    def last_cosigned(self) -> Cosigned | None:
        row = self.connection.execute(
            "SELECT size, root, note, signature, timestamp, cosigned_at, submitted FROM cosigned WHERE id = 1"
        ).fetchone()
        return None if row is None else Cosigned(row[0], bytes(row[1]), row[2], row[3], row[4], row[5], bool(row[6]))

    def load_state(self) -> WitnessState:
        """The state the next round starts from."""
        db = self.connection
        cosigned = self.last_cosigned()
        frontier_row = db.execute("SELECT size, hashes FROM heads_frontier WHERE id = 1").fetchone()
        heads = Frontier() if frontier_row is None else Frontier(frontier_row[0], unpack_hashes(bytes(frontier_row[1])))
        size, root = (0, EMPTY_ROOT) if cosigned is None else (cosigned.size, cosigned.root)
        if heads.size != size:
            raise StoreError(f"{self.path}: heads frontier of size {heads.size}, last cosigned size {size}")
        channels = {}
        for blinded, name, csize, croot, frontier, cursor in db.execute(
            "SELECT blinded_id, name, size, root, frontier, audit_cursor FROM channels"
        ):
            compact = None if frontier is None else Frontier(csize, unpack_hashes(bytes(frontier)))
            channels[blinded] = ChannelState(blinded, name, csize, bytes(croot), compact, cursor)
        return WitnessState(size, root, heads, channels, self.meta("account_cursor") or "")

    def commit_round(self, *, base_size: int, base_root: bytes, accepted: Accepted, cosigned: Cosigned) -> None:
        """Write a round's new state and its cosignature in one transaction.

        Refuses (StoreError) when the stored last cosigned checkpoint is no longer the one the
        round started from: two rounds never both move the witness on.
        """
        state = accepted.state
        if state.size != cosigned.size or state.root != cosigned.root:
            raise ValueError("the cosignature is not for the state being stored")
        with self.transaction() as db:
            row = db.execute("SELECT size, root FROM cosigned WHERE id = 1").fetchone()
            current = (0, EMPTY_ROOT) if row is None else (row[0], bytes(row[1]))
            if current != (base_size, base_root):
                raise StoreError(f"the store moved on to size {current[0]} while a round from {base_size} ran")
            db.execute(
                "INSERT OR REPLACE INTO cosigned (id, size, root, note, signature, timestamp, cosigned_at, submitted)"
                " VALUES (1, ?, ?, ?, ?, ?, ?, 0)",
                (cosigned.size, cosigned.root, cosigned.note, cosigned.signature, cosigned.timestamp,
                 cosigned.cosigned_at),
            )
            db.execute("INSERT OR REPLACE INTO heads_frontier (id, size, hashes) VALUES (1, ?, ?)",
                       (state.heads.size, pack_hashes(state.heads.hashes)))
            db.executemany(
                "INSERT INTO channels (blinded_id, name, size, root, frontier, audit_cursor) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (blinded_id) DO UPDATE SET name = excluded.name, size = excluded.size,"
                " root = excluded.root, frontier = excluded.frontier, audit_cursor = excluded.audit_cursor",
                [(c.blinded_id, c.name, c.size, c.root,
                  None if c.frontier is None else pack_hashes(c.frontier.hashes), c.audit_cursor)
                 for c in state.channels.values()],
            )
            db.executemany("INSERT INTO entries (channel, seq, entry_id, leaf, occurred_at) VALUES (?, ?, ?, ?, ?)",
                           [(e.channel, e.seq, e.entry_id, e.leaf, e.occurred_at) for e in accepted.entries])
            db.executemany(
                "INSERT OR IGNORE INTO transfers (entry_id, transfer_index, debit_account, credit_account,"
                " amount_cents) VALUES (?, ?, ?, ?, ?)",
                [(e.entry_id, i, t.debit_account, t.credit_account, t.amount_cents)
                 for e in accepted.entries for i, t in enumerate(e.transfers)],
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('account_cursor', ?)", (state.account_cursor,))

    def mark_submitted(self, size: int) -> None:
        """The ledger has the cosignature of ``size``."""
        with self.transaction() as db:
            db.execute("UPDATE cosigned SET submitted = 1 WHERE id = 1 AND size = ?", (size,))

    # ------------------------------------------------------------ what the checks look up

    def stored_leaves(self, channel: str, first: int, last: int) -> dict[int, tuple[bytes, str, str | None]]:
        """Seq -> (leaf, entry id, event time) of a member channel's entries ``first..last`` the witness has read
        (the event time is None for an entry read by a witness from before membership by date)."""
        rows = self.connection.execute(
            "SELECT seq, leaf, entry_id, occurred_at FROM entries WHERE channel = ? AND seq BETWEEN ? AND ?",
            (channel, first, last),
        )
        return {seq: (bytes(leaf), entry_id, occurred_at) for seq, leaf, entry_id, occurred_at in rows}

    def event_times(self, entry_ids: Iterable[str]) -> dict[str, str | None]:
        """The event time of each of these entry ids that the witness has read (None: not kept)."""
        found: dict[str, str | None] = {}
        for chunk in _chunks(sorted(set(entry_ids))):
            marks = ",".join("?" * len(chunk))
            for entry_id, occurred_at in self.connection.execute(
                f"SELECT entry_id, occurred_at FROM entries WHERE entry_id IN ({marks})", chunk
            ):
                if found.get(entry_id) is None:
                    found[entry_id] = occurred_at
        return found

    def leaves_of_entries(self, entry_ids: Iterable[str]) -> dict[str, bytes]:
        """The leaf the witness holds for each of these entry ids it has read."""
        found: dict[str, bytes] = {}
        for chunk in _chunks(sorted(set(entry_ids))):
            marks = ",".join("?" * len(chunk))
            for entry_id, leaf in self.connection.execute(
                f"SELECT entry_id, leaf FROM entries WHERE entry_id IN ({marks})", chunk
            ):
                found.setdefault(entry_id, bytes(leaf))
        return found

    def seen_transfers(self, entry_ids: Iterable[str]) -> dict[str, tuple[Transfer, ...]]:
        """The transfers of each of these entry ids that the witness has read (an entry without any: ())."""
        ids = sorted(set(entry_ids))
        seen: set[str] = set()
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            seen.update(r[0] for r in self.connection.execute(
                f"SELECT DISTINCT entry_id FROM entries WHERE entry_id IN ({marks})", chunk))
        return self._transfers_of(seen)

    def transfers_touching(self, account: str) -> dict[str, tuple[Transfer, ...]]:
        """All transfers of every seen entry with a transfer debiting or crediting ``account``."""
        ids = {r[0] for r in self.connection.execute(
            "SELECT entry_id FROM transfers WHERE debit_account = ? UNION SELECT entry_id FROM transfers"
            " WHERE credit_account = ?", (account, account))}
        return self._transfers_of(ids)

    def _transfers_of(self, entry_ids: Iterable[str]) -> dict[str, tuple[Transfer, ...]]:
        ids = sorted(set(entry_ids))
        out: dict[str, list[Transfer]] = {i: [] for i in ids}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for entry_id, _, debit, credit, amount in self.connection.execute(
                f"SELECT entry_id, transfer_index, debit_account, credit_account, amount_cents FROM transfers"
                f" WHERE entry_id IN ({marks}) ORDER BY entry_id, transfer_index", chunk
            ):
                out[entry_id].append(Transfer(debit, credit, amount))
        return {k: tuple(v) for k, v in out.items()}

    # ------------------------------------------------------------ refusals

    def record_refusal(self, *, reason: str, detail: str, checkpoint_size: int | None, at: float | None = None) -> None:
        """Keep a refusal; the same refusal as the latest one only counts up."""
        now = time.time() if at is None else at
        with self.transaction() as db:
            last = db.execute(
                "SELECT id, reason, detail, checkpoint_size FROM refusals ORDER BY id DESC LIMIT 1").fetchone()
            if last is not None and last[1:] == (reason, detail, checkpoint_size):
                db.execute("UPDATE refusals SET repeats = repeats + 1, last_at = ? WHERE id = ?", (now, last[0]))
            else:
                db.execute("INSERT INTO refusals (at, last_at, reason, detail, checkpoint_size) VALUES (?, ?, ?, ?, ?)",
                           (now, now, reason, detail, checkpoint_size))

    def refusals(self, limit: int = 100) -> list[RefusalRow]:
        """The latest refusals, newest first."""
        return [RefusalRow(*r) for r in self.connection.execute(
            "SELECT id, at, last_at, repeats, reason, detail, checkpoint_size FROM refusals ORDER BY id DESC LIMIT ?",
            (limit,))]

    def channel_rows(self) -> list[ChannelState]:
        """Every watched channel (for the status page)."""
        return sorted(self.load_state().channels.values(), key=lambda c: (c.name is None, c.name or "", c.blinded_id))

    def counts(self) -> Mapping[str, int]:
        """How much the witness keeps."""
        db = self.connection
        return {"channels": db.execute("SELECT count(*) FROM channels").fetchone()[0],
                "entries": db.execute("SELECT count(*) FROM entries").fetchone()[0],
                "transfers": db.execute("SELECT count(*) FROM transfers").fetchone()[0]}


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]
