"""The registry of municipalities, residents and their PPA contracts.

It is the single source every service reads them from: the seed file
(data/registry.json) read at start, then the changes on the ``program.registry``
topic folded on top of it, live (energychain_shared.registry_feed). This module
defines it, loads the file and holds the rules of a change (`RegistryBook`); the
rules that use the registry live in the services.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator, model_validator

BillingBasis = Literal["delivered", "all_consumption"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EscrowTerms(_Frozen):
    """A municipality's escrow constants."""

    endowment_cents: NonNegativeInt = 100_000
    share_percent: Decimal = Field(default=Decimal("5"), ge=0, le=100)
    cap_cents: NonNegativeInt = 250_000


class Municipality(_Frozen):
    """A city with residents in the program, its time zone and escrow terms."""

    municipality_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    timezone: str = "America/Los_Angeles"
    latitude: Decimal = Field(default=Decimal("36.61"), ge=-90, le=90)
    escrow: EscrowTerms = EscrowTerms()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The municipality's time zone (billing periods are its calendar months)."""
        return ZoneInfo(self.timezone)


class Contract(_Frozen):
    """A resident's PPA contract."""

    rate_usd_per_kwh: Decimal = Field(gt=0, max_digits=8, decimal_places=6)
    escalator_percent: Decimal = Field(default=Decimal("2"), ge=0, le=100)
    battery_wh: PositiveInt
    reserve_wh: NonNegativeInt
    start_date: date
    billing_basis: BillingBasis = "delivered"
    end_date: date | None = Field(default=None, description="the contract's last day (move-out), when it ended")

    @model_validator(mode="after")
    def _reserve_fits_battery(self) -> Contract:
        if self.reserve_wh > self.battery_wh:
            raise ValueError("reserve_wh exceeds battery_wh")
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self

    def ends_at(self, zone: ZoneInfo) -> datetime | None:
        """The instant the contract ends (local midnight after its last day, UTC); None while it runs."""
        if self.end_date is None:
            return None
        return datetime.combine(self.end_date + timedelta(days=1), time(0), tzinfo=zone).astimezone(timezone.utc)


class ContractAmendment(_Frozen):
    """The terms a contract has from ``effective_date`` (local midnight) on, until a later amendment.

    An amendment replaces the base rate, the escalator, the reserve and the billing basis; contract
    years still count from the contract's start date, so the rate of an hour is the amended base rate
    escalated by its contract year.
    """

    effective_date: date
    rate_usd_per_kwh: Decimal = Field(gt=0, max_digits=8, decimal_places=6)
    escalator_percent: Decimal = Field(ge=0, le=100)
    reserve_wh: NonNegativeInt
    billing_basis: BillingBasis


AMENDABLE_TERMS = ("rate_usd_per_kwh", "escalator_percent", "reserve_wh", "billing_basis")


class AmendmentRequest(_Frozen):
    """An amendment as an operator asks for it: the terms to change from ``effective_date``; the others stay
    as they are in force that day."""

    effective_date: date
    rate_usd_per_kwh: Decimal | None = Field(default=None, gt=0, max_digits=8, decimal_places=6)
    escalator_percent: Decimal | None = Field(default=None, ge=0, le=100)
    reserve_wh: NonNegativeInt | None = None
    billing_basis: BillingBasis | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> AmendmentRequest:
        if all(getattr(self, name) is None for name in AMENDABLE_TERMS):
            raise ValueError(f"name at least one of {', '.join(AMENDABLE_TERMS)}")
        return self

    def applied_to(self, resident: Resident) -> ContractAmendment:
        """The whole terms from the effective date: those asked for over those in force that day."""
        in_force = resident.contract_on(self.effective_date)
        return ContractAmendment(effective_date=self.effective_date, **{
            name: getattr(in_force, name) if getattr(self, name) is None else getattr(self, name)
            for name in AMENDABLE_TERMS})


class Move(_Frozen):
    """The house belongs to ``municipality_id`` from ``effective_date`` (local midnight) on."""

    effective_date: date
    municipality_id: str


