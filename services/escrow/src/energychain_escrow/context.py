"""What escrow's use cases share: settings, the registry, the one engine and escrow's signing key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from energychain_shared import topics
from energychain_shared.registry import Municipality, Registry
from energychain_shared.registry_feed import FollowsRegistry, RegistryFeed

from energychain_escrow.domain.book import Terms
from energychain_escrow.settings import EscrowSettings

UTC = timezone.utc
# Billing's topics escrow consumes; a book advances only as far as the lowest watermark over all their partitions.
INPUT_TOPICS = (topics.INVOICES, topics.PAYMENTS, topics.PAST_DUE)


def terms_of(municipality: Municipality) -> Terms:
    """A registered municipality's escrow terms as the domain's value object."""
    escrow = municipality.escrow
    return Terms(escrow.endowment_cents, escrow.share_percent, escrow.cap_cents)


@dataclass
class EscrowContext(FollowsRegistry):
    """What the use cases need: settings, the registry (live when ``feed`` is set), the engine and escrow's
    signing key."""

    settings: EscrowSettings
    registry: Registry
    engine: AsyncEngine
    signing_key: Ed25519PrivateKey
    feed: RegistryFeed | None = field(default=None, repr=False)
    _starts: dict[str, date] | None = field(default=None, init=False, repr=False)
    registry_derived = ("_starts",)

    async def close(self) -> None:
        """Close the engine's connections and the registry feed."""
        if self.feed is not None:
            await self.feed.stop()
        await self.engine.dispose()

    def municipality(self, municipality_id: str) -> Municipality | None:
        """The registered municipality, if any."""
        return self.registry.by_municipality.get(municipality_id)

    def program_start(self, municipality: Municipality) -> datetime | None:
        """Local midnight of the earliest day a resident's contract ran in the municipality (the endowment): a
        contract's start, or a move's day for a house that moved in."""
        if self._starts is None:
            earliest: dict[str, date] = {}
            for resident in self.registry.residents:
                for joined, municipality_id in resident.municipalities_from():
                    day = resident.contract.start_date if joined is None else joined
                    earliest[municipality_id] = min(day, earliest.get(municipality_id, day))
            self._starts = earliest
        first = self._starts.get(municipality.municipality_id)
        if first is None:
            return None
        return datetime.combine(first, time(0), tzinfo=municipality.zone).astimezone(UTC)

    def input_topics(self) -> list[str]:
        """Billing's topics under this installation's prefix."""
        return [self.settings.topic(t) for t in INPUT_TOPICS]
