"""Ledger schema: channels, members, heads, entries, entry ids, postings, users, service keys, checkpoints.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    _execute_each("""
    CREATE TABLE ledger.channels (
        channel          text PRIMARY KEY,
        kind             text NOT NULL CHECK (kind IN ('gsa', 'resident', 'municipality')),
        owner_id         text,
        municipality_id  text,
        created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX channels_municipality ON ledger.channels (municipality_id);

    CREATE TABLE ledger.channel_members (
        channel  text NOT NULL REFERENCES ledger.channels (channel),
        member   text NOT NULL,
        PRIMARY KEY (channel, member)
    );
    CREATE INDEX channel_members_member ON ledger.channel_members (member, channel);

    -- One row per channel: locked FOR UPDATE by every batch that appends to the channel,
    -- so concurrent writers keep the chain gapless.
    CREATE TABLE ledger.channel_heads (
        channel    text PRIMARY KEY REFERENCES ledger.channels (channel),
        seq        bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
        head_hash  text NOT NULL
    );

    -- The chain: one row per (channel, position). No foreign key to channels: the
    -- batch writer holds the channel's head lock, and per-row FK checks halve COPY speed.
    CREATE TABLE ledger.entries (
        channel      text NOT NULL,
        seq          bigint NOT NULL CHECK (seq > 0),
        entry_id     text NOT NULL,
        kind         text NOT NULL,
        event_time   timestamptz NOT NULL,
        record_time  timestamptz NOT NULL,
        producer     text NOT NULL,
        payload      json NOT NULL,
        transfers    json NOT NULL,
        channels     text[] NOT NULL,
        signature    text NOT NULL,
        prev_hash    text NOT NULL,
        hash         text NOT NULL,
        PRIMARY KEY (channel, seq)
    );
    CREATE INDEX entries_entry_id ON ledger.entries (entry_id);

    -- Idempotency: an entry id is recorded once with the digest of what was signed.
    CREATE TABLE ledger.entry_ids (
        entry_id     text PRIMARY KEY,
        digest       text NOT NULL,
        producer     text NOT NULL,
        record_time  timestamptz NOT NULL
    );

    -- Double entry: debit +amount, credit -amount; balances are sums of postings.
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

    CREATE TABLE ledger.users (
        username         text PRIMARY KEY,
        password_hash    text NOT NULL,
        role             text NOT NULL CHECK (role IN ('resident', 'municipality', 'gsa')),
        municipality_id  text,
        house_id         text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now()
    );

    -- Every public key a producer has had; old entries stay verifiable after a rotation.
    CREATE TABLE ledger.service_keys (
        service         text NOT NULL,
        key_id          text NOT NULL,
        public_key_pem  text NOT NULL,
        registered_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (service, key_id)
    );

    CREATE TABLE ledger.checkpoints (
        checkpoint_id  bigserial PRIMARY KEY,
        channel        text NOT NULL REFERENCES ledger.channels (channel),
        seq            bigint NOT NULL,
        head_hash      text NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        signature      text NOT NULL
    );
    CREATE INDEX checkpoints_channel_seq ON ledger.checkpoints (channel, seq);
    """)


def downgrade() -> None:
    _execute_each("""
    DROP TABLE ledger.checkpoints, ledger.service_keys, ledger.users, ledger.postings,
        ledger.entry_ids, ledger.entries, ledger.channel_heads, ledger.channel_members,
        ledger.channels;
    """)


def _execute_each(script: str) -> None:
    # asyncpg prepares each statement, so a script runs one statement at a time.
    for statement in script.split(";\n"):
        if statement.strip():
            op.execute(statement)
