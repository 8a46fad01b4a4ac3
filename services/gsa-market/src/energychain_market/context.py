"""What every use case of the market is given: settings, registry, the engine, the signing key, the prices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from energychain_shared import events, topics
from energychain_shared.outbox import OutboxRow, outbox_row
from energychain_shared.registry import Registry
from energychain_shared.registry_feed import FollowsRegistry, RegistryFeed

from energychain_market.domain.clearing import CLEARING_MECHANISMS, ClearingMechanism
from energychain_market.domain.offers import ResidentTerms
from energychain_market.settings import MarketSettings


class PriceSource(Protocol):
    """Hourly wholesale prices by local day (the seeded model or a price file)."""

    def prices_for_day(self, day: date) -> dict[datetime, Decimal]:
        """UTC hour start -> $/MWh for the hours of local ``day`` that have a price."""


@dataclass
class MarketContext(FollowsRegistry):
    """Everything the use cases need (the registry live when ``feed`` is set); built once per process by the
    composition root."""

    settings: MarketSettings
    registry: Registry
    engine: AsyncEngine
    signing_key: Ed25519PrivateKey
    price_source: PriceSource
    feed: RegistryFeed | None = field(default=None, repr=False)
    mechanism: ClearingMechanism = field(init=False)

    def __post_init__(self) -> None:
        self.mechanism = CLEARING_MECHANISMS[self.settings.market_mechanism](
            min_aggregate_wh=self.settings.market_min_aggregate_wh
        )

    @property
    def market_zone(self) -> ZoneInfo:
        """The zone whose local days the price series is published by."""
        return ZoneInfo(self.settings.market_timezone)

    def resident_terms(self, house_id: str, on: date | None = None) -> ResidentTerms:
        """The offer rules' view of a resident on the local day ``on`` (its contract amendments and moves in
        force that day; the enrolled terms when None); KeyError when the house is unknown."""
        resident = self.registry.resident(house_id)
        contract = resident.contract if on is None else resident.contract_on(on)
        return ResidentTerms(
            house_id=house_id,
            municipality_id=resident.municipality_id if on is None else resident.municipality_on(on),
            zone=self.registry.municipality_of(house_id).zone,
            reserve_wh=contract.reserve_wh,
            rate_usd_per_kwh=contract.rate_usd_per_kwh,
            escalator_percent=contract.escalator_percent,
            contract_start=contract.start_date,
        )

    def row(self, topic: topics.Topic, event: events.Event) -> OutboxRow:
        """An outbox row for ``event`` on ``topic``."""
        return outbox_row(self.settings.topic(topic), event)

    async def close(self) -> None:
        """Close the engine's connections and the registry feed."""
        if self.feed is not None:
            await self.feed.stop()
        await self.engine.dispose()
