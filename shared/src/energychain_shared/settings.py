"""Settings common to every EnergyChain process: one env prefix (EC_), one .env file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from energychain_shared.topics import Topic

ENV_PREFIX = "EC_"
REPO_ROOT = Path(__file__).resolve().parents[3]

# How long an idle keep-alive connection lives, on both ends. Every API server (uvicorn's
# timeout_keep_alive) keeps one open for SERVER_KEEP_ALIVE_S; a client that pools connections to
# them (the web server's proxy) drops an idle one after CLIENT_KEEPALIVE_EXPIRY_S, earlier, so it
# never sends a request on a connection the server is closing at that moment (the request would
# fail with "Server disconnected without sending a response"). httpx's default expiry (5 s) is
# below it too.
SERVER_KEEP_ALIVE_S = 75
CLIENT_KEEPALIVE_EXPIRY_S = 60.0
# The longest request head (request line and headers) every API server reads whole (uvicorn's
# h11_max_incomplete_event_size), so that the guard (energychain_shared.problems) judges it and answers
# with a problem naming the input: one string of the guard's 32,768 characters is up to twelve times
# as long percent-encoded (a 4-byte character is %XX%XX%XX%XX). Under h11's default (16 KiB) a longer
# head arriving in more than one read was refused with a plain-text 400 and the connection closed
# while the client was still sending it, so the client saw a reset, not an answer.
SERVER_MAX_HEAD_BYTES = 1 << 20


class CommonSettings(BaseSettings):
    """Infrastructure settings every service shares; services subclass to add their own."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    run_dir: Path = Field(default=REPO_ROOT / ".run", description="Local state: data, logs, pids, keys.")
    keys_dir: Path | None = Field(default=None, description="Ed25519 keys; defaults to <run_dir>/keys.")
    registry_path: Path = Field(
        default=REPO_ROOT / "data" / "registry.json",
        description="The seed registry (municipalities, residents, contracts) every service reads at start; "
        "changes since come from the program.registry topic, applied live.",
    )
    registry_refresh_s: float = Field(
        default=1.0, gt=0, le=60,
        description="How often each service reads the program.registry topic for new enrolments (a reading of "
        "a house not yet known also makes it read the topic to its end first).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = Field(
        default="", pattern=r"^[A-Za-z0-9._-]*$", description="Prepended to every topic name (isolation)."
    )
    kafka_client_timeout_s: float = Field(default=10.0, gt=0)
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="Replicas of every topic energychain-topics creates (3 on a three-broker cluster)."
    )
    kafka_min_insync_replicas: int = Field(
        default=1, ge=1,
        description="min.insync.replicas of every topic created: with acks=all, a write needs this many replicas (2 of 3).",
    )

    pg_host: str = "127.0.0.1"
    pg_port: int = Field(default=5433, ge=1, le=65535)
    pg_user: str = "energychain"
    pg_password: SecretStr = SecretStr("")
    pg_database: str = "energychain"

    token_ttl_s: int = Field(default=3600, gt=0, description="Lifetime of access tokens.")
    token_revocation_refresh_s: float = Field(
        default=10.0, gt=0, le=3600,
        description="How often each API refreshes the ledger's list of revoked users: the bound on how long a "
        "disabled user's token still works outside the ledger.",
    )

    # Where each service's API is reached by clients (the CLI, the web server, the demo driver).
    meter_ingest_url: str = "http://127.0.0.1:8101"
    ledger_url: str = "http://127.0.0.1:8102"
    billing_url: str = "http://127.0.0.1:8103"
    escrow_url: str = "http://127.0.0.1:8104"
    market_url: str = "http://127.0.0.1:8105"

    def topic(self, topic: Topic) -> str:
        """The broker-side name of a registered topic under this installation's prefix."""
        return f"{self.topic_prefix}{topic.name}"

    @property
    def resolved_keys_dir(self) -> Path:
        """Directory holding this installation's key pairs."""
        return self.keys_dir if self.keys_dir is not None else self.run_dir / "keys"

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL for asyncpg built from the EC_PG_* settings."""
        password = quote(self.pg_password.get_secret_value(), safe="")
        return (
            f"postgresql+asyncpg://{quote(self.pg_user, safe='')}:{password}"
            f"@{self.pg_host}:{self.pg_port}/{self.pg_database}"
        )

    @property
    def asyncpg_dsn(self) -> str:
        """The same database as a plain DSN, for asyncpg where it is used directly (COPY, the hot paths)."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def describe_validation_error(error: ValidationError, *, prefix: str = ENV_PREFIX) -> str:
    """One line naming each bad setting as its environment variable."""
    parts = []
    for problem in error.errors():
        name = prefix + "_".join(str(p) for p in problem["loc"]).upper()
        parts.append(f"{name}: {problem['msg']} (got {problem.get('input')!r})")
    return "bad setting " + "; ".join(parts)


def load_settings(settings_cls: type[SettingsT]) -> SettingsT:
    """Build settings or exit with one clear line naming the bad variable."""
    try:
        return settings_cls()
    except ValidationError as error:
        print(f"energychain: {describe_validation_error(error)}", file=sys.stderr)
        raise SystemExit(2) from None
