"""Every query of the market's own state (offers, clock, clearing, prices, settlements), on an AsyncConnection.

The caller owns the transaction (``engine.begin()`` in the use case); functions here only
read and write. The readings read model is in `adapters.readings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, Date, Row, Text, any_, bindparam, cast, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from energychain_shared.outbox import outbox

from energychain_market.adapters.tables import bids, clearings, clock, metadata, offers, price_days, prices, settlements
from energychain_market.domain.offers import OfferStatus

# One advisory lock key per kind of exclusive job (any instance, any process).
LOCK_CLOCK_JOBS = 0x6D6B7401


# ------------------------------------------------------------------------------------------ locks
async def lock_clock_jobs(connection: AsyncConnection) -> None:
    """Take the clock-job lock exclusively (price publication, clearing, settlement) until the transaction ends."""
    await connection.execute(select(func.pg_advisory_xact_lock(LOCK_CLOCK_JOBS)))


async def lock_for_offers_of(connection: AsyncConnection, house_id: str) -> None:
    """Share the clock-job lock (an offer never slips past its clearing) and take the house's offer lock."""
    await connection.execute(
        select(
            func.pg_advisory_xact_lock_shared(LOCK_CLOCK_JOBS),
            func.pg_advisory_xact_lock(func.hashtext(f"market-offer:{house_id}")),
        )
    )


async def lock_shared_with_clock_jobs(connection: AsyncConnection) -> None:
    """Share the clock-job lock: a cancel never crosses a clearing."""
    await connection.execute(select(func.pg_advisory_xact_lock_shared(LOCK_CLOCK_JOBS)))


# ------------------------------------------------------------------------------------------ clock
async def sim_time(connection: AsyncConnection) -> datetime | None:
    """The latest simulated time seen on the clock topic, or None before the first tick."""
    return await connection.scalar(select(clock.c.sim_time).where(clock.c.id == 1))


async def advance_sim_time(connection: AsyncConnection, to: datetime) -> Row:
    """Move the clock forward to ``to`` (never back); the row's ``sim_time`` and ``first_sim_time``."""
    statement = insert(clock).values(id=1, sim_time=to, first_sim_time=to)
    statement = statement.on_conflict_do_update(
        index_elements=[clock.c.id], set_={"sim_time": func.greatest(clock.c.sim_time, statement.excluded.sim_time)}
    ).returning(clock.c.sim_time, clock.c.first_sim_time)
    return (await connection.execute(statement)).one()


# ----------------------------------------------------------------------------------------- offers
async def offer_statuses(connection: AsyncConnection, *, house_id: str, delivery_day: date) -> list[str]:
    """The statuses of every offer the house made for the day, cancelled ones included."""
    result = await connection.scalars(
        select(offers.c.status).where(offers.c.house_id == house_id, offers.c.delivery_day == delivery_day)
    )
    return list(result)


async def insert_offer(connection: AsyncConnection, values: Mapping[str, Any]) -> Row:
    """Store a new offer; the stored row."""
    return (await connection.execute(insert(offers).values(**values).returning(*offers.c))).one()


async def offer_of_house_for_update(connection: AsyncConnection, *, offer_id: str, house_id: str) -> Row | None:
    """The house's offer ``offer_id``, locked for the transaction (None if it is not the house's)."""
    statement = select(offers).where(offers.c.offer_id == offer_id, offers.c.house_id == house_id).with_for_update()
    return (await connection.execute(statement)).first()


async def cancel_offer(connection: AsyncConnection, *, offer_id: str, at: datetime | None) -> Row:
    """Mark the offer cancelled at ``at``; the updated row."""
    statement = (
        update(offers).where(offers.c.offer_id == offer_id)
        .values(status=OfferStatus.CANCELLED.value, cancelled_at=at).returning(*offers.c)
    )
    return (await connection.execute(statement)).one()


async def open_delivery_days(connection: AsyncConnection, *, until: date) -> list[tuple[date, str]]:
    """(delivery day, zone) of every day up to ``until`` with open offers, in order."""
    statement = (
        select(offers.c.delivery_day, offers.c.timezone).distinct()
        .where(offers.c.status == OfferStatus.OPEN.value, offers.c.delivery_day <= until)
        .order_by(offers.c.delivery_day, offers.c.timezone)
    )
    return [(r[0], r[1]) for r in await connection.execute(statement)]


