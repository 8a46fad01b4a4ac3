"""Problem details (RFC 9457) for every refusal, and the guard that refuses hostile input before any route runs."""

from __future__ import annotations

import json
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Form, HTTPException, Query
from pydantic import BaseModel

from energychain_shared.auth import current_principal
from energychain_shared.problems import MAX_JSON_DEPTH, MAX_TEXT_CHARS, MEDIA_TYPE, install_problem_details

pytestmark = pytest.mark.unit


class Payment(BaseModel):
    amount_cents: int
    reference: str = ""
    extra: dict | list | None = None


def build() -> FastAPI:
    app = FastAPI()
    install_problem_details(app, max_body_bytes=100_000)

    @app.get("/items/{item_id}")
    async def item(item_id: str, q: Annotated[str | None, Query()] = None) -> dict:
        return {"item_id": item_id, "q": q}

    @app.post("/payments")
    async def pay(body: Payment) -> dict:
        return body.model_dump()

    @app.post("/login")
    async def login(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict:
        return {"username": username}

    @app.get("/refusals/{shape}")
    async def refusal(shape: str) -> None:
        details = {
            "text": "plain words",
            "prefixed": "end: must be on or after start",
            "dict": {"field": "amount", "message": "at most 2 decimal places"},
            "rule": {"rule": "clock_started", "field": None, "message": "the clock has not started"},
            "list": [{"loc": ["query", "from"], "msg": "must be before to"}],
        }
        raise HTTPException(409 if shape == "rule" else 422, detail=details[shape])

    @app.get("/stored")
    async def stored() -> None:
        import asyncpg

        raise asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape sequence")

    @app.get("/indexed")
    async def indexed() -> None:
        import asyncpg

        raise asyncpg.exceptions.ProgramLimitExceededError("index row size 3016 exceeds btree version 4 maximum 2704")

    @app.get("/restarting/{kind}")
    async def restarting(kind: str) -> None:
        import asyncpg

        raise {"shutdown": asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
               "starting": asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
               "lost": asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
               "refused": ConnectionRefusedError(111, "Connect call failed")}[kind]

    @app.get("/secured")
    async def secured(principal=Depends(current_principal)) -> dict:
        return {}

    app.state.token_public_key = None
    return app


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build()), base_url="http://test") as http:
        yield http


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


async def test_a_nul_byte_anywhere_is_a_400_naming_where_it_was(client):
    assert problem(await client.get("/items/a%00b"), 400)["field"] == "path"
    assert problem(await client.get("/items/a", params={"q": "x\x00"}), 400)["field"] == "q"
    assert problem(await client.post("/login", data={"username": "luis\x00", "password": "x"}), 400)["field"] == "username"
    multipart = await client.post("/login", files={"username": (None, b"luis\x00"), "password": (None, b"x")})
    assert problem(multipart, 400)["field"] == "username"
    body = problem(await client.post("/payments", json={"amount_cents": 1, "reference": "r\x00"}), 400)
    assert body["field"] == "reference" and body["errors"][0]["location"] == "body" and "NUL" in body["detail"]
    nested = await client.post("/payments", json={"amount_cents": 1, "extra": {"deep": ["ok", "\x00"]}})
    assert problem(nested, 400)["field"] == "extra.deep.1"


async def test_an_unpaired_surrogate_in_json_is_a_400(client):
    raw = b'{"amount_cents": 1, "reference": "\\ud800"}'
    body = problem(await client.post("/payments", content=raw, headers={"content-type": "application/json"}), 400)
    assert body["field"] == "reference" and "surrogate" in body["detail"]


async def test_overlong_text_is_a_400_naming_the_field(client):
    too_long = "x" * (MAX_TEXT_CHARS + 1)
    assert problem(await client.get("/items/a", params={"q": too_long}), 400)["field"] == "q"
    assert problem(await client.post("/payments", json={"amount_cents": 1, "reference": too_long}), 400)["field"] == "reference"
    # at the limit it is the route's to judge
    assert (await client.get("/items/a", params={"q": "x" * MAX_TEXT_CHARS})).status_code == 200


async def test_integers_beyond_64_bits_and_non_finite_numbers_are_400(client):
    assert problem(await client.post("/payments", json={"amount_cents": 2**63}), 400)["field"] == "amount_cents"
    assert (await client.post("/payments", json={"amount_cents": 2**63 - 1})).status_code == 200
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
        raw = b'{"amount_cents": 1, "extra": [' + literal + b"]}"
        answer = await client.post("/payments", content=raw, headers={"content-type": "application/json"})
        assert problem(answer, 400)["field"] == "extra.0", literal


