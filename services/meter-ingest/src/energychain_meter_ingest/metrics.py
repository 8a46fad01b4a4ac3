"""Prometheus metrics of meter ingest (process-wide, registered once)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

READINGS_PUBLISHED = Counter("meter_ingest_readings_published_total", "Readings published to meter.readings.")
READINGS_DEAD_LETTERED = Counter(
    "meter_ingest_readings_dead_lettered_total", "Rows sent to the dead-letter topic.", ["reason"]
)
READINGS_FLAGGED = Counter(
    "meter_ingest_readings_flagged_total", "Readings published with a data-quality flag.", ["flag"]
)
IMBALANCE_WH = Counter(
    "meter_ingest_imbalance_wh_total", "Absolute imbalance of unbalanced readings, in Wh."
)
DUPLICATES_SKIPPED = Counter("meter_ingest_exact_duplicates_total", "Exact duplicate rows published once.")
SIM_TIME = Gauge("meter_ingest_sim_time_seconds", "Simulated clock (epoch seconds).")
REPLAY_SPEED = Gauge("meter_ingest_speed", "Simulated seconds per wall second (0 = max).")