async def open_offers_for_update(connection: AsyncConnection, *, delivery_day: date, zone_name: str) -> Sequence[Row]:
    """The open offers of one delivery day and zone, by id, locked for the transaction."""
    statement = (
        select(offers.c.offer_id, offers.c.house_id, offers.c.municipality_id, offers.c.energy_wh,
               offers.c.min_price_usd_per_kwh)
        .where(offers.c.delivery_day == delivery_day, offers.c.timezone == zone_name,
               offers.c.status == OfferStatus.OPEN.value)
        .order_by(offers.c.offer_id).with_for_update()
    )
    return (await connection.execute(statement)).all()


OUTCOME_FIELDS = (
    "status", "bid_id", "delivery_hour", "cleared_wh", "clearing_price_usd_per_mwh", "outcome_reason", "outcome_detail",
)


async def record_offer_outcomes(connection: AsyncConnection, outcomes: Sequence[Mapping[str, Any]]) -> None:
    """Write each offer's clearing outcome (``offer_id`` plus OUTCOME_FIELDS per mapping), in one round trip."""
    if outcomes:
        statement = (
            update(offers).where(offers.c.offer_id == bindparam("o_offer_id"))
            .values({name: bindparam(f"o_{name}") for name in OUTCOME_FIELDS})
        )
        await connection.execute(statement, [{f"o_{k}": v for k, v in o.items()} for o in outcomes])


async def cleared_offers_due_for_update(connection: AsyncConnection, *, hour_started_by: datetime) -> Sequence[Row]:
    """Cleared offers whose delivery hour started at or before ``hour_started_by``, in order, locked."""
    statement = (
        select(offers)
        .where(offers.c.status == OfferStatus.CLEARED.value, offers.c.delivery_hour <= hour_started_by)
        .order_by(offers.c.delivery_hour, offers.c.offer_id).with_for_update()
    )
    return (await connection.execute(statement)).all()


async def mark_settled(connection: AsyncConnection, offer_ids: Sequence[str]) -> None:
    """Mark the offers settled."""
    await connection.execute(
        update(offers).where(offers.c.offer_id == any_(bindparam("ids", list(offer_ids), type_=ARRAY(Text))))
        .values(status=OfferStatus.SETTLED.value)
    )


async def offers_of_house(connection: AsyncConnection, house_id: str) -> Sequence[Row]:
    """The house's offers, newest delivery day first."""
    statement = (
        select(offers).where(offers.c.house_id == house_id)
        .order_by(offers.c.delivery_day.desc(), offers.c.offered_at.desc())
    )
    return (await connection.execute(statement)).all()


async def offers_by_status(connection: AsyncConnection, *, status: str | None, delivery_day: date | None) -> Sequence[Row]:
    """Offers with ``status`` (every status when None) and, optionally, of one delivery day."""
    statement = select(offers).order_by(offers.c.delivery_day, offers.c.house_id, offers.c.offered_at)
    if status is not None:
        statement = statement.where(offers.c.status == status)
    if delivery_day is not None:
        statement = statement.where(offers.c.delivery_day == delivery_day)
    return (await connection.execute(statement)).all()


async def offer_counts(connection: AsyncConnection) -> dict[str, int]:
    """How many offers have each status."""
    statement = select(offers.c.status, func.count()).group_by(offers.c.status)
    return {status: count for status, count in await connection.execute(statement)}


# ---------------------------------------------------------------------------------- clearing, bids
async def add_clearing(connection: AsyncConnection, values: Mapping[str, Any]) -> None:
    """Record a day's clearing; clearing the same day and zone again adds its offers and energy to it."""
    statement = insert(clearings).values(**values)
    added = statement.excluded
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[clearings.c.delivery_day, clearings.c.timezone],
            set_={
                "offers_count": clearings.c.offers_count + added.offers_count,
                "cleared_offers": clearings.c.cleared_offers + added.cleared_offers,
                "cleared_wh": clearings.c.cleared_wh + added.cleared_wh,
            },
        )
    )


