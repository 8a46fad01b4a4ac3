"""Witness settings: the common EC_* settings plus the witness's own (EC_WITNESS_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from energychain_shared.settings import CommonSettings

# A signed-note key name: no spaces and no "+" (the verifier key's separator).
KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}$"
LEDGER_VKEY_FILE = "ledger.vkey"


class WitnessSettings(CommonSettings):
    """Everything one witness process reads from the environment or .env."""

    witness_name: str = Field(
        default="witness", pattern=KEY_NAME_PATTERN,
        description="The witness's key name, e.g. witness-parlier: the name on its cosignature lines.",
    )
    witness_dir: Path | None = Field(
        default=None,
        description="Its key (witness.key, witness.pub, witness.vkey) and its SQLite store (state.sqlite); "
        "defaults to <run_dir>/witness/<witness_name>.",
    )
    witness_ledger_url: str = Field(default="http://127.0.0.1:8102", description="Where the ledger's API answers.")
    witness_username: str = Field(default="", description="The witness's login at the ledger.")
    witness_password: SecretStr = SecretStr("")
    witness_users_file: Path | None = Field(
        default=None,
        description="A users file (deploy/demo-users.example.json's shape) to read the password of "
        "witness_username from when witness_password is empty: how the demo starts its witnesses.",
    )
    witness_ledger_vkey: str = Field(
        default="",
        description="The ledger's C2SP verifier key; empty: read <keys_dir>/ledger.vkey (a real party pins it here).",
    )
    witness_interval_s: float = Field(default=1.0, gt=0, description="Pause between two rounds.")
    witness_port: int = Field(default=8110, ge=1, le=65535)
    witness_host: str = "127.0.0.1"
    witness_audit_entries: int = Field(
        default=500, ge=0, description="Older entries per member channel re-read and compared each round.",
    )
    witness_audit_accounts: int = Field(
        default=20, ge=0,
        description="Visible accounts whose postings are re-compared each round, beside those new entries touch.",
    )
    witness_http_timeout_s: float = Field(default=30.0, gt=0)

    def login_password(self) -> str:
        """The witness's password: the setting, else its user's entry in ``witness_users_file``."""
        if self.witness_password.get_secret_value() or self.witness_users_file is None:
            return self.witness_password.get_secret_value()
        import json

        users = json.loads(self.witness_users_file.read_text()).get("users", [])
        for user in users:
            if user.get("username") == self.witness_username:
                return str(user.get("password", ""))
        raise ValueError(f"{self.witness_users_file} has no user {self.witness_username!r}")

    @property
    def resolved_witness_dir(self) -> Path:
        """Where this witness keeps its key and its store."""
        return self.witness_dir if self.witness_dir is not None else self.run_dir / "witness" / self.witness_name

    @property
    def store_path(self) -> Path:
        """The witness's own SQLite store (never the ledger's database)."""
        return self.resolved_witness_dir / "state.sqlite"

    @property
    def ledger_vkey_path(self) -> Path:
        """The verifier key file the ledger writes when EC_WITNESS_LEDGER_VKEY is empty."""
        return self.resolved_keys_dir / LEDGER_VKEY_FILE

    def ledger_vkey(self) -> str:
        """The ledger's verifier key: the pinned setting, else the file the ledger wrote."""
        if self.witness_ledger_vkey.strip():
            return self.witness_ledger_vkey.strip()
        path = self.ledger_vkey_path
        if not path.exists():
            raise FileNotFoundError(
                f"no ledger verifier key: set EC_WITNESS_LEDGER_VKEY or create {path} (`energychain-ledger` writes it)"
            )
        return path.read_text().strip()
