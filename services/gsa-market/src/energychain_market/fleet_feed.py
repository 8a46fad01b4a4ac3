"""The API's view of the fleet stream: fleet.windows and fleet.alerts, read from the beginning into a `FleetView`.

Every API instance reads both topics whole (no consumer group: each needs all of them), with
``read_committed`` so that only what the fleet process committed counts, and keeps them
applied to its view for as long as it runs.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from energychain_shared import events, topics

from energychain_market.domain.fleet import WINDOW_FIELDS, epoch
from energychain_market.domain.fleet_view import FleetView, OpenAlert
from energychain_market.settings import MarketSettings

log = logging.getLogger(__name__)


def apply(view: FleetView, event: events.Event) -> None:
    """One output event of the fleet stream into the view."""
    if isinstance(event, events.FleetWindowUpdated):
        totals = event.model_dump(include=set(WINDOW_FIELDS))
        view.apply_window(
            municipality_id=event.municipality_id, kind=event.kind, start=epoch(event.window_start),
            end=epoch(event.window_end), local_date=event.local_date.isoformat() if event.local_date else None,
            partition=event.partition, version=event.version, final=event.final, totals=totals,
        )
    elif isinstance(event, events.FleetAlertRaised):
        view.apply_alert(OpenAlert(event.alert_id, event.kind, event.house_id, event.municipality_id,
                                   epoch(event.since), event.detail))
    elif isinstance(event, events.FleetAlertCleared):
        view.apply_alert(None, cleared_id=event.alert_id)


async def follow(settings: MarketSettings, view: FleetView, *, retry_s: float = 2.0) -> None:
    """Apply both topics to ``view`` until cancelled; reconnects (from where it was) after a broker error."""
    names = [settings.topic(topics.FLEET_WINDOWS), settings.topic(topics.FLEET_ALERTS)]
    positions: dict[TopicPartition, int] = {}
    while True:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers, client_id="gsa-market-fleet-view",
            isolation_level="read_committed", enable_auto_commit=False, group_id=None,
        )
        try:
            await consumer.start()
            partitions = [TopicPartition(name, p) for name in names for p in range(topics.KEYED_PARTITIONS)]
            consumer.assign(partitions)
            for tp in partitions:
                if tp in positions:
                    consumer.seek(tp, positions[tp])
                else:
                    await consumer.seek_to_beginning(tp)
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for tp, records in batches.items():
                    for record in records:
                        try:
                            apply(view, events.decode(record.value))
                        except events.EventDecodeError as error:
                            log.warning("undecodable fleet record skipped", extra={"reason": str(error)})
                        positions[tp] = record.offset + 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reading the fleet stream's topics failed; retrying")
            await asyncio.sleep(retry_s)
        finally:
            await consumer.stop()
