"""Billing's tables, declared once (no schema: connections work in EC_BILLING_DB_SCHEMA).

- ``progress``: one row per meter.readings partition, how far its watermark is applied;
  locked by every batch and payment of the partition's houses.
- ``houses``: the partition a house's readings arrive on, and its first hour.
- ``hourly``: one row per house-hour, the first delivery wins; ``invoice_id`` is set once billed.
- ``invoices``, ``payments``, ``trade_credits`` (the market's settlements, kept for the next invoice).
- ``registry_changes``: the onboardings, enrolments and contract ends the administration API accepted, one
  of each per municipality or house (the record its rules are checked against; each is published on program.registry).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, CheckConstraint, Column, DateTime, Index, Integer, MetaData, Table, Text, UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
TZ = DateTime(timezone=True)

progress = Table(
    "progress", metadata,
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("watermark", TZ, nullable=False),
)

houses = Table(
    "houses", metadata,
    Column("house_id", Text, primary_key=True),
    Column("partition", Integer, nullable=False),
    Column("first_interval", TZ, nullable=False),
    Index("houses_by_partition", "partition"),
)

ENERGY_COLUMNS = (
    "home_wh", "solar_wh", "grid_import_wh", "grid_export_wh", "battery_charged_wh", "battery_discharged_wh",
)
hourly = Table(
    "hourly", metadata,
    Column("house_id", Text, primary_key=True),
    Column("interval_start", TZ, primary_key=True),
    *(Column(name, Integer, nullable=False) for name in ENERGY_COLUMNS),
    Column("invoice_id", Text),
    Index("hourly_unbilled", "house_id", "interval_start", postgresql_where=text("invoice_id IS NULL")),
)

invoices = Table(
    "invoices", metadata,
    Column("invoice_id", Text, primary_key=True),
    Column("house_id", Text, nullable=False),
    Column("municipality_id", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("period_start", TZ, nullable=False),
    Column("period_end", TZ, nullable=False),
    Column("issued_at", TZ, nullable=False),
    Column("due_at", TZ, nullable=False),
    Column("new_charges_cents", BigInteger, nullable=False),
    Column("own_charges_cents", BigInteger, nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("energy_wh", BigInteger, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("past_due_cents", BigInteger),  # set when the clock passed due_at with something unpaid
    UniqueConstraint("house_id", "period"),
    Index("invoices_by_house", "house_id", "issued_at"),
    Index("invoices_open_due", "due_at", postgresql_where=text("past_due_cents IS NULL")),
)

payments = Table(
    "payments", metadata,
    Column("payment_id", Text, primary_key=True),
    Column("house_id", Text, nullable=False),
    Column("municipality_id", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("invoice_id", Text),
    Column("amount_cents", BigInteger, nullable=False),
    Column("method", Text, nullable=False),
    Column("received_at", TZ, nullable=False),  # simulated time of the house's partition when accepted
    Column("recorded_at", TZ, nullable=False, server_default=func.now()),
    CheckConstraint("amount_cents > 0", name="payments_amount_cents_check"),
    UniqueConstraint("house_id", "idempotency_key"),
    Index("payments_by_house", "house_id", "received_at"),
)

trade_credits = Table(
    "trade_credits", metadata,
    Column("settlement_id", Text, primary_key=True),
    Column("house_id", Text, nullable=False),
    Column("delivery_hour", TZ, nullable=False),
    Column("credit_cents", BigInteger, nullable=False),
    Column("refill_wh", BigInteger, nullable=False),
    Column("invoice_id", Text),
    Index("trade_credits_unbilled", "house_id", postgresql_where=text("invoice_id IS NULL")),
)

registry_changes = Table(
    "registry_changes", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", JSONB, nullable=False),
    Column("recorded_at", TZ, nullable=False, server_default=func.now()),
    Column("recorded_by", Text, nullable=False),
    CheckConstraint("kind IN ('municipality', 'resident', 'contract_amendment', 'move', 'contract_end')",
                    name="registry_changes_kind_check"),
    # A municipality or house is registered once and a contract ends once; amendments and moves are many.
    Index("registry_changes_once", "kind", "subject", unique=True,
          postgresql_where=text("kind IN ('municipality', 'resident', 'contract_end')")),
)
