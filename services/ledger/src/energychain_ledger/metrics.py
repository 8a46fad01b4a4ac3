"""Prometheus metrics of the ledger (registered once, on import of this module)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

APPENDS = Counter("ledger_appends_total", "Append requests handled, by outcome.", ["outcome"])
BATCH_SECONDS = Histogram(
    "ledger_batch_seconds", "Time to verify, chain and commit one batch.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram("ledger_batch_size", "Records per consumed batch.", buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000))
APPEND_LATENCY = Histogram(
    "ledger_append_latency_seconds",
    "Broker append time of each partition's oldest record in a batch to the commit of the batch and its checkpoint.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Per topic too: the append and the readings consumers both have partitions 0..n.
CONSUMER_LAG = Gauge(
    "ledger_consumer_lag_records", "High watermark minus next offset, per topic and partition.", ["topic", "partition"]
)
CHECKPOINTS = Counter("ledger_checkpoints_total", "Checkpoints signed (one per batch that appended anything).")
READINGS = Counter("ledger_readings_total", "Meter readings taken off meter.readings, by outcome.", ["outcome"])
LOGINS = Counter("ledger_logins_total", "Sign-ins at POST /auth/token, by outcome (ok, failed, throttled, disabled).",
                 ["outcome"])
