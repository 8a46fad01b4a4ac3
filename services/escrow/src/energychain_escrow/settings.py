"""Settings of escrow (EC_ESCROW_*), on top of the common ones; the terms per municipality are in the registry."""

from __future__ import annotations

from pydantic import Field

from energychain_shared.settings import CommonSettings


class EscrowSettings(CommonSettings):
    """Where escrow listens and keeps its state."""

    escrow_port: int = Field(default=8104, ge=1, le=65535)
    escrow_host: str = "127.0.0.1"
    escrow_group: str = Field(default="escrow", min_length=1, max_length=100, description="Consumer group.")
    escrow_batch: int = Field(default=5000, gt=0, description="Records per poll.")
    escrow_db_schema: str = Field(
        default="escrow", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema of escrow's state."
    )
