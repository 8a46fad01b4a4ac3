"""Versioned event schemas for every topic, and their one wire encoding.

Every event is a frozen pydantic model with a deterministic ``event_id`` (the
idempotency key), a past-tense ``event_type``, a ``schema_version`` and a
timezone-aware event time. Changes are additive; a breaking change is a new
class with the next ``schema_version`` registered beside the old one.
"""

from __future__ import annotations

import json
import re
import uuid

import orjson
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
)

from energychain_shared.registry import ContractAmendment, Move, Municipality, Resident, as_enrolled
from energychain_shared.rules import canonical_json

# Namespace of every deterministic id in the system (uuid5 over the natural key).
ID_NAMESPACE = uuid.UUID("6f1c2a8e-3d1b-5b7a-9c4e-2e8f0a6d4b11")


def deterministic_id(kind: str, *natural_key: object) -> str:
    """A stable id for the thing identified by ``natural_key``: same input, same id."""
    return str(uuid.uuid5(ID_NAMESPACE, "|".join([kind, *map(str, natural_key)])))


def _utc(value: datetime) -> datetime:
    from datetime import timezone

    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
HouseId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
MunicipalityId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Cents = int
UsdPerKwh = Annotated[Decimal, Field(max_digits=12, decimal_places=6)]
UsdPerMwh = Annotated[Decimal, Field(max_digits=14, decimal_places=4)]


class EventDecodeError(ValueError):
    """Raised when bytes on a topic are not a known, valid event; the message says why."""


class Event(BaseModel):
    """Envelope fields every event carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: str
    schema_version: int
    event_id: str = Field(min_length=1, max_length=64)
    occurred_at: UtcDatetime
    producer: str = Field(min_length=1, max_length=64)

    partition_field: ClassVar[str | None] = None

    @property
    def partition_key(self) -> str | None:
        """The Kafka record key: the field named by ``partition_field``."""
        return None if self.partition_field is None else str(getattr(self, self.partition_field))


# -------------------------------------------------------------- program registry
class MunicipalityOnboarded(Event):
    """A municipality joined the program, with its time zone and escrow terms (its id is its natural key)."""

    event_type: Literal["MunicipalityOnboarded"] = "MunicipalityOnboarded"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "municipality_id"

    municipality: Municipality

    @property
    def municipality_id(self) -> str:
        return self.municipality.municipality_id

    @staticmethod
    def id_for(municipality: Municipality) -> str:
        """The same terms give the same id: sending an onboarding twice is one event."""
        return deterministic_id("municipality-onboarded", canonical_json(municipality.model_dump(mode="json")).decode())


class ResidentEnrolled(Event):
    """A house was enrolled with its resident's contract; ``occurred_at`` is the contract's start (event time)."""

    event_type: Literal["ResidentEnrolled"] = "ResidentEnrolled"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    resident: Resident

    @property
    def house_id(self) -> str:
        return self.resident.house_id

    @staticmethod
    def id_for(resident: Resident) -> str:
        """The same enrolment gives the same id: sending it twice is one event (its terms as enrolled: the
        later changes are events of their own)."""
        enrolled = as_enrolled(resident).model_dump(mode="json", exclude={"amendments", "moves"})
        return deterministic_id("resident-enrolled", canonical_json(enrolled).decode())


class ContractEnded(Event):
    """A house's contract ended (move-out) on ``end_date``, its last day; ``occurred_at`` is the end (event time)."""

    event_type: Literal["ContractEnded"] = "ContractEnded"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    house_id: HouseId
    end_date: date

    @staticmethod
    def id_for(house_id: str, end_date: date) -> str:
        return deterministic_id("contract-ended", house_id, end_date.isoformat())


class ContractAmended(Event):
    """A house's contract has new terms from ``amendment.effective_date``; ``occurred_at`` is that local
    midnight (event time)."""

    event_type: Literal["ContractAmended"] = "ContractAmended"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    house_id: HouseId
    amendment: ContractAmendment

    @staticmethod
    def id_for(house_id: str, amendment: ContractAmendment) -> str:
        return deterministic_id("contract-amended", house_id, canonical_json(amendment.model_dump(mode="json")).decode())


class HouseMoved(Event):
    """A house belongs to another municipality from ``move.effective_date``; ``occurred_at`` is that local
    midnight (event time)."""

    event_type: Literal["HouseMoved"] = "HouseMoved"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    house_id: HouseId
    move: Move

    @staticmethod
    def id_for(house_id: str, move: Move) -> str:
        return deterministic_id("house-moved", house_id, move.effective_date.isoformat(), move.municipality_id)


