"""The witness's Prometheus metrics (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from energychain_witness.domain import REASONS

ROUNDS = Counter("witness_rounds", "Rounds run (cosigned, unchanged, refused or failed).")
ROUND_ERRORS = Counter("witness_round_errors", "Rounds that could not finish (ledger unreachable, ...); retried.")
COSIGNED_SIZE = Gauge("witness_cosigned_size", "Size of the log of heads at the last checkpoint this witness cosigned.")
REFUSALS = Counter("witness_refusals", "Checkpoints refused, by reason.", ["reason"])
SUBMISSIONS = Counter("witness_submissions", "Cosignatures sent to the ledger, by outcome.", ["outcome"])
WATCHED_CHANNELS = Gauge("witness_watched_channels", "Channels this witness follows.")

for _reason in REASONS:
    REFUSALS.labels(reason=_reason)
for _outcome in ("accepted", "rejected", "unreachable"):
    SUBMISSIONS.labels(outcome=_outcome)
