"""Ledger settings: the common EC_* settings plus the ledger's own (EC_LEDGER_*)."""

from __future__ import annotations

from pydantic import Field

from energychain_shared.settings import CommonSettings


class LedgerSettings(CommonSettings):
    """Everything the ledger process reads from the environment or .env."""

    ledger_port: int = Field(default=8102, ge=1, le=65535)
    ledger_host: str = "127.0.0.1"
    ledger_consumer_group: str = "ledger"
    ledger_record_readings: bool = Field(
        default=True, description="Append every meter reading to its resident's channel (consumer of meter.readings)."
    )
    ledger_batch_max: int = Field(default=10000, ge=1, description="Most appends persisted in one transaction.")
    ledger_poll_timeout_ms: int = Field(default=200, ge=1)
    ledger_origin: str = Field(
        default="energychain.local/ledger", min_length=1, max_length=200, pattern=r"^[^\s+]+$",
        description="The checkpoints' origin line and key name (C2SP tlog-checkpoint); unique per ledger.",
    )
    ledger_verify_threads: int = Field(
        default=2, ge=1, le=32, description="Threads checking a batch's signatures (libsodium releases the GIL)."
    )
    ledger_db_pool_size: int = Field(default=5, ge=1)