# ---------------------------------------------------------------- meter-ingest
class MeterReadingRecorded(Event):
    """One house's metered energy for one hour, in integer watt-hours."""

    event_type: Literal["MeterReadingRecorded"] = "MeterReadingRecorded"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    house_id: HouseId
    interval_start: UtcDatetime
    solar_wh: NonNegativeInt
    home_wh: NonNegativeInt
    battery_charged_wh: NonNegativeInt
    battery_discharged_wh: NonNegativeInt
    grid_import_wh: NonNegativeInt
    grid_export_wh: NonNegativeInt
    battery_level_pct: Annotated[int, Field(ge=0, le=100)] | None
    imbalance_wh: int = Field(description="sources minus sinks; 0 when the hour balances")
    quality_flags: tuple[str, ...] = ()
    source_file: str
    source_line: PositiveInt

    @property
    def interval_end(self) -> datetime:
        """End of the metered hour."""
        return self.interval_start + timedelta(hours=1)

    @staticmethod
    def id_for(house_id: str, interval_start: datetime) -> str:
        """A reading's identity is (house, interval start in UTC)."""
        return deterministic_id("MeterReadingRecorded", house_id, _utc(interval_start).isoformat())


class ClockWatermarkReached(Event):
    """In-band on each meter.readings partition: every reading before ``sim_time`` precedes this."""

    event_type: Literal["ClockWatermarkReached"] = "ClockWatermarkReached"
    schema_version: Literal[1] = 1

    sim_time: UtcDatetime
    partition: NonNegativeInt


class SimulatedClockAdvanced(Event):
    """The replay's simulated clock reached ``sim_time``."""

    event_type: Literal["SimulatedClockAdvanced"] = "SimulatedClockAdvanced"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "replay_id"

    replay_id: str
    sim_time: UtcDatetime
    speed: Decimal | None = Field(description="simulated seconds per second; None = as fast as possible")


class MeterReadingRejected(Event):
    """A meter row that failed validation, with the reason and where it came from."""

    event_type: Literal["MeterReadingRejected"] = "MeterReadingRejected"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "source_file"

    source_file: str
    source_line: NonNegativeInt
    reason: str = Field(description="machine-readable reason code, e.g. negative_value")
    detail: str
    raw: str
    house_id: str | None = None


class MeterReadingRedriven(Event):
    """An operator corrected a dead-lettered meter row and it was published as the reading ``reading_event_id``."""

    event_type: Literal["MeterReadingRedriven"] = "MeterReadingRedriven"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "source_file"

    dead_letter_id: str = Field(min_length=1, max_length=64, description="event_id of the MeterReadingRejected")
    reading_event_id: str = Field(min_length=1, max_length=64)
    house_id: HouseId
    source_file: str
    source_line: NonNegativeInt
    raw: str = Field(description="the corrected row, as submitted")
    redriven_by: str = Field(min_length=1, max_length=64, description="the operator (token subject)")

    @staticmethod
    def id_for(dead_letter_id: str) -> str:
        """A dead letter is resolved once: the marker's identity is the dead letter's."""
        return deterministic_id("MeterReadingRedriven", dead_letter_id)


# --------------------------------------------------------------------- billing
InvoiceLineKind = Literal[
    "ppa_energy", "reserve_refill", "trade_credit", "balance_forward", "late_adjustment"
]


class InvoiceLine(BaseModel):
    """One numbered line of an invoice, already rounded to the cent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: PositiveInt
    kind: InvoiceLineKind
    description: str
    energy_wh: int | None = None
    rate_usd_per_kwh: UsdPerKwh | None = None
    amount_cents: Cents


class InvoiceIssued(Event):
    """A resident's invoice for one billing period."""

    event_type: Literal["InvoiceIssued"] = "InvoiceIssued"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    invoice_id: str
    house_id: HouseId
    municipality_id: MunicipalityId
    period: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")]
    period_start: UtcDatetime
    period_end: UtcDatetime
    due_at: UtcDatetime
    lines: tuple[InvoiceLine, ...]
    total_cents: Cents


PaymentMethod = Literal["card", "venmo", "zelle", "ach"]


class PaymentReceived(Event):
    """A resident's payment, recorded exactly once."""

    event_type: Literal["PaymentReceived"] = "PaymentReceived"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    payment_id: str
    house_id: HouseId
    municipality_id: MunicipalityId
    invoice_id: str | None
    amount_cents: PositiveInt
    method: PaymentMethod


