"""The ledger's tables, declared once (SQLAlchemy Core), as revisions 0001 to 0004 create them.

No schema on the metadata: every connection of the ledger works in schema ``ledger`` through
its ``search_path`` (`energychain_shared.db.make_engine`). The revisions name ``ledger.``
explicitly, so the schema is always ``SCHEMA``; an integration test compares this metadata
with the migrated schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    SmallInteger,
    Table,
    Text,
    func,
)

SCHEMA = "ledger"
metadata = MetaData()


def _timestamp(name: str, *, default_now: bool = False) -> Column:
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now() if default_now else None)


# Tree 0 is the log of channel heads; every channel has a tree id of its own.
tree_ids = Sequence("tree_ids", start=1, metadata=metadata)

channels = Table(
    "channels", metadata,
    Column("channel", Text, primary_key=True),
    Column("tree_id", Integer, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("owner_id", Text),
    Column("municipality_id", Text),
    Column("salt", LargeBinary, nullable=False),
    Column("blinded_id", LargeBinary, nullable=False, unique=True),
    _timestamp("created_at", default_now=True),
    Index("channels_municipality", "municipality_id"),
)

channel_members = Table(
    "channel_members", metadata,
    Column("channel", Text, ForeignKey("channels.channel"), primary_key=True),
    Column("member", Text, primary_key=True),
    Index("channel_members_member", "member", "channel"),
)

# Membership by date of each resident channel (domain/membership.py): the municipality that is a member
# for the event times [member_from, member_until); span 0 is the enrolment's, one more per move. NULL
# bounds are open: since the channel began, still a member. channel_members keeps every municipality
# that was ever a member (the channel is listed for each); these rows say which entries each may read.
channel_memberships = Table(
    "channel_memberships", metadata,
    Column("channel", Text, ForeignKey("channels.channel"), primary_key=True),
    Column("span", Integer, primary_key=True, autoincrement=False),
    Column("municipality_id", Text, nullable=False),
    Column("member_from", DateTime(timezone=True)),
    Column("member_until", DateTime(timezone=True)),
    Index("channel_memberships_municipality", "municipality_id", "channel"),
)

entries = Table(
    "entries", metadata,
    Column("tree_id", Integer, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("entry_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    _timestamp("event_time"),
    _timestamp("record_time"),
    Column("entry", LargeBinary, nullable=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("signature", Text, nullable=False),
    Index("entries_entry_id", "entry_id"),
)

tree_nodes = Table(
    "tree_nodes", metadata,
    Column("tree_id", Integer, primary_key=True),
    Column("level", SmallInteger, primary_key=True),
    Column("index", BigInteger, primary_key=True),
    Column("hash", LargeBinary, nullable=False),
)

heads = Table(
    "heads", metadata,
    Column("log_index", BigInteger, primary_key=True, autoincrement=False),
    Column("tree_id", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
)
Index("heads_tree", heads.c.tree_id, heads.c.log_index.desc())

checkpoints = Table(
    "checkpoints", metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    _timestamp("created_at"),
)

witnesses = Table(
    "witnesses", metadata,
    Column("name", Text, primary_key=True),
    Column("vkey", Text, nullable=False),
    Column("url", Text),
    _timestamp("registered_at", default_now=True),
)

cosignatures = Table(
    "cosignatures", metadata,
    Column("size", BigInteger, ForeignKey("checkpoints.size"), primary_key=True, autoincrement=False),
    Column("witness", Text, ForeignKey("witnesses.name"), primary_key=True),
    Column("cosigned_at", BigInteger, nullable=False),
    Column("line", Text, nullable=False),
    _timestamp("received_at", default_now=True),
)
Index("cosignatures_witness", cosignatures.c.witness, cosignatures.c.size.desc())

postings = Table(
    "postings", metadata,
    Column("entry_id", Text, primary_key=True),
    Column("transfer_index", Integer, primary_key=True, autoincrement=False),
    Column("account", Text, primary_key=True),
    Column("amount_cents", BigInteger, nullable=False),
    _timestamp("event_time"),
    Column("memo", Text, nullable=False, server_default=""),
    Index("postings_account_time", "account", "event_time"),
)

users = Table(
    "users", metadata,
    Column("username", Text, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("municipality_id", Text),
    Column("house_id", Text),
    _timestamp("created_at", default_now=True),
    _timestamp("updated_at", default_now=True),
    Column("disabled_at", DateTime(timezone=True)),
    # Tokens issued before this are refused (set when the password changes or the user is re-enabled).
    Column("tokens_valid_after", DateTime(timezone=True)),
)

# Failed sign-ins per key ("user:<name>" or "address:<ip>"), and the lock they led to.
login_attempts = Table(
    "login_attempts", metadata,
    Column("key", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    _timestamp("window_start"),
    Column("locked_until", DateTime(timezone=True)),
)

# Every public key a producer has had; old entries stay verifiable after a rotation.
service_keys = Table(
    "service_keys", metadata,
    Column("service", Text, primary_key=True),
    Column("key_id", Text, primary_key=True),
    Column("public_key_pem", Text, nullable=False),
    _timestamp("registered_at", default_now=True),
)
