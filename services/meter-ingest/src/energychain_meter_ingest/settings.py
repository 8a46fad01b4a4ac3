"""Meter-ingest settings: the shared EC_* settings plus this service's own."""

from __future__ import annotations

from pathlib import Path

from energychain_shared.settings import REPO_ROOT, CommonSettings
from pydantic import Field, field_validator

from energychain_meter_ingest.domain.clock import parse_speed

DEFAULT_MANIFEST = REPO_ROOT / "data" / "generated" / "demo" / "manifest.json"


class MeterIngestSettings(CommonSettings):
    """EC_METER_INGEST_* settings."""

    meter_ingest_host: str = Field(default="127.0.0.1", description="Ops API bind address.")
    meter_ingest_port: int = Field(default=8101, ge=1, le=65535, description="Ops API port.")
    meter_ingest_manifest: Path = Field(default=DEFAULT_MANIFEST, description="house_id -> export file manifest.")
    meter_ingest_replay_id: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
    meter_ingest_speed: str = Field(default="3600", description="Simulated s per wall s; 0 or max = flat out.")
    meter_ingest_max_wh_per_hour: int = Field(default=50_000, gt=0, description="Above this a value is absurd.")
    meter_ingest_imbalance_tolerance_wh: int = Field(default=30, ge=0, description="Imbalance flagged above this.")
    meter_ingest_checkpoint_interval_s: float = Field(default=1.0, gt=0, description="Max wall s between checkpoints.")
    meter_ingest_batch_bytes: int = Field(default=1_000_000, ge=16_384, le=1_000_000, description="Producer batch size.")
    meter_ingest_linger_ms: int = Field(default=20, ge=0, le=1000)

    @field_validator("meter_ingest_speed")
    @classmethod
    def _valid_speed(cls, value: str) -> str:
        parse_speed(value)
        return value