class Resident(_Frozen):
    """A household in the program: its login name, address, house and contract.

    ``municipality_id`` and ``contract`` are the terms it was enrolled with; ``amendments`` and
    ``moves`` are the later changes, in date order. `contract_on` and `municipality_on` give what
    is in force on a day; `municipalities_from` when each municipality's piece begins.
    """

    house_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    username: str = Field(pattern=r"^[a-z0-9_.-]+$")
    name: str
    address: str
    municipality_id: str
    contract: Contract
    amendments: tuple[ContractAmendment, ...] = ()
    moves: tuple[Move, ...] = ()

    def contract_on(self, day: date) -> Contract:
        """The contract in force on the local day ``day``: the enrolled terms with the last amendment
        effective by then applied."""
        contract = self.contract
        for amendment in self.amendments:
            if amendment.effective_date > day:
                break
            contract = contract.model_copy(update=amendment.model_dump(exclude={"effective_date"}))
        return contract

    def municipality_on(self, day: date) -> str:
        """The municipality the house belongs to on the local day ``day``."""
        current = self.municipality_id
        for move in self.moves:
            if move.effective_date > day:
                break
            current = move.municipality_id
        return current

    @property
    def latest_municipality_id(self) -> str:
        """The municipality of the house's last registered move (its enrolment's when it never moved)."""
        return self.moves[-1].municipality_id if self.moves else self.municipality_id

    def municipalities_from(self) -> list[tuple[date | None, str]]:
        """Each municipality the house belonged to with the day it joined (None: since enrolment)."""
        return [(None, self.municipality_id), *((m.effective_date, m.municipality_id) for m in self.moves)]


