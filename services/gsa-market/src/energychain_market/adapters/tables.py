"""The market's tables, declared once (no schema: connections work in EC_MARKET_DB_SCHEMA).

- ``clock``: one row, the latest simulated time seen on the clock topic and the first one.
- ``offers``: the residents' offers and, once their day cleared, their outcome.
- ``clearings`` and ``bids``: each cleared delivery day (per zone) and its hourly sell orders.
- ``settlements``: each cleared offer settled against the meter.
- ``price_days`` and ``prices``: the wholesale prices published so far.
- ``readings`` and ``reading_watermarks``: the readings read model (one compact row per
  house-hour) and how far each meter.readings partition has come.

The outbox is the shared one (`energychain_shared.outbox`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, CheckConstraint, Column, Date, DateTime, ForeignKey, Index, Integer, MetaData, Numeric, SmallInteger,
    Table, Text, UniqueConstraint, text,
)

metadata = MetaData()
TZ = DateTime(timezone=True)
USD_PER_KWH = Numeric(12, 6)
USD_PER_MWH = Numeric(14, 4)

clock = Table(
    "clock", metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False, server_default=text("1")),
    Column("sim_time", TZ, nullable=False),
    Column("first_sim_time", TZ, nullable=False),
    CheckConstraint("id = 1", name="clock_id_check"),
)

offers = Table(
    "offers", metadata,
    Column("offer_id", Text, primary_key=True),
    Column("house_id", Text, nullable=False),
    Column("municipality_id", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("delivery_day", Date, nullable=False),
    Column("reserve_percent", SmallInteger, nullable=False),
    Column("energy_wh", BigInteger, nullable=False),
    Column("min_price_usd_per_kwh", USD_PER_KWH, nullable=False),
    Column("rate_usd_per_kwh", Numeric(20, 12), nullable=False),
    Column("status", Text, nullable=False),
    Column("offered_at", TZ, nullable=False),
    Column("cancelled_at", TZ),
    Column("bid_id", Text),
    Column("delivery_hour", TZ),
    Column("cleared_wh", BigInteger),
    Column("clearing_price_usd_per_mwh", USD_PER_MWH),
    Column("outcome_reason", Text),
    Column("outcome_detail", Text),
    CheckConstraint("energy_wh > 0", name="offers_energy_wh_check"),
    Index("offers_by_day_status", "delivery_day", "status"),
    Index("offers_by_house", "house_id", "delivery_day"),
    Index("offers_to_settle", "delivery_hour", postgresql_where=text("status = 'cleared'")),
)

clearings = Table(
    "clearings", metadata,
    Column("clearing_id", Text, primary_key=True),
    Column("delivery_day", Date, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("mechanism", Text, nullable=False),
    Column("min_aggregate_wh", BigInteger, nullable=False),
    Column("gate_closure", TZ, nullable=False),
    Column("offers_count", Integer, nullable=False),
    Column("cleared_offers", Integer, nullable=False),
    Column("cleared_wh", BigInteger, nullable=False),
    UniqueConstraint("delivery_day", "timezone"),
)

bids = Table(
    "bids", metadata,
    Column("bid_id", Text, primary_key=True),
    Column("clearing_id", Text, ForeignKey("clearings.clearing_id"), nullable=False),
    Column("delivery_day", Date, nullable=False),
    Column("delivery_hour", TZ, nullable=False),
    Column("energy_wh", BigInteger, nullable=False),
    Column("offers_count", Integer, nullable=False),
    Column("limit_price_usd_per_mwh", USD_PER_MWH, nullable=False),
    Column("status", Text, nullable=False),
    Column("accepted_wh", BigInteger, nullable=False),
    Column("clearing_price_usd_per_mwh", USD_PER_MWH),
    Column("reason", Text),
    Column("detail", Text),
    Index("bids_by_hour", "delivery_hour"),
)

settlements = Table(
    "settlements", metadata,
    Column("settlement_id", Text, primary_key=True),
    Column("offer_id", Text, ForeignKey("offers.offer_id"), nullable=False, unique=True),
    Column("house_id", Text, nullable=False),
    Column("municipality_id", Text, nullable=False),
    Column("delivery_hour", TZ, nullable=False),
    Column("offered_wh", BigInteger, nullable=False),
    Column("delivered_wh", BigInteger, nullable=False),
    Column("clearing_price_usd_per_mwh", USD_PER_MWH, nullable=False),
    Column("proceeds_cents", BigInteger, nullable=False),
    Column("fee_cents", BigInteger, nullable=False),
    Column("credit_cents", BigInteger, nullable=False),
    Column("refill_wh", BigInteger, nullable=False),
    Column("shortfall_reason", Text),
    Column("settled_at", TZ, nullable=False),
    Index("settlements_by_hour", "delivery_hour"),
)

price_days = Table(
    "price_days", metadata,
    Column("market", Text, primary_key=True),
    Column("local_day", Date, primary_key=True),
    Column("published_at", TZ, nullable=False),
    Column("hours", Integer, nullable=False),
)

prices = Table(
    "prices", metadata,
    Column("market", Text, primary_key=True),
    Column("hour_start", TZ, primary_key=True),
    Column("price_usd_per_mwh", USD_PER_MWH, nullable=False),
)

READING_COLUMNS = ("hour", "house_id", "home_wh", "export_wh", "import_wh", "discharged_wh")
readings = Table(
    "readings", metadata,
    Column("hour", TZ, primary_key=True),
    Column("house_id", Text, primary_key=True),
    Column("home_wh", Integer, nullable=False),
    Column("export_wh", Integer, nullable=False),
    Column("import_wh", Integer, nullable=False),
    Column("discharged_wh", Integer, nullable=False),
)

reading_watermarks = Table(
    "reading_watermarks", metadata,
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("sim_time", TZ, nullable=False),
)
