"""The system in docker-compose, built from Debian packages (deploy/compose.sh), tested through loopback.

1. The Parlier year (the process-mode system test's own driver and independent checks, imported from
   tests/system/test_system_year_of_parlier.py) with 3 billing workers and 2 ledger consumers; during it
   a billing worker's and a ledger consumer's process are SIGKILLed and compose's restart policy brings
   them back: nothing lost, nothing counted twice.
2. The three-broker profile (deploy/docker/compose.cluster.yml): topics RF 3 / min ISR 2; one broker is
   killed for good mid-replay; the replay completes, every reading is on the ledger exactly once and the
   invoices equal those of the undisturbed single-broker run of test 1.
3. A deliberately broken image makes `deploy/compose.sh up` fail (its health wait notices).

Needs root (apt-get, dockerd) or a running Docker engine; skips with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import httpx
import pytest

from energychain_shared.settings import REPO_ROOT

pytestmark = pytest.mark.compose
COMPOSE_SH = REPO_ROOT / "deploy" / "compose.sh"
USERS = json.loads((REPO_ROOT / "deploy" / "demo-users.example.json").read_text())["users"]
APP_SERVICES = ["init", "ledger-api", "ledger-consumer", "billing-api", "billing-worker", "escrow-api", "escrow-worker",
                "gsa-market-api", "gsa-market-worker", "gsa-market-fleet", "meter-ingest", "web", "witness-parlier", "witness-auditor"]
PORTS = {"web": 0, "meter_ingest": 1, "ledger": 2, "billing": 3, "escrow": 4, "market": 5,
         "witness-auditor": 10, "witness-parlier": 11}
ENV_NAME = {"web": "WEB", "meter_ingest": "METER_INGEST", "ledger": "LEDGER", "billing": "BILLING", "escrow": "ESCROW",
            "market": "MARKET", "witness-auditor": "WITNESS_AUDITOR", "witness-parlier": "WITNESS_PARLIER"}
SCALE = ["--scale", "billing-worker=3", "--scale", "ledger-consumer=2"]
PG_OFFSET = 50
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")
UTC = timezone.utc


def _can_run() -> str | None:
    """Why the compose tests cannot run here, or None."""
    if os.geteuid() == 0 and shutil.which("apt-get"):
        return None
    if shutil.which("docker-compose") and subprocess.run([DOCKER, "info"], capture_output=True).returncode == 0:
        return None
    return "needs root with apt-get (to install docker.io, docker-compose, debootstrap) or a running Docker engine"


@pytest.fixture(scope="session")
def images() -> None:
    """deploy/compose.sh build: tools, dockerd, the base, the three images (cached); its time is printed."""
    reason = _can_run()
    if reason:
        pytest.skip(reason)
    started = time.monotonic()
    done = subprocess.run([str(COMPOSE_SH), "build"], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"deploy/compose.sh build failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    print(f"compose: images ready in {time.monotonic() - started:.0f} s")


def ephemeral_port_floor() -> int:
    """The lowest port the kernel hands out to outgoing connections (any socket may hold one of those)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port(preferred: int) -> int:
    """``preferred``, or the next base 200 ports on whose published ports nothing listens. Published ports
    stay below the ephemeral range, where no outgoing connection of another process can hold one."""
    offsets = [*PORTS.values(), PG_OFFSET]
    for base in range(preferred, ephemeral_port_floor() - max(offsets), 200):
        if all(is_free(base + offset) for offset in offsets):
            return base
    raise AssertionError(f"no free loopback ports for a compose project from {preferred} up to the ephemeral range")


