"""Escrow's tables, declared once (no schema: every connection works in escrow's schema through search_path)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, FetchedValue, Index, Integer, MetaData, PrimaryKeyConstraint, Table, Text, text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

metadata = MetaData()

# Billing's in-band watermark per (topic, partition): escrow acts on events up to the lowest.
watermarks = Table(
    "watermarks", metadata,
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("sim_time", TIMESTAMP(timezone=True), nullable=False),
    PrimaryKeyConstraint("topic", "partition"),
)

# Every billing event once (by event id), until applied to its municipality's book.
inbox = Table(
    "inbox", metadata,
    Column("event_id", Text, primary_key=True),
    Column("municipality_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("occurred_at", TIMESTAMP(timezone=True), nullable=False),
    Column("house_id", Text, nullable=False),
    Column("invoice_id", Text),
    Column("amount_cents", BigInteger, nullable=False),
    Column("applied", Boolean, nullable=False, server_default=text("false")),
    Column("payload", JSONB),  # the event as received
    Index("inbox_pending", "municipality_id", "occurred_at", postgresql_where=text("NOT applied")),
)

# Each municipality's book: the domain's EscrowBook as JSON, and how far it has been processed.
books = Table(
    "books", metadata,
    Column("municipality_id", Text, primary_key=True),
    Column("state", JSONB, nullable=False),
    Column("processed_until", TIMESTAMP(timezone=True)),
)

# Every movement, in the book's order (seq).
movements = Table(
    "movements", metadata,
    Column("movement_id", Text, primary_key=True),
    Column("municipality_id", Text, nullable=False),
    Column("seq", BigInteger, nullable=False, server_default=FetchedValue()),  # bigserial
    Column("kind", Text, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("balance_after_cents", BigInteger, nullable=False),
    Column("occurred_at", TIMESTAMP(timezone=True), nullable=False),
    Column("month", Text, nullable=False),
    Column("house_id", Text),
    Column("invoice_id", Text),
    Index("movements_by_municipality", "municipality_id", "seq"),
)
