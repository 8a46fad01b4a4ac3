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
    # Sign-in throttling (POST /auth/token): wrong passwords for one username, or from one client address,
    # within the window lock that key for the lockout; a locked key gets 429 with Retry-After.
    ledger_login_max_failures: int = Field(default=5, ge=1, description="Failures per username that lock it.")
    ledger_login_max_failures_per_address: int = Field(
        default=20, ge=1, description="Failures from one client address that lock it (any usernames).")
    ledger_login_window_s: float = Field(default=900.0, gt=0, description="How long failures are counted.")
    ledger_login_lockout_s: float = Field(default=60.0, gt=0, description="How long a locked key waits.")
    ledger_login_trusted_proxies: list[str] = Field(
        default=["127.0.0.1/32", "::1/128"],
        description="Networks (CIDR) of proxies whose X-Forwarded-For names the client (the web server's /api).")
