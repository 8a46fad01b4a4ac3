"""A throwaway instance of the whole system: its own database, topic prefix, run dir and ports.

Used by the system tests and the pipeline benchmark: the services run as their real
console commands through deploy/services.sh, exactly as deploy/up.sh runs them, beside
any other instance on the same Kafka broker and PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from energychain_shared.pg import create_database, drop_database
from energychain_shared.settings import REPO_ROOT, CommonSettings

BIN = REPO_ROOT / ".venv" / "bin"
USERS_FILE = REPO_ROOT / "deploy" / "demo-users.example.json"
SERVICES = ("meter_ingest", "ledger", "billing", "escrow", "market")


@dataclass
class Sandbox:
    """A running (or ready to run) instance: environment, URLs, database, helpers."""

    env: dict[str, str]
    run_dir: Path
    database: str
    dsn: str
    admin_dsn: str
    ports: dict[str, int]
    passwords: dict[str, str]
    witness_ports: dict[str, int]

    @classmethod
    def prepare(
        cls, settings: CommonSettings, run_dir: Path, *, manifest: Path, registry: Path, base_port: int = 18100,
        extra_env: dict[str, str] | None = None,
        roles: tuple[str, ...] = ("resident", "municipality", "gsa", "auditor"), witnesses: bool = True,
    ) -> Sandbox:
        """Create the database, keys, topics, schemas, the demo users of ``roles`` and (unless told not to) the
        witnesses of deploy/witnesses.sh, registered with the ledger; services not started yet."""
        tag = uuid.uuid4().hex[:8]
        ports = {name: base_port + 1 + i for i, name in enumerate(SERVICES)}
        witness_ports = {"witness-auditor": base_port + 10, "witness-parlier": base_port + 11} if witnesses else {}
        logins = {"witness-auditor": "auditor", "witness-parlier": "witness-parlier"}
        database = f"energychain_sandbox_{tag}"
        env = {
            **os.environ,
            "EC_RUN_DIR": str(run_dir), "EC_KEYS_DIR": str(run_dir / "keys"), "EC_TOPIC_PREFIX": f"sandbox-{tag}.",
            "EC_PG_DATABASE": database, "EC_LOG_LEVEL": "WARNING", "EC_METER_INGEST_MANIFEST": str(manifest),
            "EC_METER_INGEST_REPLAY_ID": f"sandbox-{tag}", "EC_REGISTRY_PATH": str(registry),
            "EC_WEB_PORT": str(base_port),
            **{f"EC_{name.upper()}_PORT": str(port) for name, port in ports.items()},
            **{f"EC_{name.upper()}_URL": f"http://127.0.0.1:{port}" for name, port in ports.items()},
            "EC_WITNESSES": " ".join(f"{name}:{logins[name]}:{port}" for name, port in witness_ports.items()),
            "EC_WITNESS_USERS_FILE": str(run_dir / "users.json"),
            **(extra_env or {}),
        }
        admin_dsn = settings.asyncpg_dsn
        users = [u for u in json.loads(USERS_FILE.read_text())["users"] if u["role"] in roles]
        users_file = run_dir / "users.json"
        users_file.write_text(json.dumps({"users": users}))
        sandbox = cls(
            env=env, run_dir=run_dir, database=database, dsn=admin_dsn.rsplit("/", 1)[0] + f"/{database}",
            admin_dsn=admin_dsn, ports=ports, passwords={u["username"]: u["password"] for u in users},
            witness_ports=witness_ports,
        )
        asyncio.run(create_database(admin_dsn, database))
        sandbox.run("energychain-keys", "init")
        sandbox.run("energychain-topics")
        for service in ("ledger", "billing", "escrow", "gsa-market"):
            sandbox.run(f"energychain-{service}", "migrate")
        sandbox.run("energychain-ledger", "seed-users", "--file", str(users_file))
        if witnesses:
            sandbox.script("witnesses.sh", "init")
        return sandbox

    def script(self, name: str, *args: str, timeout: float = 300) -> str:
        """One of deploy/'s scripts with the sandbox's environment; its output, or an error."""
        done = subprocess.run([str(REPO_ROOT / "deploy" / name), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{name} {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def witness_url(self, name: str) -> str:
        """Base URL of a witness's API."""
        return f"http://127.0.0.1:{self.witness_ports[name]}"

    def witness_status(self, name: str) -> dict:
        """What a witness says it cosigned and refused (GET /status)."""
        return httpx.get(self.witness_url(name) + "/status", timeout=10).json()

    def run(self, command: str, *args: str, timeout: float = 600) -> str:
        """Run one of the project's commands with the sandbox's environment; its output, or an error."""
        done = subprocess.run([str(BIN / command), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{command} {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def services(self, *args: str, extra_env: dict[str, str] | None = None) -> str:
        """deploy/services.sh with the sandbox's environment."""
        done = subprocess.run(
            [str(REPO_ROOT / "deploy" / "services.sh"), *args], env={**self.env, **(extra_env or {})},
            capture_output=True, text=True, timeout=180,
        )
        if args[0] == "start" and done.returncode:
            raise RuntimeError(f"services.sh {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def url(self, service: str) -> str:
        """Base URL of a service's API."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def wait_ready(self, timeout: float = 90, *, services: tuple[str, ...] | None = None) -> None:
        """Every API (or those of ``services``) answers /readyz with 200 (or an error naming those that do not,
        with their logs)."""
        deadline = time.monotonic() + timeout
        pending = set(services or self.ports)
        while pending and time.monotonic() < deadline:
            for service in list(pending):
                try:
                    if httpx.get(self.url(service) + "/readyz", timeout=2).status_code == 200:
                        pending.discard(service)
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        if pending:
            logs = "\n".join(
                f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted((self.run_dir / "logs").glob("*.log"))
            )
            raise RuntimeError(f"not ready after {timeout:.0f}s: {sorted(pending)}\n{logs}")

    def login(self, username: str) -> httpx.Client:
        """An HTTP client carrying ``username``'s bearer token."""
        answer = httpx.post(
            self.url("ledger") + "/auth/token", data={"username": username, "password": self.passwords[username]}
        )
        answer.raise_for_status()
        return httpx.Client(headers={"Authorization": f"Bearer {answer.json()['access_token']}"}, timeout=60)

    def query(self, sql: str, *args):
        """One query on the sandbox's database."""

        async def go():
            connection = await asyncpg.connect(self.dsn)
            try:
                return await connection.fetch(sql, *args)
            finally:
                await connection.close()

        return asyncio.run(go())

    def pids(self) -> dict[str, int]:
        """Process name -> pid of the running services."""
        out = {}
        for pidfile in sorted((self.run_dir / "pids").glob("*.pid")):
            try:
                out[pidfile.stem] = int(pidfile.read_text())
            except ValueError:
                continue
        return out

    def destroy(self) -> None:
        """Stop the services, drop the database and delete the sandbox's topics."""
        from energychain_shared.kafka import delete_topics_with_prefix

        self.services("stop")
        asyncio.run(drop_database(self.admin_dsn, self.database))
        settings = CommonSettings(kafka_bootstrap_servers=self.env.get("EC_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
        asyncio.run(delete_topics_with_prefix(settings, self.env["EC_TOPIC_PREFIX"]))
