"""Schema-driven fuzzing of every service's own OpenAPI document, as each role: no input gets a 5xx,
every answer has a status the operation documents and a body its schema allows (problem details
for every refusal). And the fuzzer is shown to fail on an app that breaks those promises.

Run on their own with `deploy/test.sh tests/fuzz`; EC_FUZZ_MAX_EXAMPLES and EC_FUZZ_SEED explore further.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException, Query

from energychain_shared.problems import MAX_TEXT_CHARS, install_problem_details

from .conftest import fuzz, token_of

pytestmark = pytest.mark.e2e

USERS = {"gsa": "gsa-operator", "resident": "luis", "municipality": "stephen", "auditor": "auditor"}
# meter-ingest last: as the GSA the fuzzer starts replays there, which keeps the system busy.
TARGETS = [(service, role) for service in ("ledger", "billing", "escrow", "market") for role in USERS] + [
    ("meter_ingest", "resident"), ("meter_ingest", "gsa"),
]


@pytest.mark.parametrize(("service", "role"), TARGETS, ids=[f"{s}-as-{r}" for s, r in TARGETS])
def test_no_input_gets_a_server_error_or_an_undocumented_answer(fuzz_system, service, role):
    url = fuzz_system.url(service)
    fuzzed = fuzz(f"{url}/openapi.json", token=token_of(fuzz_system, USERS[role]))
    assert fuzzed.returncode == 0, fuzzed.summary()


def _max_lengths(node, path="") -> list[tuple[str, int]]:
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("maxLength"), int):
            found.append((path, node["maxLength"]))
        for key, value in node.items():
            found += _max_lengths(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _max_lengths(value, f"{path}/{index}")
    return found


def test_the_guard_lets_through_every_string_an_operation_accepts(fuzz_system):
    """The guard's bound on any one string is above every maxLength an operation declares (the fuzzer
    only sees a refusal of a long value as a documented 400, so this is checked here)."""
    for service in ("ledger", "billing", "escrow", "market", "meter_ingest"):
        schema = httpx.get(fuzz_system.url(service) + "/openapi.json", timeout=30).json()
        too_long = [(path, length) for path, length in _max_lengths(schema) if length > MAX_TEXT_CHARS]
        assert not too_long, (service, too_long)


def test_the_web_proxy_forwards_hostile_input_to_a_service_without_failing(fuzz_system):
    """The ledger's operations through the web server's /api/ledger/ proxy, as the GSA."""
    web = f"http://127.0.0.1:{fuzz_system.env['EC_WEB_PORT']}/api/ledger"
    fuzzed = fuzz(f"{web}/openapi.json", token=token_of(fuzz_system, "gsa-operator"), base_url=web)
    assert fuzzed.returncode == 0, fuzzed.summary()


# ----------------------------------------------------------------- the fuzzer fails when it should


def _broken_app(kind: str) -> FastAPI:
    app = FastAPI(title="deliberately broken")
    install_problem_details(app)

    @app.get("/things")
    async def things(count: int = Query(ge=0, le=1000)) -> dict:
        if count > 10:
            if kind == "undocumented":
                raise HTTPException(418, detail="count: a teapot refuses counts over 10")  # documented nowhere
            raise RuntimeError("a bug")  # a 500
        return {"count": count}

    return app


@pytest.fixture
def serve() -> Iterator:
    servers: list[uvicorn.Server] = []

    def start(app: FastAPI) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
        threading.Thread(target=server.run, daemon=True).start()
        servers.append(server)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
                return f"http://127.0.0.1:{port}"
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the test app did not start")

    yield start
    for server in servers:
        server.should_exit = True


@pytest.mark.parametrize(("kind", "named"), [("undocumented", "Undocumented status code"), ("crash", "Server error")])
def test_the_fuzzer_fails_on_an_undocumented_status_and_on_a_server_error(serve, kind, named):
    base = serve(_broken_app(kind))
    fuzzed = fuzz(f"{base}/openapi.json", max_examples=30)
    assert fuzzed.returncode != 0 and named in fuzzed.output, fuzzed.summary()
