"""The registry of municipalities, residents and their PPA contracts (data/registry.json).

It is the single source every service reads them from; this module only
defines and loads it (the rules that use it live in the services).
"""

from __future__ import annotations

from datetime import date
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

    @model_validator(mode="after")
    def _reserve_fits_battery(self) -> Contract:
        if self.reserve_wh > self.battery_wh:
            raise ValueError("reserve_wh exceeds battery_wh")
        return self


class Resident(_Frozen):
    """A household in the program: its login name, address, house and contract."""

    house_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    username: str = Field(pattern=r"^[a-z0-9_.-]+$")
    name: str
    address: str
    municipality_id: str
    contract: Contract


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
        unknown = {r.municipality_id for r in self.residents} - set(municipality_ids)
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
