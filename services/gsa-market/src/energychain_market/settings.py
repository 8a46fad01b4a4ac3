"""Settings of the GSA market (EC_MARKET_*), on top of the common ones."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from energychain_shared.settings import CommonSettings


class MarketSettings(CommonSettings):
    """Every number of the market is configurable; defaults are the demo's."""

    market_port: int = Field(default=8105, ge=1, le=65535)
    market_host: str = "127.0.0.1"
    market_name: str = Field(default="demo-day-ahead", min_length=1, max_length=64)
    market_timezone: str = Field(default="America/Los_Angeles", description="Zone of the price model's local hours.")
    market_fee_percent: Decimal = Field(default=Decimal("10"), ge=0, le=100)
    market_min_aggregate_wh: int = Field(default=0, ge=0, description="Minimum hourly bid size; 0 for the demo.")
    market_max_price_usd_per_kwh: Decimal = Field(default=Decimal("1.00"), gt=0)
    market_gate_closure_hours_before: int = Field(
        default=0, ge=0, le=72, description="Gate closure = local start of the delivery day minus this many hours."
    )
    market_price_seed: int = 2021
    market_price_csv: Path | None = Field(default=None, description="Real hourly prices in place of the model.")
    market_price_publication: Literal["day_ahead", "delivery_day"] = "day_ahead"
    market_day_ahead_hour: int = Field(default=12, ge=0, le=23)
    market_price_backfill_days: int = Field(
        default=1, ge=0, le=366, description="Days before the first clock tick whose prices are published too."
    )
    market_mechanism: Literal["one_sided_pay_as_clear"] = "one_sided_pay_as_clear"
    market_readings_batch: int = Field(default=5000, gt=0)
    market_fleet_grace_hours: int = Field(
        default=48, ge=0, le=24 * 31, description="Fleet windows wait this long for late readings (billing's grace)."
    )
    market_fleet_silent_hours: int = Field(default=6, ge=1, description="Simulated hours without a reading: silent meter.")
    market_fleet_imbalance_streak: int = Field(default=3, ge=1, description="Unbalanced hours in a row: an alert.")
    market_fleet_flush_readings: int = Field(
        default=10000, gt=0, description="The fleet process writes its tables at the latest after this many records."
    )
    market_fleet_flush_seconds: float = Field(
        default=1.0, gt=0, description="... or at the first watermark this many seconds after its last write."
    )
    market_fleet_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Port of the fleet process's /metrics (Prometheus); 0: not served."
    )
    market_fleet_view_hours: int = Field(default=24 * 7, ge=1, description="Hours of windows the API keeps.")
    market_db_schema: str = Field(
        default="market", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema of the market's state."
    )

    @field_validator("market_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("market_price_csv")
    @classmethod
    def _csv_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"price file {value} does not exist")
        return value
