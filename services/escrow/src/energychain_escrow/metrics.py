"""Escrow's Prometheus metrics."""

from prometheus_client import Counter

EVENTS = Counter("escrow_billing_events_total", "Billing events taken into the inbox.")
MOVEMENTS = Counter("escrow_movements_total", "Escrow movements made.")
UNDECODABLE = Counter("escrow_undecodable_records_total", "Records that are not a known event.", ["topic"])