@dataclass
class ComposeSystem:
    """A compose project on loopback ports of its own, with the helpers of energychain_cli.sandbox.Sandbox
    that the system test uses (url, login, query, witness_status, witness_ports, passwords)."""

    project: str
    base_port: int
    folder: Path
    cluster: bool = False
    env: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=lambda: {u["username"]: u["password"] for u in USERS})

    def __post_init__(self) -> None:
        self.base_port = free_base_port(self.base_port)
        self.witness_ports = {"witness-auditor": self.port("witness-auditor"),
                              "witness-parlier": self.port("witness-parlier")}
        self.env = {
            **os.environ, "EC_COMPOSE_PROJECT": self.project, "EC_COMPOSE_SKIP_BUILD": "1",
            "EC_PG_PASSWORD": "compose-test", "EC_COMPOSE_PG_PORT": str(self.pg_port),
            "EC_COMPOSE_MANIFEST": "/exports/manifest.json", "EC_COMPOSE_REGISTRY": "/exports/registry.json",
            "EC_COMPOSE_FILES": str(self.folder / "override.yml"), "EC_COMPOSE_HEALTH_TIMEOUT": "420",
            **{f"EC_COMPOSE_{ENV_NAME[name]}_PORT": str(self.port(name)) for name in PORTS},
        }

    @property
    def pg_port(self) -> int:
        return self.base_port + PG_OFFSET

    def port(self, name: str) -> int:
        return self.base_port + PORTS[name]

    def prepare(self, exports: dict[str, Path], registry: dict) -> None:
        """The exports, manifest and registry in a folder every app container mounts at /exports."""
        data = self.folder / "exports"
        data.mkdir(parents=True, exist_ok=True)
        houses = {}
        for house, path in exports.items():
            shutil.copyfile(path, data / f"{house}.csv")
            houses[house] = f"/exports/{house}.csv"
        (data / "manifest.json").write_text(json.dumps({"houses": houses}))
        (data / "registry.json").write_text(json.dumps(registry))
        for path in [data, *data.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        lines = ["services:"]
        for service in APP_SERVICES:
            lines += [f"  {service}:", "    volumes:", f"      - {data}:/exports:ro"]
        (self.folder / "override.yml").write_text("\n".join(lines) + "\n")

    def compose_sh(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(COMPOSE_SH), args[0], *(["--cluster"] if self.cluster else []), *args[1:]]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode:
            raise AssertionError(f"{' '.join(command)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}")
        return done

    def up(self, *args: str) -> float:
        started = time.monotonic()
        self.compose_sh("up", *args)
        return time.monotonic() - started

    def down(self) -> None:
        self.compose_sh("down", check=False, timeout=300)

    def container(self, service: str, index: int = 1) -> str:
        return f"{self.project}_{service}_{index}"

    def inspect(self, container: str, template: str) -> str:
        return subprocess.run([DOCKER, "inspect", "-f", template, container], capture_output=True, text=True,
                              check=True).stdout.strip()

    def kill_process(self, container: str) -> int:
        """SIGKILL the container's main process from the host (a crash, not `docker kill`: the restart
        policy restarts it); its restart count before."""
        before = int(self.inspect(container, "{{.RestartCount}}"))
        pid = int(self.inspect(container, "{{.State.Pid}}"))
        os.kill(pid, 9)
        return before

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    def witness_status(self, name: str) -> dict:
        return httpx.get(f"http://127.0.0.1:{self.witness_ports[name]}/status", timeout=10).json()

    def login(self, username: str) -> httpx.Client:
        answer = httpx.post(self.url("ledger") + "/auth/token",
                            data={"username": username, "password": self.passwords[username]}, timeout=30)
        answer.raise_for_status()
        return httpx.Client(headers={"Authorization": f"Bearer {answer.json()['access_token']}"}, timeout=60)

    def query(self, sql: str, *args):
        async def go():
            connection = await asyncpg.connect(host="127.0.0.1", port=self.pg_port, user="energychain",
                                               password="compose-test", database="energychain")
            try:
                return await connection.fetch(sql, *args)
            finally:
                await connection.close()

        return asyncio.run(go())

    def logs(self) -> str:
        return self.compose_sh("logs", "--tail=40", check=False, timeout=120).stdout[-20000:]


def load_year_of_parlier():
    """The process-mode system test's module (its driver, fixtures' constants and independent checks)."""
    system_dir = REPO_ROOT / "tests" / "system"
    modules = {}
    for name in ("conftest", "test_system_year_of_parlier"):
        spec = importlib.util.spec_from_file_location(f"energychain_compose_{name}", system_dir / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        modules[name] = module
    return modules["conftest"], modules["test_system_year_of_parlier"]


def parlier_registry(cap_cents: int) -> dict:
    registry = json.loads((REPO_ROOT / "data" / "registry.json").read_text())
    for municipality in registry["municipalities"]:
        municipality["escrow"]["cap_cents"] = cap_cents
    return registry


def readings_on_ledger(system: ComposeSystem) -> int:
    try:
        return system.query("SELECT count(*) FROM ledger.entries WHERE kind = 'meter_reading'")[0][0]
    except Exception:
        return 0


def invoices_of(system: ComposeSystem, periods: set[str] | None = None) -> dict[tuple[str, str], tuple]:
    """(resident, period) -> what the invoice bills for energy: its dates, metered energy and PPA energy lines
    (balance forward, late adjustments and payments differ with how residents paid, so they are left out)."""
    out = {}
    for name in ("luis", "chauncy", "angel"):
        client = system.login(name)
        for invoice in client.get(system.url("billing") + "/resident/invoices").json():
            if periods is not None and invoice["period"] not in periods:
                continue
            detail = client.get(system.url("billing") + f"/resident/invoices/{invoice['invoice_id']}").json()
            energy = tuple((line["description"], line["amount_cents"], line["energy_wh"])
                           for line in detail["lines"] if line["kind"] == "ppa_energy")
            out[(name, invoice["period"])] = (invoice["invoice_id"], invoice["period_start"], invoice["period_end"],
                                              invoice["issued_at"], invoice["due_at"], invoice["energy_wh"], energy)
    return out


class Killer(threading.Thread):
    """SIGKILLs the named containers' processes once the ledger holds ``after`` readings."""

    def __init__(self, system: ComposeSystem, victims: list[tuple[int, str]]):
        super().__init__(daemon=True)
        self.system, self.victims, self.killed, self.errors = system, sorted(victims), [], []

    def run(self) -> None:
        deadline = time.monotonic() + 1800
        pending = list(self.victims)
        while pending and time.monotonic() < deadline:
            count = readings_on_ledger(self.system)
            while pending and count >= pending[0][0]:
                after, container = pending.pop(0)
                try:
                    self.killed.append((container, count, self.system.kill_process(container)))
                except Exception as error:  # noqa: BLE001 - reported by the test
                    self.errors.append(f"{container}: {error}")
            time.sleep(1)


RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def parlier_modules():
    return load_year_of_parlier()


def test_the_compose_system_replays_the_parlier_year_through_a_crash(images, parlier_exports, parlier_modules,
                                                                     tmp_path_factory):
    conftest, year = parlier_modules
    system = ComposeSystem("ectest1", 28100, tmp_path_factory.mktemp("compose-year"))
    system.prepare(parlier_exports, parlier_registry(conftest.ESCROW_CAP_CENTS))
    system.down()
    try:
        print(f"compose: up (3 billing workers, 2 ledger consumers) in {system.up(*SCALE):.0f} s")
        assert len([c for c in subprocess.run([DOCKER, "ps", "-q", "--filter", f"name={system.project}_billing-worker"],
                                              capture_output=True, text=True).stdout.split()]) == 3
        killer = Killer(system, [(2000, system.container("billing-worker", 2)),
                                 (4000, system.container("ledger-consumer", 1))])
        killer.start()
        started = time.monotonic()
        year.test_a_year_of_parlier_escrow_ledger_and_roles_agree(system, conftest.ESCROW_CAP_CENTS, parlier_exports)
        print(f"compose: the Parlier year replayed and checked in {time.monotonic() - started:.0f} s")
        killer.join(timeout=1)
        assert not killer.errors, killer.errors
        assert [k[0] for k in killer.killed] == [system.container("billing-worker", 2),
                                                 system.container("ledger-consumer", 1)], killer.killed
        for container, _, before in killer.killed:
            assert int(system.inspect(container, "{{.RestartCount}}")) > before, f"{container} was not restarted"
            assert system.inspect(container, "{{.State.Status}}") == "running", container
        RESULTS["single"] = invoices_of(system)
    except BaseException:
        print(system.logs())
        raise
    finally:
        system.down()


def test_the_three_broker_cluster_loses_nothing_when_a_broker_dies_for_good(images, parlier_exports,
                                                                            parlier_modules, tmp_path_factory):
    conftest, year = parlier_modules
    system = ComposeSystem("ectest2", 29100, tmp_path_factory.mktemp("compose-cluster"), cluster=True)
    system.prepare(parlier_exports, parlier_registry(conftest.ESCROW_CAP_CENTS))
    system.down()
    try:
        print(f"compose: cluster up in {system.up(*SCALE):.0f} s")
        # Topics replicated three times with min.insync.replicas=2, as the settings say.
        described = subprocess.run(
            [DOCKER, "exec", system.container("kafka-2"), "java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp",
             "/opt/kafka/libs/*", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", "kafka-2:9092",
             "--describe"], capture_output=True, text=True, timeout=120).stdout
        topic_lines = [line for line in described.splitlines() if line.startswith("Topic:") and "ReplicationFactor" in line]
        assert topic_lines, described[-2000:]
        for line in topic_lines:
            if "__consumer_offsets" in line:
                continue
            assert "ReplicationFactor: 3" in line and "min.insync.replicas=2" in line, line

        gsa = system.login("gsa-operator")
        # Replay the whole year at full speed (to where the system test ends it), no payments.
        until = year.at(year.month_after(year.MONTHS[-1]) + timedelta(days=25))
        answer = gsa.post(system.url("meter_ingest") + "/replay/start", json={"speed": "max", "until": until.isoformat()})
        assert answer.status_code == 202, answer.text
        expected = sum(year.rows_before(path, until) for path in parlier_exports.values())
        deadline = time.monotonic() + 300
        while readings_on_ledger(system) < 500 and time.monotonic() < deadline:
            time.sleep(0.1)
        # For good: `docker kill` counts as a manual stop, so the restart policy leaves it down.
        subprocess.run([DOCKER, "kill", system.container("kafka-3")], check=True, capture_output=True)
        killed_at = readings_on_ledger(system)
        state_at_kill = gsa.get(system.url("meter_ingest") + "/replay/status").json()["state"]
        year.wait("the replay to finish", lambda: gsa.get(system.url("meter_ingest") + "/replay/status").json()["state"]
                  == "finished", timeout=600)
        year.wait("every reading on the ledger", lambda: readings_on_ledger(system) >= expected, timeout=300)
        time.sleep(5)  # anything counted twice would arrive now
        on_ledger = system.query("SELECT count(*) AS entries, count(DISTINCT entry_id) AS ids FROM ledger.entries "
                                 "WHERE kind = 'meter_reading'")[0]
        assert (on_ledger["entries"], on_ledger["ids"]) == (expected, expected), (killed_at, dict(on_ledger))
        assert system.inspect(system.container("kafka-3"), "{{.State.Status}}") == "exited"
        assert killed_at < expected and state_at_kill != "finished", ("the broker died after the replay", killed_at)
        print(f"compose: kafka-3 killed with {killed_at} of {expected} readings on the ledger")

        def billed() -> bool:
            clocks = [system.login(n).get(system.url("billing") + "/resident/account").json()["sim_time"]
                      for n in ("luis", "chauncy", "angel")]
            known = [datetime.fromisoformat(t) for t in clocks if t is not None]
            return bool(known) and min(known) >= until

        year.wait("billing to catch up", billed, timeout=300)
        periods = set(year.MONTHS)
        invoices = invoices_of(system, periods)
        assert invoices, "no invoices"
        assert all(energy for *_, energy in invoices.values()), invoices
        if "single" in RESULTS:  # the undisturbed single-broker run of the test above
            assert invoices == {k: v for k, v in RESULTS["single"].items() if k[1] in periods}
        else:
            print("compose: the single-broker run did not run in this session: invoices not compared")
    except BaseException:
        print(system.logs())
        raise
    finally:
        system.down()


def test_a_broken_image_makes_the_health_wait_fail(images, tmp_path):
    broken = "energychain/kafka:broken"
    (tmp_path / "Dockerfile").write_text(
        "FROM energychain/kafka:0.1.0\nENTRYPOINT [\"sh\", \"-c\", \"echo this image is broken >&2; exit 3\"]\n")
    subprocess.run([DOCKER, "build", "-q", "-t", broken, str(tmp_path)], check=True, capture_output=True,
                   env={**os.environ, "DOCKER_BUILDKIT": "0"})
    (tmp_path / "override.yml").write_text(f"services:\n  kafka:\n    image: {broken}\n")
    system = ComposeSystem("ectest3", 27100, tmp_path)
    system.env.update({"EC_COMPOSE_FILES": str(tmp_path / "override.yml"), "EC_COMPOSE_HEALTH_TIMEOUT": "120"})
    system.down()
    try:
        started = time.monotonic()
        done = system.compose_sh("up", "kafka", check=False, timeout=300)
        assert done.returncode != 0, done.stdout + done.stderr
        assert "kafka" in done.stderr and "this image is broken" in done.stderr, done.stderr[-3000:]
        assert time.monotonic() - started < 120, "the failure was noticed only at the timeout"
    finally:
        system.down()
        subprocess.run([DOCKER, "rmi", "-f", broken], capture_output=True)
