"""pytest plugin shared by every package's tests: markers, settings, real Kafka and PostgreSQL.

Integration tests never stand in fakes for Kafka or PostgreSQL: they use the
servers `deploy/infra.sh start` runs, on the `<database>_test` database and
under a topic prefix unique to the test session.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from energychain_shared.settings import REPO_ROOT, CommonSettings

# The reference exports of the three demo houses (in the seed data directory).
SEED_FILES = {
    "house-01": "HourlyHouse01-27June2021-23July2022.csv",
    "house-02": "HourlyHouse02-18July2021-23July2022.csv",
    "house-03": "HourlyHouse03-08August2021-30July2022.csv",
}
SEED_DATA_DIR = Path(os.environ.get("EC_SEED_DATA_DIR", REPO_ROOT.parent / "shared" / "seed-data"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: pure domain logic, no I/O")
    config.addinivalue_line("markers", "integration: talks to the real Kafka broker and PostgreSQL server")
    config.addinivalue_line("markers", "e2e: starts the system's processes as a user would")
    config.addinivalue_line("markers", "faults: kills processes and restarts Kafka and PostgreSQL (deploy/test.sh -m faults)")
    config.addinivalue_line("markers", "compose: builds the images and runs the system in docker-compose (deploy/compose.sh test)")


def test_settings(**overrides) -> CommonSettings:
    """Settings for tests: the test database and a topic prefix unique to this session."""
    base = CommonSettings()
    values = {
        "pg_database": f"{base.pg_database.removesuffix('_test')}_test",
        "topic_prefix": _SESSION_PREFIX,
    }
    values.update(overrides)
    return base.model_copy(update=values)


_SESSION_PREFIX = f"test-{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="session")
def ec_settings() -> CommonSettings:
    """Common settings pointing at the test database and this session's topics."""
    return test_settings()


@pytest.fixture(scope="session")
def infrastructure(ec_settings: CommonSettings):
    """Real Kafka and PostgreSQL, reachable, with this session's topics created; fails loudly if not.

    At the end of the session every topic under the session's prefix is deleted again (a broker
    keeps a few open files per partition; sessions must not pile them up).
    """
    from energychain_shared.kafka import InfrastructureUnavailable, delete_topics_with_prefix, ensure_topics
    from energychain_shared.runtime import _preflight

    try:
        asyncio.run(_preflight(ec_settings, kafka=True, database=True))
    except InfrastructureUnavailable as error:
        pytest.fail(f"integration infrastructure is down: {error}. Start it with `deploy/infra.sh start`.")
    asyncio.run(ensure_topics(ec_settings))
    yield ec_settings
    try:
        asyncio.run(delete_topics_with_prefix(ec_settings, ec_settings.topic_prefix))
    except Exception as error:  # the broker may be down after a fault test: say so, do not fail the run
        print(f"energychain: could not delete the session's topics {ec_settings.topic_prefix}*: {error}")


@pytest.fixture(scope="session")
def seed_data_dir() -> Path:
    """The reference seed data beside the checkout; tests needing it skip with the reason when absent."""
    if not (SEED_DATA_DIR / "seed-ui-accounts.json").exists():
        pytest.skip(f"reference seed data not found at {SEED_DATA_DIR} (set EC_SEED_DATA_DIR)")
    return SEED_DATA_DIR


@pytest.fixture(scope="session")
def parlier_exports(tmp_path_factory) -> dict[str, Path]:
    """house -> hourly export of the three Parlier houses: the seed files, or the project's generated demo exports
    of the same houses and dates (`energychain-meter-ingest generate-demo`), so system tests run on any machine."""
    if all((SEED_DATA_DIR / name).is_file() for name in SEED_FILES.values()):
        return {house: SEED_DATA_DIR / name for house, name in SEED_FILES.items()}
    out = tmp_path_factory.mktemp("demo-exports")
    subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "energychain-meter-ingest"), "generate-demo", "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    return {house: out / f"{house}.csv" for house in SEED_FILES}


def manifest_of(exports: dict[str, Path], folder: Path) -> Path:
    """A meter-ingest manifest for ``exports``."""
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"houses": {house: str(path) for house, path in exports.items()}}))
    return manifest


def free_port() -> int:
    """A loopback port nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_as_served(monkeypatch: pytest.MonkeyPatch, serve, port: int, path: str,
                  headers: dict[str, str] | None = None) -> tuple[int, str | None, bytes]:
    """One GET of ``path`` from the server ``serve()`` starts, run with exactly the options it gives uvicorn
    (``serve`` calls ``uvicorn.run``, caught here; the app then runs in a thread on ``port`` until the answer
    is read); returns (status, content type, body)."""
    import http.client
    import threading
    import time

    import uvicorn

    from energychain_shared import observability

    monkeypatch.setattr(observability, "configure_logging", lambda *args, **kwargs: None)
    started: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(app=app, options=options))
    serve()
    server = uvicorn.Server(uvicorn.Config(started["app"], **{**started["options"], "log_level": "critical"}))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        body = answer.read()
        connection.close()
        return answer.status, answer.getheader("content-type"), body
    finally:
        server.should_exit = True
        thread.join(10)
