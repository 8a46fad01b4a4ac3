"""Settings of billing (EC_BILLING_*), on top of the common ones."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from energychain_shared.settings import CommonSettings


class BillingSettings(CommonSettings):
    """Every billing number is configurable; defaults are PRODUCT.md's."""

    billing_port: int = Field(default=8103, ge=1, le=65535)
    billing_host: str = "127.0.0.1"
    billing_grace_hours: int = Field(default=48, ge=0, le=24 * 31, description="Wait for late readings before invoicing.")
    billing_due_days: int = Field(default=21, ge=0, le=365, description="Payment is due this many days after issue.")
    billing_readings_batch: int = Field(default=5000, gt=0, description="Records per poll of meter.readings.")
    billing_group: str = Field(
        default="billing", min_length=1, max_length=100, description="Consumer group (under the topic prefix)."
    )
    billing_db_schema: str = Field(
        default="billing", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema of billing's state."
    )

    @property
    def grace(self) -> timedelta:
        """The grace period after a period's end."""
        return timedelta(hours=self.billing_grace_hours)