async def insert_bids(connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store the day's bids; a bid already stored is kept."""
    if rows:
        await connection.execute(insert(bids).on_conflict_do_nothing(index_elements=[bids.c.bid_id]), list(rows))


async def bids_of(connection: AsyncConnection, delivery_day: date | None) -> Sequence[Row]:
    """Bids by delivery hour, optionally of one delivery day."""
    statement = select(bids).order_by(bids.c.delivery_hour)
    if delivery_day is not None:
        statement = statement.where(bids.c.delivery_day == delivery_day)
    return (await connection.execute(statement)).all()


async def bid_count(connection: AsyncConnection) -> int:
    """How many bids are stored."""
    return await connection.scalar(select(func.count()).select_from(bids))


async def all_clearings(connection: AsyncConnection) -> Sequence[Row]:
    """Every clearing, by delivery day and zone."""
    return (await connection.execute(select(clearings).order_by(clearings.c.delivery_day, clearings.c.timezone))).all()


# ---------------------------------------------------------------------------------------- prices
async def published_price_days(connection: AsyncConnection, *, market: str, first: date, last: date) -> set[date]:
    """The local days between ``first`` and ``last`` whose prices are already published."""
    statement = select(price_days.c.local_day).where(
        price_days.c.market == market, price_days.c.local_day.between(first, last)
    )
    return set(await connection.scalars(statement))


async def insert_prices(
    connection: AsyncConnection, *, hourly: Sequence[Mapping[str, Any]], days: Sequence[Mapping[str, Any]]
) -> None:
    """Store published hourly prices and the days they complete; rows already stored are kept."""
    if hourly:
        await connection.execute(insert(prices).on_conflict_do_nothing(), list(hourly))
    if days:
        await connection.execute(insert(price_days).on_conflict_do_nothing(), list(days))


async def prices_between(connection: AsyncConnection, *, market: str, low: datetime, high: datetime) -> Sequence[Row]:
    """The market's published (hour_start, price) with low <= hour_start < high, in order."""
    statement = (
        select(prices.c.hour_start, prices.c.price_usd_per_mwh)
        .where(prices.c.market == market, prices.c.hour_start >= low, prices.c.hour_start < high)
        .order_by(prices.c.hour_start)
    )
    return (await connection.execute(statement)).all()


# ----------------------------------------------------------------------------------- settlements
async def insert_settlements(connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store settlements; an offer already settled keeps its settlement."""
    if rows:
        await connection.execute(
            insert(settlements).on_conflict_do_nothing(index_elements=[settlements.c.offer_id]), list(rows)
        )


async def settlements_of_house(connection: AsyncConnection, house_id: str) -> Sequence[Row]:
    """Every settlement of the house."""
    return (await connection.execute(select(settlements).where(settlements.c.house_id == house_id))).all()


async def settlements_between(connection: AsyncConnection, *, low: datetime, high: datetime) -> Sequence[Row]:
    """Settlements with low <= delivery hour < high, by hour and house."""
    statement = (
        select(settlements)
        .where(settlements.c.delivery_hour >= low, settlements.c.delivery_hour < high)
        .order_by(settlements.c.delivery_hour, settlements.c.house_id)
    )
    return (await connection.execute(statement)).all()


async def revenue_by_day(connection: AsyncConnection, *, low: datetime, high: datetime) -> Sequence[Row]:
    """Per UTC day of delivery (low <= hour < high): proceeds, fees, credits and delivered Wh."""
    # A literal zone, not a parameter: the grouped expression must be the selected one.
    day = cast(func.timezone(literal_column("'UTC'"), settlements.c.delivery_hour), Date).label("day")
    statement = (
        select(
            day,
            func.sum(settlements.c.proceeds_cents).label("proceeds"),
            func.sum(settlements.c.fee_cents).label("fees"),
            func.sum(settlements.c.credit_cents).label("credits"),
            func.sum(settlements.c.delivered_wh).label("delivered"),
        )
        .where(settlements.c.delivery_hour >= low, settlements.c.delivery_hour < high)
        .group_by(day).order_by(day)
    )
    return (await connection.execute(statement)).all()


# ---------------------------------------------------------------------------------- maintenance
async def outbox_count(connection: AsyncConnection) -> int:
    """How many events the outbox holds, published or not."""
    return await connection.scalar(select(func.count()).select_from(outbox))


async def empty_every_table(connection: AsyncConnection) -> None:
    """Remove every row of the market's tables and its outbox (the benchmark's fresh start)."""
    names = ", ".join(f'"{table.name}"' for table in [*metadata.sorted_tables, outbox])
    await connection.exec_driver_sql(f"TRUNCATE {names}")
