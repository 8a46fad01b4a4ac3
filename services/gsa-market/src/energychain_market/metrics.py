"""Prometheus metrics of the market."""

from prometheus_client import Counter, Gauge, Histogram

OFFERS = Counter("market_offers_total", "Offers by what happened to them.", ["outcome"])
SETTLEMENTS = Counter("market_settlements_total", "Cleared offers settled against the meter.")
READINGS = Counter("market_readings_ingested_total", "Meter readings written to the read model.")
UNDECODABLE = Counter("market_stream_undecodable_total", "Records on input topics that were not valid events.", ["topic"])
CLEARING_SECONDS = Histogram("market_clearing_seconds", "Time to clear one delivery day (pure + persist).")
SIM_TIME = Gauge("market_sim_time_seconds", "Latest simulated time seen on the clock topic (Unix seconds).")