class InvoicePastDue(Event):
    """An invoice still unpaid when the simulated clock passed its due date."""

    event_type: Literal["InvoicePastDue"] = "InvoicePastDue"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    invoice_id: str
    house_id: HouseId
    municipality_id: MunicipalityId
    due_at: UtcDatetime
    unpaid_cents: PositiveInt


# ---------------------------------------------------------------------- escrow
EscrowMovementKind = Literal[
    "endowment", "payment_share", "past_due_cover", "repayment", "treasury_rollover"
]


class EscrowMoved(Event):
    """Money moved into or out of a municipality's escrow account."""

    event_type: Literal["EscrowMoved"] = "EscrowMoved"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "municipality_id"

    movement_id: str
    municipality_id: MunicipalityId
    kind: EscrowMovementKind
    amount_cents: Cents
    balance_after_cents: Cents
    house_id: HouseId | None = None
    invoice_id: str | None = None


# ------------------------------------------------------------------ gsa-market
class ReserveOffered(Event):
    """A resident offered part of its battery reserve for a delivery day."""

    event_type: Literal["ReserveOffered"] = "ReserveOffered"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    offer_id: str
    house_id: HouseId
    municipality_id: MunicipalityId
    delivery_day: date
    reserve_percent: Literal[25, 50, 75, 100]
    energy_wh: PositiveInt
    min_price_usd_per_kwh: UsdPerKwh


class OfferCancelled(Event):
    """A resident withdrew an open offer before it cleared."""

    event_type: Literal["OfferCancelled"] = "OfferCancelled"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    offer_id: str
    house_id: HouseId


class WholesalePricePublished(Event):
    """The wholesale market's price for one hour."""

    event_type: Literal["WholesalePricePublished"] = "WholesalePricePublished"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "market"

    market: str
    hour_start: UtcDatetime
    price_usd_per_mwh: UsdPerMwh


class BidSubmitted(Event):
    """The GSA's aggregated bid for one delivery hour."""

    event_type: Literal["BidSubmitted"] = "BidSubmitted"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "bid_id"

    bid_id: str
    delivery_hour: UtcDatetime
    energy_wh: PositiveInt
    offer_ids: tuple[str, ...]
    clearing_price_usd_per_mwh: UsdPerMwh | None


class TradeSettled(Event):
    """An offer's delivery verified against the meter and paid out (or not, with the reason)."""

    event_type: Literal["TradeSettled"] = "TradeSettled"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    settlement_id: str
    offer_id: str
    house_id: HouseId
    municipality_id: MunicipalityId
    delivery_hour: UtcDatetime
    offered_wh: NonNegativeInt
    delivered_wh: NonNegativeInt
    clearing_price_usd_per_mwh: UsdPerMwh
    proceeds_cents: NonNegativeInt
    fee_cents: NonNegativeInt
    credit_cents: NonNegativeInt
    refill_wh: NonNegativeInt
    shortfall_reason: str | None = None


# ------------------------------------------------------------ the fleet stream
FleetWindowKind = Literal["hour", "day"]
FleetAlertKind = Literal["silent_meter", "missing_hours", "repeated_imbalance"]


class FleetWindowUpdated(Event):
    """The running totals of one event-time window, for one municipality, from one partition of meter.readings.

    A window's totals are the sum over the partitions' latest updates; each update replaces the
    one before it for the same (municipality, kind, start, partition), so a repeated update
    changes nothing. ``final`` marks the last update, sent once the watermark passed the
    window's end plus the grace for late readings.
    """

    event_type: Literal["FleetWindowUpdated"] = "FleetWindowUpdated"
    schema_version: Literal[1] = 1

    municipality_id: MunicipalityId
    kind: FleetWindowKind
    window_start: UtcDatetime
    window_end: UtcDatetime
    local_date: date | None = Field(default=None, description="the municipality's calendar day of a day window")
    partition: NonNegativeInt
    version: PositiveInt = Field(description="this partition's update count of the window: the latest wins")
    final: bool = False
    readings: NonNegativeInt
    houses_reporting: NonNegativeInt
    readings_unbalanced: NonNegativeInt
    home_wh: NonNegativeInt
    solar_wh: NonNegativeInt
    grid_import_wh: NonNegativeInt
    grid_export_wh: NonNegativeInt
    battery_charged_wh: NonNegativeInt
    battery_discharged_wh: NonNegativeInt
    reserve_above_contract_wh: NonNegativeInt = Field(
        description="battery energy above the houses' contract reserves at their latest reading in the window"
    )

    @property
    def partition_key(self) -> str:
        return f"{self.municipality_id}|{self.kind}|{self.window_start.isoformat()}|{self.partition}"

    @staticmethod
    def id_for(municipality_id: str, kind: str, window_start: datetime, partition: int, version: int) -> str:
        """Deterministic: the window and how many updates of it this partition sent before."""
        return deterministic_id("FleetWindowUpdated", municipality_id, kind, _utc(window_start).isoformat(), partition,
                                version)


