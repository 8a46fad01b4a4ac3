"""What billing's use cases share: settings, the program registry, the engine, the signing key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from energychain_shared import events, topics
from energychain_shared.outbox import OutboxRow, outbox_row
from energychain_shared.registry import Registry, Resident
from energychain_shared.registry_feed import FollowsRegistry, RegistryFeed

from energychain_billing.domain.schedule import BoundaryWatch, Schedule
from energychain_billing.domain.tariff import Amendment, Tariff
from energychain_billing.settings import BillingSettings


@dataclass
class BillingContext(FollowsRegistry):
    """Settings, the program registry (live when ``feed`` is set), the engine (billing's schema) and billing's
    signing key."""

    settings: BillingSettings
    registry: Registry
    engine: AsyncEngine
    signing_key: Ed25519PrivateKey
    feed: RegistryFeed | None = field(default=None, repr=False)
    registry_derived = ("schedules", "boundaries", "_partitions_rechecked")

    @cached_property
    def schedules(self) -> dict[str, Schedule]:
        """The billing calendar of each municipality."""
        return {
            m.municipality_id: Schedule(zone=m.zone, grace=self.settings.grace, due_days=self.settings.billing_due_days)
            for m in self.registry.municipalities
        }

    @cached_property
    def boundaries(self) -> BoundaryWatch:
        """Whether a clock step crosses any municipality's period close or due date."""
        finals = []  # an ended contract's final close and due date are boundaries of their own
        for resident in self.registry.residents:
            schedule = self.schedules[resident.municipality_id]
            if (ends := resident.contract.ends_at(schedule.zone)) is not None:
                finals.extend(schedule.final_boundaries(ends))
        return BoundaryWatch(self.schedules.values(), finals)

    @cached_property
    def _partitions_rechecked(self) -> set[int]:
        return set()

    def recheck_final_closes(self, partition: int, at: datetime) -> bool:
        """Once per partition after each registry change: whether an ended contract's final close or due date
        lies at or before ``at`` (a move-out recorded after the clock had passed it: its invoice is still to
        issue; issuing is idempotent, so a needless recheck costs one look)."""
        if partition in self._partitions_rechecked:
            return False
        self._partitions_rechecked.add(partition)
        return self.boundaries.passed_by(at)

    def resident(self, house_id: str) -> Resident | None:
        """The registered resident of ``house_id``, if any."""
        return self.registry.by_house.get(house_id)

    def municipality_at(self, resident: Resident, instant: datetime) -> str:
        """The municipality ``resident``'s house belongs to at ``instant`` (by its local day: moves take effect
        at local midnight)."""
        return resident.municipality_on(instant.astimezone(self.schedules[resident.municipality_id].zone).date())

    def tariff(self, resident: Resident) -> Tariff:
        """The pricing terms of a resident's contract, with its amendments."""
        contract = resident.contract
        zone = self.schedules[resident.municipality_id].zone
        return Tariff(
            rate_usd_per_kwh=contract.rate_usd_per_kwh,
            escalator_percent=contract.escalator_percent,
            start_date=contract.start_date,
            zone=zone,
            basis=contract.billing_basis,
            amendments=tuple(
                Amendment(effective_date=a.effective_date,
                          starts_at=datetime.combine(a.effective_date, time(0), tzinfo=zone).astimezone(timezone.utc),
                          rate_usd_per_kwh=a.rate_usd_per_kwh, escalator_percent=a.escalator_percent,
                          basis=a.billing_basis)
                for a in resident.amendments),
        )

    def outbox(self, topic: topics.Topic, event: events.Event, *, partition: int | None = None) -> OutboxRow:
        """The outbox row publishing ``event`` on billing's name for ``topic``."""
        return outbox_row(self.settings.topic(topic), event, partition=partition)

    async def close(self) -> None:
        """Release the engine's connections and the registry feed."""
        if self.feed is not None:
            await self.feed.stop()
        await self.engine.dispose()