class Registry(_Frozen):
    """All municipalities and residents; lookups by id."""

    municipalities: tuple[Municipality, ...]
    residents: tuple[Resident, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Registry:
        municipality_ids = [m.municipality_id for m in self.municipalities]
        if len(set(municipality_ids)) != len(municipality_ids):
            raise ValueError("duplicate municipality_id")
        for field in ("house_id", "username"):
            values = [getattr(r, field) for r in self.residents]
            if len(set(values)) != len(values):
                raise ValueError(f"duplicate resident {field}")
        unknown = {m for r in self.residents for _, m in r.municipalities_from()} - set(municipality_ids)
        if unknown:
            raise ValueError(f"residents reference unknown municipalities: {sorted(unknown)}")
        return self

    @cached_property
    def by_house(self) -> dict[str, Resident]:
        """Residents by house id."""
        return {r.house_id: r for r in self.residents}

    @cached_property
    def by_username(self) -> dict[str, Resident]:
        """Residents by login name."""
        return {r.username: r for r in self.residents}

    @cached_property
    def by_municipality(self) -> dict[str, Municipality]:
        """Municipalities by id."""
        return {m.municipality_id: m for m in self.municipalities}

    def resident(self, house_id: str) -> Resident:
        """The resident living in ``house_id`` (KeyError naming it when unknown)."""
        try:
            return self.by_house[house_id]
        except KeyError:
            raise KeyError(f"unknown house {house_id!r}") from None

    def municipality_of(self, house_id: str) -> Municipality:
        """The municipality a house belongs to."""
        return self.by_municipality[self.resident(house_id).municipality_id]


def load_registry(path: Path) -> Registry:
    """Read and validate the registry file."""
    return Registry.model_validate_json(Path(path).read_bytes())


class RegistryRefusal(ValueError):
    """A change the registry refuses; ``field`` names what is wrong, ``rule`` the rule when one refused,
    ``status`` the HTTP answer."""

    status = 422

    def __init__(self, field: str, message: str, *, rule: str | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.rule = rule


class RegistryConflict(RegistryRefusal):
    """The change contradicts what is registered (a second enrolment of a house with other terms)."""

    status = 409


def as_enrolled(resident: Resident) -> Resident:
    """The resident as enrolled: its contract's end, amendments and moves are later changes, not terms of
    the enrolment."""
    if resident.contract.end_date is None and not resident.amendments and not resident.moves:
        return resident
    return resident.model_copy(update={"contract": resident.contract.model_copy(update={"end_date": None}),
                                       "amendments": (), "moves": ()})


class RegistryBook:
    """The registry as it is folded, change by change: the rules of onboarding and enrolment.

    Sending a change that is already registered with the same terms changes nothing
    (returns False); a municipality or house registered with other terms, or a username
    that another house holds, is a `RegistryConflict`; a resident of a municipality not
    onboarded is a `RegistryRefusal`.
    """

    def __init__(self, base: Registry | None = None) -> None:
        self.municipalities: dict[str, Municipality] = {} if base is None else dict(base.by_municipality)
        self.residents: dict[str, Resident] = {} if base is None else dict(base.by_house)
        self._house_of_username = {r.username: r.house_id for r in self.residents.values()}

    def onboard(self, municipality: Municipality) -> bool:
        """Add a municipality; False when it is there with the same terms."""
        known = self.municipalities.get(municipality.municipality_id)
        if known == municipality:
            return False
        if known is not None:
            raise RegistryConflict("municipality_id", f"{municipality.municipality_id!r} is onboarded with other terms")
        self.municipalities[municipality.municipality_id] = municipality
        return True

    def check_enrolment(self, resident: Resident) -> bool:
        """Whether ``resident`` is new (True), already enrolled alike (False); refused otherwise."""
        for later in ("amendments", "moves"):
            if getattr(resident, later):
                raise RegistryRefusal(later, "an enrolment carries the terms at the contract's start; amend or move "
                                      "an enrolled house through its own change")
        known = self.residents.get(resident.house_id)
        if known is not None and as_enrolled(known) == as_enrolled(resident):
            return False
        if known is not None:
            raise RegistryConflict("house_id", f"{resident.house_id!r} is enrolled with other terms")
        holder = self._house_of_username.get(resident.username)
        if holder is not None:
            raise RegistryConflict("username", f"{resident.username!r} is the resident of {holder!r}")
        if resident.municipality_id not in self.municipalities:
            raise RegistryRefusal("municipality_id", f"{resident.municipality_id!r} is not onboarded")
        return True

    def enrol(self, resident: Resident) -> bool:
        """Add a resident with its contract; False when it is enrolled with the same terms."""
        if not self.check_enrolment(resident):
            return False
        self.residents[resident.house_id] = resident
        self._house_of_username[resident.username] = resident.house_id
        return True

    def end_contract(self, house_id: str, end_date: date) -> bool:
        """End a house's contract on ``end_date`` (its last day); False when it ended that day already."""
        known = self.residents.get(house_id)
        if known is None:
            raise RegistryRefusal("house_id", f"{house_id!r} is not enrolled")
        if known.contract.end_date == end_date:
            return False
        if known.contract.end_date is not None:
            raise RegistryConflict("end_date", f"the contract of {house_id!r} ended on {known.contract.end_date}")
        if end_date < known.contract.start_date:
            raise RegistryRefusal("end_date", f"is before the contract's start {known.contract.start_date}")
        self.residents[house_id] = known.model_copy(
            update={"contract": known.contract.model_copy(update={"end_date": end_date})})
        return True

    def _changeable(self, house_id: str, effective_date: date, what: str) -> Resident:
        """The enrolled house a change from ``effective_date`` may apply to (refused otherwise)."""
        known = self.residents.get(house_id)
        if known is None:
            raise RegistryRefusal("house_id", f"{house_id!r} is not enrolled")
        contract = known.contract
        if effective_date <= contract.start_date:
            raise RegistryRefusal("effective_date", f"a {what} takes effect after the contract's start "
                                  f"{contract.start_date}", rule="effective_date_after_start")
        if contract.end_date is not None and effective_date > contract.end_date:
            raise RegistryRefusal("effective_date", f"the contract ended on {contract.end_date}",
                                  rule="effective_date_after_contract_end")
        return known

    def amend(self, house_id: str, amendment: ContractAmendment) -> bool:
        """Give a house's contract new terms from ``amendment.effective_date``; False when that amendment is
        registered already. Amendments go forward in time: one dated on or before the last is a conflict."""
        known = self._changeable(house_id, amendment.effective_date, "contract amendment")
        if amendment in known.amendments:
            return False
        if known.amendments and amendment.effective_date <= known.amendments[-1].effective_date:
            raise RegistryConflict("effective_date", f"the contract of {house_id!r} is amended from "
                                   f"{known.amendments[-1].effective_date}: a later amendment takes a later date",
                                   rule="amended_from_a_later_date")
        if amendment.reserve_wh > known.contract.battery_wh:
            raise RegistryRefusal("reserve_wh", f"exceeds the battery ({known.contract.battery_wh} Wh)")
        self.residents[house_id] = known.model_copy(update={"amendments": (*known.amendments, amendment)})
        return True

    def move(self, house_id: str, move: Move) -> bool:
        """Move a house to another municipality from ``move.effective_date``; False when that move is
        registered already. A move keeps the time zone (billing periods and contract years are local days)
        and goes forward in time."""
        known = self._changeable(house_id, move.effective_date, "move")
        if move in known.moves:
            return False
        if known.moves and move.effective_date <= known.moves[-1].effective_date:
            raise RegistryConflict("effective_date", f"{house_id!r} moved on {known.moves[-1].effective_date}: "
                                   "a later move takes a later date", rule="moved_from_a_later_date")
        target = self.municipalities.get(move.municipality_id)
        if target is None:
            raise RegistryRefusal("municipality_id", f"{move.municipality_id!r} is not onboarded")
        current = known.municipality_on(move.effective_date)
        if move.municipality_id == current:
            raise RegistryRefusal("municipality_id", f"{house_id!r} belongs to {current!r} on "
                                  f"{move.effective_date} already", rule="move_to_another_municipality")
        if target.timezone != self.municipalities[current].timezone:
            raise RegistryRefusal("municipality_id", f"{move.municipality_id!r} keeps {target.timezone}, "
                                  f"{current!r} {self.municipalities[current].timezone}: a move keeps the time zone",
                                  rule="move_keeps_time_zone")
        self.residents[house_id] = known.model_copy(update={"moves": (*known.moves, move)})
        return True

    def snapshot(self) -> Registry:
        """The registry as folded so far (municipalities and residents in the order they joined)."""
        return Registry(municipalities=tuple(self.municipalities.values()), residents=tuple(self.residents.values()))