class FleetAlertRaised(Event):
    """A data-quality problem of one meter, seen in the stream: open until its FleetAlertCleared."""

    event_type: Literal["FleetAlertRaised"] = "FleetAlertRaised"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    alert_id: str = Field(min_length=1, max_length=64, description='deterministic_id("FleetAlert", house, kind, since)')
    kind: FleetAlertKind
    house_id: HouseId
    municipality_id: MunicipalityId | None
    since: UtcDatetime = Field(description="event time the problem starts at (the first hour missing or unbalanced)")
    detail: str


class FleetAlertCleared(Event):
    """The meter's problem ended (it reported again, the missing hours arrived, an hour balanced)."""

    event_type: Literal["FleetAlertCleared"] = "FleetAlertCleared"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "house_id"

    alert_id: str = Field(min_length=1, max_length=64)
    kind: FleetAlertKind
    house_id: HouseId
    municipality_id: MunicipalityId | None
    cleared_at: UtcDatetime = Field(description="event time of the reading that ended it")


# ---------------------------------------------------------------------- ledger
class Transfer(BaseModel):
    """A balanced double-entry money movement: ``amount_cents`` from credit to debit account."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    debit_account: str = Field(min_length=1, max_length=128)
    credit_account: str = Field(min_length=1, max_length=128)
    amount_cents: PositiveInt
    memo: str = ""


class LedgerAppendRequested(Event):
    """A producing service asks the ledger to append a signed entry to one or more channels."""

    event_type: Literal["LedgerAppendRequested"] = "LedgerAppendRequested"
    schema_version: Literal[1] = 1

    entry_id: str = Field(min_length=1, max_length=64)
    channels: tuple[str, ...] = Field(min_length=1)
    kind: str = Field(min_length=1, max_length=64)
    body: dict[str, Any]
    transfers: tuple[Transfer, ...] = ()
    signature: str = Field(description="base64 Ed25519 signature over signing_payload()")

    @property
    def partition_key(self) -> str:
        """Appends to one channel stay ordered: key by the first channel."""
        return self.channels[0]

    def signing_payload(self) -> bytes:
        """The canonical bytes a producer signs and the ledger verifies."""
        return canonical_json(
            self.model_dump(mode="json", exclude={"signature", "event_id", "event_type", "schema_version"})
        )


class LedgerAppendRejected(Event):
    """An append the ledger refused (bad signature, conflicting body, unbalanced), with why."""

    event_type: Literal["LedgerAppendRejected"] = "LedgerAppendRejected"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "entry_id"

    entry_id: str
    reason: str
    detail: str
    request: dict[str, Any]


class LedgerCheckpointSigned(Event):
    """The ledger signed a checkpoint of its log of heads (C2SP signed note, docs/LEDGER.md)."""

    event_type: Literal["LedgerCheckpointSigned"] = "LedgerCheckpointSigned"
    schema_version: Literal[1] = 1
    partition_field: ClassVar[str] = "origin"

    origin: str = Field(min_length=1, max_length=256)
    size: PositiveInt
    root: str = Field(description="base64 SHA-256 root of the log of heads")
    note: str = Field(description="the signed checkpoint note, as the API serves it without cosignatures")


# ---------------------------------------------------------------- the registry
EVENT_CLASSES: tuple[type[Event], ...] = (
    MunicipalityOnboarded,
    ResidentEnrolled,
    ContractEnded,
    ContractAmended,
    HouseMoved,
    MeterReadingRecorded,
    ClockWatermarkReached,
    SimulatedClockAdvanced,
    MeterReadingRejected,
    MeterReadingRedriven,
    InvoiceIssued,
    PaymentReceived,
    InvoicePastDue,
    EscrowMoved,
    ReserveOffered,
    OfferCancelled,
    WholesalePricePublished,
    BidSubmitted,
    TradeSettled,
    LedgerAppendRequested,
    LedgerAppendRejected,
    LedgerCheckpointSigned,
    FleetWindowUpdated,
    FleetAlertRaised,
    FleetAlertCleared,
)
REGISTRY: dict[tuple[str, int], type[Event]] = {
    (cls.model_fields["event_type"].default, cls.model_fields["schema_version"].default): cls
    for cls in EVENT_CLASSES
}


def encode(event: Event) -> bytes:
    """Wire encoding of an event (JSON)."""
    return event.model_dump_json().encode()


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in problem['loc']) or '<event>'}: {problem['msg']}"
        for problem in error.errors()
    )


_READING_FIELDS = frozenset(MeterReadingRecorded.model_fields)
_TIMES: dict[str, datetime] = {}


def _utc_time(text: str) -> datetime:
    known = _TIMES.get(text)
    if known is None:
        if len(_TIMES) > 100_000:
            _TIMES.clear()
        known = datetime.fromisoformat(text)
        if known.tzinfo is None:
            raise ValueError(f"{text!r} has no time zone")
        known = _TIMES[text] = _utc(known)
    return known


def decode_reading_stream(raw: bytes) -> Event:
    """``decode`` for meter.readings, whose one producer validated every reading it published.

    A reading is built without re-validating it (about a tenth of the cost: the pipeline's
    consumers take millions), from exactly its own fields with its times parsed as UTC; any
    record that is not a well-formed reading of that shape goes through ``decode``.
    """
    try:
        data = orjson.loads(raw)
        if (type(data) is dict and data.get("event_type") == "MeterReadingRecorded"
                and data.get("schema_version") == 1 and data.keys() == _READING_FIELDS and _plain_reading(data)):
            data["interval_start"] = _utc_time(data["interval_start"])
            data["occurred_at"] = _utc_time(data["occurred_at"])
            data["quality_flags"] = tuple(data["quality_flags"])
            return _built_reading(data)
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError):
        pass
    return decode(raw)


def _built_reading(values: dict[str, Any]) -> MeterReadingRecorded:
    """``MeterReadingRecorded.model_construct(**values)`` for values holding exactly its fields: what
    model_construct does then, without its per-field alias and default lookups (half a decode's cost)."""
    built = MeterReadingRecorded.__new__(MeterReadingRecorded)
    object.__setattr__(built, "__dict__", values)
    object.__setattr__(built, "__pydantic_fields_set__", set(values))
    object.__setattr__(built, "__pydantic_extra__", None)
    object.__setattr__(built, "__pydantic_private__", None)
    return built


# What _built_reading relies on: no aliases, no post-init, no private attributes, no extra fields kept.
assert MeterReadingRecorded.__pydantic_post_init__ is None and not MeterReadingRecorded.__private_attributes__
assert all(f.alias is None and f.validation_alias is None for f in MeterReadingRecorded.model_fields.values())
assert MeterReadingRecorded.model_config.get("extra") != "allow"


_READING_WH = ("solar_wh", "home_wh", "battery_charged_wh", "battery_discharged_wh", "grid_import_wh",
               "grid_export_wh")
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _plain_reading(data: dict) -> bool:
    """Every rule MeterReadingRecorded's validation applies, for the shape meter-ingest writes."""
    level = data["battery_level_pct"]
    flags = data["quality_flags"]
    return (
        all(type(data[f]) is int and data[f] >= 0 for f in _READING_WH)
        and type(data["imbalance_wh"]) is int
        and (level is None or (type(level) is int and 0 <= level <= 100))
        and type(data["source_line"]) is int and data["source_line"] > 0
        and type(data["source_file"]) is str
        and type(data["house_id"]) is str and _ID_PATTERN.match(data["house_id"]) is not None
        and all(type(data[f]) is str and 0 < len(data[f]) <= 64 for f in ("event_id", "producer"))
        and type(data["interval_start"]) is str and type(data["occurred_at"]) is str
        and type(flags) is list and all(type(f) is str for f in flags)
    )


def decode(raw: bytes | str) -> Event:
    """Parse and validate wire bytes into the registered event class, or explain why not."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EventDecodeError(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise EventDecodeError(f"event must be a JSON object, got {type(data).__name__}")
    key = (data.get("event_type"), data.get("schema_version"))
    cls = REGISTRY.get(key)  # type: ignore[arg-type]
    if cls is None:
        known = ", ".join(sorted(f"{t} v{v}" for t, v in REGISTRY))
        raise EventDecodeError(f"unknown event type/version {key[0]!r} v{key[1]!r}; known: {known}")
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        raise EventDecodeError(f"{key[0]} v{key[1]}: {_describe(error)}") from None