async def test_deep_json_is_a_400_at_any_depth_python_can_parse_or_not(client):
    for depth in (MAX_JSON_DEPTH + 2, 900, 4_000):  # json.loads itself gives up near 1,000
        raw = b'{"amount_cents": 1, "extra": ' + b"[" * depth + b"]" * depth + b"}"
        answer = await client.post("/payments", content=raw, headers={"content-type": "application/json"})
        assert "nested too deeply" in problem(answer, 400)["detail"], depth
    shallow = b'{"amount_cents": 1, "extra": ' + b"[" * 5 + b"]" * 5 + b"}"
    assert (await client.post("/payments", content=shallow, headers={"content-type": "application/json"})).status_code == 200


async def test_a_body_over_the_limit_is_a_413(client):
    body = problem(await client.post("/payments", json={"amount_cents": 1, "extra": ["x" * 1000] * 100}), 413)
    assert body["field"] == "body"


async def test_wrong_content_type_and_malformed_json_are_422_problems(client):
    wrong = await client.post("/payments", content=b"amount_cents=1", headers={"content-type": "text/plain"})
    assert problem(wrong, 422)["errors"]
    broken = await client.post("/payments", content=b'{"amount_cents": ', headers={"content-type": "application/json"})
    assert problem(broken, 422)["type"] == "urn:energychain:problem:invalid-input"


async def test_validation_errors_name_every_field(client):
    body = problem(await client.post("/payments", json={"reference": 5}), 422)
    fields = {(e["field"], e["location"]) for e in body["errors"]}
    assert fields == {("amount_cents", "body"), ("reference", "body")}
    assert body["field"] in {"amount_cents", "reference"}
    assert "input" not in json.dumps(body["errors"])  # the refused input is not echoed back


async def test_every_shape_a_route_raises_becomes_a_problem(client):
    text = problem(await client.get("/refusals/text"), 422)
    assert (text["detail"], text.get("field"), text["type"]) == ("plain words", None, "about:blank")
    assert problem(await client.get("/refusals/prefixed"), 422)["field"] == "end"
    as_dict = problem(await client.get("/refusals/dict"), 422)
    assert (as_dict["field"], as_dict["detail"]) == ("amount", "amount: at most 2 decimal places")
    rule = problem(await client.get("/refusals/rule"), 409)
    assert rule["rule"] == "clock_started" and rule["type"] == "urn:energychain:rule:clock_started"
    listed = problem(await client.get("/refusals/list"), 422)
    assert listed["errors"] == [{"field": "from", "location": "query", "message": "must be before to"}]
    unauthorized = await client.get("/secured")
    assert problem(unauthorized, 401)["type"] == "about:blank"
    assert unauthorized.headers["www-authenticate"] == "Bearer"
    assert problem(await client.get("/nowhere"), 404)["title"] == "Not Found"


async def test_openapi_declares_problems_on_every_operation_and_not_fastapis_422(client):
    schema = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert set(schema["components"]["schemas"]["Problem"]["required"]) == {"title", "status", "detail"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            expected = {"400", "404", "409", "413", "415", "422", "429", "503"}
            if path == "/secured":
                expected |= {"401", "403"}
            assert expected <= codes, (method, path)
            assert MEDIA_TYPE in operation["responses"]["422"]["content"]


async def test_a_value_the_database_refuses_is_a_400_problem_not_a_500(client):
    """The last line of defence, behind the guard and the routes' validation."""
    for path in ("/stored", "/indexed"):
        body = problem(await client.get(path), 400)
        assert "cannot be stored" in body["detail"] and body["type"] == "urn:energychain:problem:unacceptable-input"


@pytest.mark.parametrize("kind", ["shutdown", "starting", "lost", "refused"])
async def test_a_database_restarting_or_away_is_a_503_to_retry_not_a_500(client, kind):
    answer = await client.get(f"/restarting/{kind}")
    assert "unavailable" in problem(answer, 503)["detail"] and int(answer.headers["retry-after"]) > 0


def test_a_service_reads_a_request_head_whole_so_the_guard_judges_its_longest_string(monkeypatch):
    """A query value the guard must judge (one over MAX_TEXT_CHARS four-byte characters: twelve times as long
    percent-encoded) reaches the server in several reads. Under uvicorn's default head limit (h11's 16 KiB) it was
    refused with a plain-text 400 and the connection closed under the still-sending client, which saw a reset (the
    fuzzer's "Network Error"); served as every service is (`service_cli.serve`), the guard answers a problem."""
    from urllib.parse import quote

    from energychain_shared import service_cli
    from energychain_shared.settings import CommonSettings
    from energychain_shared.testing import free_port, get_as_served

    port = free_port()
    path = "/items/1?q=" + quote("\U000a65f1" * (MAX_TEXT_CHARS + 1))
    status, content_type, body = get_as_served(
        monkeypatch, lambda: service_cli.serve(CommonSettings.model_construct(log_level="WARNING"), service="test",
                                               app=build(), host="127.0.0.1", port=port), port, path)
    assert len(path) > 12 * MAX_TEXT_CHARS
    assert status == 400 and content_type == MEDIA_TYPE, body[:300]
    assert json.loads(body)["field"] == "q"
