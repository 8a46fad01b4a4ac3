"""The one registry of Kafka topics: names, partition counts, keys and the events they carry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A Kafka topic the system creates itself (broker auto-create is off)."""

    name: str
    partitions: int
    key: str
    carries: tuple[str, ...]
    retention_ms: int = -1  # keep everything: topics are replayable history
    compacted: bool = False


# Keyed topics share one partition count so co-partitioned consumers line up.
KEYED_PARTITIONS = 12

METER_READINGS = Topic(
    "meter.readings",
    KEYED_PARTITIONS,
    key="house_id (clock watermarks go to every partition)",
    carries=("MeterReadingRecorded", "ClockWatermarkReached"),
)
METER_DEAD_LETTERS = Topic(
    "meter.readings.dlq", 6, key="source file", carries=("MeterReadingRejected", "MeterReadingRedriven")
)
CLOCK = Topic("clock", 1, key="replay id", carries=("SimulatedClockAdvanced",))
# Billing writes a house's events to the partition number of its meter.readings partition and
# follows them with billing's own ClockWatermarkReached there, so escrow can order them by event time.
_BILLING_KEY = "house_id (billing watermarks go to every partition)"
INVOICES = Topic("billing.invoices", KEYED_PARTITIONS, key=_BILLING_KEY, carries=("InvoiceIssued", "ClockWatermarkReached"))
PAYMENTS = Topic("billing.payments", KEYED_PARTITIONS, key=_BILLING_KEY, carries=("PaymentReceived", "ClockWatermarkReached"))
PAST_DUE = Topic("billing.past-due", KEYED_PARTITIONS, key=_BILLING_KEY, carries=("InvoicePastDue", "ClockWatermarkReached"))
ESCROW_MOVEMENTS = Topic(
    "escrow.movements", KEYED_PARTITIONS, key="municipality_id", carries=("EscrowMoved",)
)
OFFERS = Topic(
    "market.offers", KEYED_PARTITIONS, key="house_id", carries=("ReserveOffered", "OfferCancelled")
)
PRICES = Topic("market.prices", 1, key="market", carries=("WholesalePricePublished",))
BIDS = Topic("market.bids", 6, key="delivery day", carries=("BidSubmitted",))
SETTLEMENTS = Topic(
    "market.settlements", KEYED_PARTITIONS, key="house_id", carries=("TradeSettled",)
)
LEDGER_APPENDS = Topic(
    "ledger.appends", KEYED_PARTITIONS, key="first channel", carries=("LedgerAppendRequested",)
)
LEDGER_DEAD_LETTERS = Topic(
    "ledger.appends.dlq", 6, key="entry_id", carries=("LedgerAppendRejected",)
)
# One partition: checkpoints are one sequence, each extending the one before.
LEDGER_CHECKPOINTS = Topic(
    "ledger.checkpoints", 1, key="origin", carries=("LedgerCheckpointSigned",)
)

# The GSA's fleet stream (faust, services/gsa-market): its outputs, and the changelogs of its two
# tables (compacted: a table is the latest value per key). A changelog has the partitions of
# meter.readings, whose partition p it is the state of.
FLEET_WINDOWS = Topic(
    "fleet.windows", KEYED_PARTITIONS, key="municipality|kind|window start|source partition",
    carries=("FleetWindowUpdated",),
)
FLEET_ALERTS = Topic(
    "fleet.alerts", KEYED_PARTITIONS, key="house_id", carries=("FleetAlertRaised", "FleetAlertCleared")
)
FLEET_HOUSES_CHANGELOG = Topic(
    "fleet.houses-changelog", KEYED_PARTITIONS, key="house_id", carries=("fleet table: a house's stream state",),
    compacted=True,
)
FLEET_WINDOWS_CHANGELOG = Topic(
    "fleet.open-windows-changelog", KEYED_PARTITIONS, key="municipality|kind|window start|source partition",
    carries=("fleet table: an open window's totals",), compacted=True,
)

# The program's registry: every municipality onboarded, resident enrolled, contract amended or ended and house
# moved, in one order (one partition) that every service folds from the beginning into the same registry.
PROGRAM_REGISTRY = Topic(
    "program.registry", 1, key="municipality_id or house_id",
    carries=("MunicipalityOnboarded", "ResidentEnrolled", "ContractAmended", "HouseMoved", "ContractEnded"),
)

ALL_TOPICS: tuple[Topic, ...] = (
    PROGRAM_REGISTRY,
    METER_READINGS,
    METER_DEAD_LETTERS,
    CLOCK,
    INVOICES,
    PAYMENTS,
    PAST_DUE,
    ESCROW_MOVEMENTS,
    OFFERS,
    PRICES,
    BIDS,
    SETTLEMENTS,
    LEDGER_APPENDS,
    LEDGER_DEAD_LETTERS,
    LEDGER_CHECKPOINTS,
    FLEET_WINDOWS,
    FLEET_ALERTS,
    FLEET_HOUSES_CHANGELOG,
    FLEET_WINDOWS_CHANGELOG,
)
TOPICS_BY_NAME = {topic.name: topic for topic in ALL_TOPICS}
