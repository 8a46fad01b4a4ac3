"""A system of its own for the API fuzzer, and the fuzzer itself (schemathesis's `st run`).

The system (energychain_cli.sandbox.Sandbox, base port EC_FUZZ_SANDBOX_PORT, 18600) runs every
service, the witnesses and the web server, and replays the three Parlier houses' first weeks,
so the fuzzer meets invoices, ledger entries and checkpoints, not only empty tables. Torn down
after the last fuzz test.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from energychain_cli.sandbox import BIN, Sandbox
from energychain_shared.settings import REPO_ROOT
from energychain_shared.testing import manifest_of

SANDBOX_PORT = int(os.environ.get("EC_FUZZ_SANDBOX_PORT", "18600"))
REPLAYED_UNTIL = datetime(2021, 8, 3, 7, tzinfo=timezone.utc)  # July billed: invoices to read and pay
# Examples per operation and phase, and the seed: fixed so that CI is repeatable; change them to explore.
MAX_EXAMPLES = int(os.environ.get("EC_FUZZ_MAX_EXAMPLES", "15"))
SEED = os.environ.get("EC_FUZZ_SEED", "20261202")
# What every answer must satisfy: no 5xx, a status the operation documents, a body its schema allows.
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"


@dataclass(frozen=True)
class Fuzzed:
    """What `st run` said."""

    returncode: int
    output: str

    def summary(self) -> str:
        """The failures and the summary (the end of the report)."""
        failures = self.output.find("FAILURES")
        return self.output[failures:][-8000:] if failures >= 0 else self.output[-3000:]


def fuzz(schema_url: str, *, token: str | None = None, base_url: str | None = None,
         max_examples: int = MAX_EXAMPLES, extra: tuple[str, ...] = ()) -> Fuzzed:
    """schemathesis against one OpenAPI document: every operation, positive and negative inputs
    (NUL bytes, overlong strings, huge numbers, wrong types), coverage, fuzzing and stateful phases."""
    command = [
        str(BIN / "st"), "run", schema_url, "--checks", CHECKS, "--max-examples", str(max_examples),
        "--seed", SEED, "--phases", "coverage,fuzzing,stateful", "--generation-database", "none",
        "--request-timeout", "30", "--no-color", "--workers", "1", *extra,
    ]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    if base_url:
        command += ["--url", base_url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO_ROOT / ".run")
    return Fuzzed(done.returncode, done.stdout + done.stderr)


def _replay(sandbox: Sandbox) -> None:
    with sandbox.login("gsa-operator") as gsa:
        ingest = sandbox.url("meter_ingest")
        started = gsa.post(f"{ingest}/replay/start", json={"speed": "max", "until": REPLAYED_UNTIL.isoformat()})
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 180
        while gsa.get(f"{ingest}/replay/status").json()["state"] != "finished":
            assert time.monotonic() < deadline, "the fuzz system's replay did not finish in 180 s"
            time.sleep(0.5)
        published = gsa.get(f"{ingest}/replay/status").json()["published"]
    deadline = time.monotonic() + 180
    while sandbox.query("SELECT count(*) FROM ledger.entries WHERE kind = 'meter_reading'")[0][0] < published:
        assert time.monotonic() < deadline, "the replayed readings did not reach the ledger in 180 s"
        time.sleep(0.5)


@pytest.fixture(scope="package")
def fuzz_system(ec_settings, parlier_exports, tmp_path_factory) -> Iterator[Sandbox]:
    """Every service, replayed until REPLAYED_UNTIL."""
    (REPO_ROOT / ".run").mkdir(exist_ok=True)
    run_dir: Path = tmp_path_factory.mktemp("fuzz-system")
    sandbox = Sandbox.prepare(ec_settings, run_dir, manifest=manifest_of(parlier_exports, run_dir),
                              registry=REPO_ROOT / "data" / "registry.json", base_port=SANDBOX_PORT,
                              # the fuzzer's thousands of failed sign-ins from loopback would lock it out
                              extra_env={"EC_LEDGER_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000000"})
    try:
        sandbox.services("start")
        sandbox.wait_ready()
        _replay(sandbox)
        yield sandbox
    finally:
        sandbox.destroy()


def _sign_in(sandbox: Sandbox, username: str) -> str:
    answer = httpx.post(sandbox.url("ledger") + "/auth/token",
                        data={"username": username, "password": sandbox.passwords[username]}, timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]


def token_of(sandbox: Sandbox, username: str) -> str:
    """A bearer token for ``username``, enabled first: fuzzing the ledger as the GSA follows the links from
    `GET /admin/users` to `POST /admin/users/{username}/disable` and disables the demo users."""
    gsa = _sign_in(sandbox, "gsa-operator")  # never disabled: a GSA operator cannot disable itself
    enabled = httpx.post(sandbox.url("ledger") + f"/admin/users/{username}/enable",
                         headers={"Authorization": f"Bearer {gsa}"}, timeout=30)
    enabled.raise_for_status()
    return _sign_in(sandbox, username)
