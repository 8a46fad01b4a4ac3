"""Billing's Prometheus metrics."""

from prometheus_client import Counter, Histogram

READINGS = Counter("billing_readings_recorded_total", "Meter readings recorded for billing.")
UNKNOWN_HOUSES = Counter("billing_readings_unknown_house_total", "Readings of houses not in the registry (skipped).")
UNDECODABLE = Counter("billing_undecodable_records_total", "Records that are not a known event.", ["topic"])
INVOICES = Counter("billing_invoices_issued_total", "Invoices issued.")
PAST_DUE = Counter("billing_invoices_past_due_total", "Invoices declared past due.")
PAYMENTS = Counter("billing_payments_recorded_total", "Payments recorded.", ["method"])
PAYMENTS_REFUSED = Counter("billing_payments_refused_total", "Payment requests refused.", ["field"])
BATCH_SECONDS = Histogram("billing_partition_batch_seconds", "Time to apply one partition batch.")
