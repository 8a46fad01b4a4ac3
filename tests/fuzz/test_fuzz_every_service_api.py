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

from energychain_shared.problems import install_problem_details

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
