"""Ledger v2, a verifiable log: a Merkle tree per channel, the log of channel heads, signed checkpoints, witnesses.

The hash chain of v1 is replaced, not converted: an existing deployment resets its ledger
(README "Upgrading to ledger v2"). Users and producer keys are kept.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _execute_each("""
    DROP TABLE ledger.checkpoints, ledger.postings, ledger.entry_ids, ledger.entries,
        ledger.channel_heads, ledger.channel_members, ledger.channels;

    -- Tree 0 is the log of channel heads; every channel has a tree id of its own.
    CREATE SEQUENCE ledger.tree_ids START 1;

    CREATE TABLE ledger.channels (
        channel          text PRIMARY KEY,
        tree_id          integer NOT NULL UNIQUE,
        kind             text NOT NULL CHECK (kind IN ('gsa', 'resident', 'municipality')),
        owner_id         text,
        municipality_id  text,
        -- Given to members only; the log of heads names the channel by SHA-256 over it.
        salt             bytea NOT NULL CHECK (length(salt) = 32),
        blinded_id       bytea NOT NULL UNIQUE CHECK (length(blinded_id) = 32),
        created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX channels_municipality ON ledger.channels (municipality_id);

    CREATE TABLE ledger.channel_members (
        channel  text NOT NULL REFERENCES ledger.channels (channel),
        member   text NOT NULL,
        PRIMARY KEY (channel, member)
    );
    CREATE INDEX channel_members_member ON ledger.channel_members (member, channel);

    -- The leaves of every channel tree: entry bytes (what the leaf hashes), leaf hash, and
    -- the columns reads filter on (verification checks them against the bytes).
    CREATE TABLE ledger.entries (
        tree_id      integer NOT NULL,
        seq          bigint NOT NULL CHECK (seq > 0),
        entry_id     text NOT NULL,
        kind         text NOT NULL,
        event_time   timestamptz NOT NULL,
        record_time  timestamptz NOT NULL,
        entry        bytea NOT NULL,
        leaf         bytea NOT NULL,
        signature    text NOT NULL,
        PRIMARY KEY (tree_id, seq)
    );
    CREATE INDEX entries_entry_id ON ledger.entries (entry_id);

    -- Hashes of the perfect subtrees of height 4, 8, 12, ... of every tree (tree 0 too):
    -- any node is at most 15 hashes away from stored ones, so proofs read O(log n) rows.
    CREATE TABLE ledger.tree_nodes (
        tree_id  integer NOT NULL,
        level    smallint NOT NULL CHECK (level > 0),
        index    bigint NOT NULL CHECK (index >= 0),
        hash     bytea NOT NULL,
        PRIMARY KEY (tree_id, level, index)
    );

    -- The log of heads: leaf log_index is (blinded id of tree_id, size, root).
    CREATE TABLE ledger.heads (
        log_index  bigint PRIMARY KEY CHECK (log_index >= 0),
        tree_id    integer NOT NULL,
        size       bigint NOT NULL CHECK (size > 0),
        root       bytea NOT NULL
    );
    CREATE INDEX heads_tree ON ledger.heads (tree_id, log_index DESC);

    -- One signed checkpoint (C2SP signed note) per committed batch; size = heads-log size.
    CREATE TABLE ledger.checkpoints (
        size        bigint PRIMARY KEY,
        root        bytea NOT NULL,
        note        text NOT NULL,
        created_at  timestamptz NOT NULL
    );

    CREATE TABLE ledger.witnesses (
        name           text PRIMARY KEY,
        vkey           text NOT NULL,
        url            text,
        registered_at  timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE ledger.cosignatures (
        size         bigint NOT NULL REFERENCES ledger.checkpoints (size),
        witness      text NOT NULL REFERENCES ledger.witnesses (name),
        cosigned_at  bigint NOT NULL,
        line         text NOT NULL,
        received_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (size, witness)
    );
    CREATE INDEX cosignatures_witness ON ledger.cosignatures (witness, size DESC);

    -- Double entry, derived from the transfers inside the entries (verification re-derives them).
    CREATE TABLE ledger.postings (
        entry_id        text NOT NULL,
        transfer_index  integer NOT NULL,
        account         text NOT NULL,
        amount_cents    bigint NOT NULL CHECK (amount_cents <> 0),
        event_time      timestamptz NOT NULL,
        memo            text NOT NULL DEFAULT '',
        PRIMARY KEY (entry_id, transfer_index, account)
    );
    CREATE INDEX postings_account_time ON ledger.postings (account, event_time);

    -- The auditor reads the log of heads and proofs by blinded id (a witness of its own).
    ALTER TABLE ledger.users DROP CONSTRAINT users_role_check;
    ALTER TABLE ledger.users ADD CONSTRAINT users_role_check
        CHECK (role IN ('resident', 'municipality', 'gsa', 'auditor'))
    """)


def downgrade() -> None:
    raise NotImplementedError("ledger v2 does not convert back to the v1 hash chain: reset the ledger instead")


def _execute_each(script: str) -> None:
    # asyncpg prepares each statement, so a script runs one statement at a time.
    for statement in script.split(";\n"):
        if statement.strip():
            op.execute(statement)
