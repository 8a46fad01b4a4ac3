"""The web server: the built app with client-side routes, and a same-origin proxy to each service."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from energychain_shared.problems import HOSTILE_INPUT
from energychain_web.app import create_app
from energychain_web.settings import WebSettings

pytestmark = pytest.mark.unit


@pytest.fixture
def dist(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


def client_for(dist, handler, **settings) -> TestClient:
    app = create_app(WebSettings(web_dist_dir=dist, **settings), transport=httpx.MockTransport(handler))
    return TestClient(app)


def test_web_proxy_forwards_method_path_query_body_and_token_and_returns_the_services_answer(dist):
    seen: list[httpx.Request] = []

    def service(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(422, json={"type": "about:blank", "title": "Unprocessable Content", "status": 422,
                                         "detail": "amount: at most 2 decimal places", "field": "amount"},
                              headers={"content-type": "application/problem+json"})

    with client_for(dist, service) as client:
        answer = client.post(
            "/api/billing/resident/payments?x=1&x=2",
            json={"amount": "1.234", "method": "card"},
            headers={"Authorization": "Bearer abc", "Idempotency-Key": "k-1", "Cookie": "secret=1"},
        )
    assert answer.status_code == 422
    assert answer.json()["field"] == "amount" and answer.headers["content-type"] == "application/problem+json"
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == "http://127.0.0.1:8103/resident/payments?x=1&x=2"
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["idempotency-key"] == "k-1"
    assert "cookie" not in request.headers
    assert request.content == b'{"amount":"1.234","method":"card"}'


def test_web_proxy_sends_each_service_to_its_url_setting(dist):
    seen: list[str] = []

    def service(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={})

    urls = {
        "ledger_url": "http://ledger.test:1", "billing_url": "http://billing.test:2", "escrow_url": "http://escrow.test:3",
        "market_url": "http://market.test:4/", "meter_ingest_url": "http://ingest.test:5",
    }
    with client_for(dist, service, **urls) as client:
        for path in ("ledger/channels", "billing/resident/account", "escrow/municipality/escrow",
                     "market/gsa/offers", "meter-ingest/replay/status"):
            assert client.get(f"/api/{path}").status_code == 200
    assert seen == [
        "http://ledger.test:1/channels", "http://billing.test:2/resident/account",
        "http://escrow.test:3/municipality/escrow", "http://market.test:4/gsa/offers",
        "http://ingest.test:5/replay/status",
    ]


def test_web_proxy_keeps_an_encoded_path_segment_encoded(dist):
    seen: list[httpx.Request] = []

    def service(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with client_for(dist, service) as client:
        client.get("/api/ledger/channels/resident%3Ahouse-01/entries?from=2022-01-01T00%3A00%3A00-08%3A00")
        client.get("/api/escrow/gsa/escrow/a%2Fb")
    assert seen[0].url.raw_path == b"/channels/resident%3Ahouse-01/entries?from=2022-01-01T00%3A00%3A00-08%3A00"
    assert seen[1].url.raw_path == b"/gsa/escrow/a%2Fb"  # one segment, not two


def test_web_proxy_names_an_unknown_service_an_unreachable_one_and_a_slow_one(dist):
    def down(request: httpx.Request) -> httpx.Response:
        if request.url.port == 8104:
            raise httpx.ConnectError("refused", request=request)
        raise httpx.ReadTimeout("slow", request=request)

    with client_for(dist, down) as client:
        unknown = client.get("/api/nothing/here")
        no_service = client.get("/api/")
        unreachable = client.get("/api/escrow/municipality/escrow")
        slow = client.get("/api/market/gsa/usage/hourly")
    assert unknown.status_code == 404 and "no service 'nothing'" in unknown.json()["detail"]
    assert unknown.headers["content-type"] == "application/problem+json" and unknown.json()["field"] == "service"
    assert no_service.status_code == 404
    assert unreachable.status_code == 502 and "escrow is unreachable" in unreachable.json()["detail"]
    assert slow.status_code == 504 and "market did not answer" in slow.json()["detail"]


def test_web_client_side_routes_get_the_app_and_files_are_served_as_built(dist):
    with client_for(dist, lambda r: httpx.Response(200)) as client:
        route = client.get("/resident/billing")
        asset = client.get("/assets/app.js")
        top_file = client.get("/favicon.svg")
        escape = client.get("/%2e%2e/%2e%2e/pyproject.toml")
        health = client.get("/healthz")
    assert route.status_code == 200 and "id=root" in route.text
    assert route.headers["cache-control"] == "no-cache"  # a new build is picked up on reload
    assert asset.text == "console.log(1)"
    assert top_file.text == "<svg/>"
    assert "id=root" in escape.text  # never a file outside dist
    assert health.json() == {"status": "ok", "app_built": True}


def test_web_without_a_build_the_server_says_how_to_build(tmp_path):
    with client_for(tmp_path, lambda r: httpx.Response(200)) as client:
        answer = client.get("/")
        health = client.get("/healthz")
    assert answer.status_code == 503 and "web/build.sh" in answer.text
    assert health.json() == {"status": "ok", "app_built": False}


def test_web_settings_read_host_port_and_service_urls_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("EC_WEB_PORT", "9100")
    monkeypatch.setenv("EC_WEB_HOST", "0.0.0.0")
    monkeypatch.setenv("EC_ESCROW_URL", "http://escrow.internal:8104/")
    settings = WebSettings()
    assert (settings.web_host, settings.web_port) == ("0.0.0.0", 9100)
    assert settings.upstreams()["escrow"] == "http://escrow.internal:8104"
    assert set(settings.upstreams()) == {"ledger", "billing", "escrow", "market", "meter-ingest"}


def test_web_defaults_listen_on_loopback_port_8100():
    settings = WebSettings.model_construct()
    assert (WebSettings.model_fields["web_host"].default, WebSettings.model_fields["web_port"].default) == ("127.0.0.1", 8100)
    assert settings is not None


class ClosingService:
    """A real HTTP/1.1 service on loopback that keeps connections alive, then closes one (``mode`` "close": FIN;
    "reset": RST) when the next request arrives on it, unanswered: what the proxy meets when it reuses a pooled
    connection at the moment the service closes it for idleness. Every request it read is in ``seen`` as
    (connection number, method, path)."""

    def __init__(self, mode: str) -> None:
        import socket
        import threading

        self.mode = mode
        self.seen: list[tuple[int, str, str]] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        import threading

        number = 0
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(connection, number), daemon=True).start()
            number += 1

    def _serve(self, connection, number: int) -> None:
        import socket
        import struct

        pending = b""
        answered = 0
        with connection:
            while True:
                while b"\r\n\r\n" not in pending:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    pending += chunk
                head, pending = pending.split(b"\r\n\r\n", 1)
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ")
                headers = dict(line.split(": ", 1) for line in header_lines)
                length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "0"))
                while len(pending) < length:
                    pending += connection.recv(65536)
                pending = pending[length:]
                self.seen.append((number, method, path))
                if answered:  # a reused connection: closed under the request
                    if self.mode == "reset":
                        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                body = b'{"ok": true}'
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                answered += 1

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def closing_service(request):
    service = ClosingService(getattr(request, "param", "close"))
    yield service
    service.close()


def proxy_to(dist, service: ClosingService) -> TestClient:
    """The web server with its real HTTP clients, billing at ``service``."""
    return TestClient(create_app(WebSettings(web_dist_dir=dist, billing_url=service.url)))


@pytest.mark.parametrize("closing_service", ["close", "reset"], indirect=True)
def test_web_proxy_sends_a_get_again_on_a_new_connection_when_the_service_closed_the_pooled_one(dist, closing_service):
    with proxy_to(dist, closing_service) as client:
        first = client.get("/api/billing/resident/account")
        second = client.get("/api/billing/resident/invoices")  # on the kept-alive connection, which the service closes
    assert first.status_code == 200
    assert second.status_code == 200, second.text
    assert closing_service.seen == [
        (0, "GET", "/resident/account"), (0, "GET", "/resident/invoices"), (1, "GET", "/resident/invoices"),
    ]


def test_web_proxy_sends_a_post_with_an_idempotency_key_again_and_one_without_it_never(dist, closing_service):
    payment = {"amount": "12.50", "method": "venmo"}
    with proxy_to(dist, closing_service) as client:
        client.get("/api/billing/resident/account")
        keyed = client.post("/api/billing/resident/payments", json=payment, headers={"Idempotency-Key": "k-1"})
        client.get("/api/billing/resident/account")
        unkeyed = client.post("/api/billing/resident/payments", json=payment)
    assert keyed.status_code == 200, keyed.text
    # Without a key the service could have taken the payment before closing: it is not sent twice.
    assert unkeyed.status_code == 502 and "billing is unreachable" in unkeyed.json()["detail"]
    posts = [(number, path) for number, method, path in closing_service.seen if method == "POST"]
    assert posts == [(0, "/resident/payments"), (1, "/resident/payments"), (2, "/resident/payments")]


def test_web_proxy_drops_idle_connections_before_the_services_close_them():
    from energychain_shared.settings import CLIENT_KEEPALIVE_EXPIRY_S, SERVER_KEEP_ALIVE_S

    assert 0 < CLIENT_KEEPALIVE_EXPIRY_S < SERVER_KEEP_ALIVE_S


def test_web_proxy_refuses_hostile_input_itself_and_forwards_none_of_it(dist):
    seen: list[httpx.Request] = []

    def service(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with client_for(dist, service) as client:
        in_path = client.get("/api/ledger/channels/resident:house-01%00/entries")
        in_query = client.get("/api/ledger/channels/gsa/entries", params={"from": "2024\x00"})
        in_form = client.post("/api/ledger/auth/token", content=b"username=luis%00&password=x",
                              headers={"content-type": "application/x-www-form-urlencoded"})
        deep = client.post("/api/billing/resident/payments", content=b"[" * 5000 + b"]" * 5000,
                           headers={"content-type": "application/json"})
        huge = client.post("/api/billing/resident/payments", content=b'{"amount_cents": 1' + b"0" * 30 + b"}",
                           headers={"content-type": "application/json"})
    for answer, field in ((in_path, "path"), (in_query, "from"), (in_form, "username"), (deep, None),
                          (huge, "amount_cents")):
        assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json", answer.text
        assert field is None or answer.json()["field"] == field
    assert seen == []


async def raw_request(app, method: str, raw_path: str, query: str, headers: tuple[tuple[bytes, bytes], ...] = ()):
    """One request straight into the ASGI app (its lifespan around it), as a server hands it over: for a URL
    longer than any httpx client (the test client too) would build. Its status, headers and body."""
    from urllib.parse import unquote

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": unquote(raw_path), "raw_path": raw_path.encode(), "query_string": query.encode(),
             "root_path": "", "headers": [(b"host", b"testserver"), *headers],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


async def test_web_proxy_refuses_a_url_too_long_to_forward_with_a_400_naming_the_input(dist):
    """The fuzzer's request through /api/ledger/: a `seqs` of 20,006 non-ASCII characters, within the guard's
    32,768, is 120,000 characters percent-encoded, over the 65,536 httpx builds: a 500 until the proxy said so."""
    from urllib.parse import quote

    seen: list[httpx.Request] = []

    def service(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(422, json={"detail": "seqs: at most 20000 characters"},
                              headers={"content-type": "application/problem+json"})

    app = create_app(WebSettings(web_dist_dir=dist), transport=httpx.MockTransport(service))
    seqs = "dc\u00a0à°\U00098e70\x88\x02bØ¾Í<\x02Ì\U00085e2c" + "õ" * 19990
    query = f"seqs={quote(seqs)}&checkpoint=false"
    assert len(seqs) == 20006 and len(query) > 65_536
    status, headers, body = await raw_request(app, "GET", "/api/ledger/channels/municipality%3Areedley/proofs", query)
    problem = json.loads(body)
    assert status == 400 and headers["content-type"] == "application/problem+json", body
    assert problem["type"] == HOSTILE_INPUT and problem["field"] == "seqs"
    assert problem["errors"] == [{"field": "seqs", "location": "query", "message": problem["errors"][0]["message"]}]
    assert "cannot be forwarded to ledger" in problem["detail"]

    path = "/api/ledger/channels/" + quote("õ" * 11_000, safe="") + "/entries"
    status, headers, body = await raw_request(app, "GET", path, "")
    assert status == 400 and json.loads(body)["field"] == "path", body
    assert seen == []

    # A long query that httpx does build still reaches the service, whose answer comes back.
    status, _, body = await raw_request(app, "GET", "/api/ledger/channels/gsa/proofs",
                                        "seqs=" + ",".join(str(n) for n in range(5000)))
    assert status == 422 and len(seen) == 1 and len(seen[0].url.query) > 20_000


async def test_web_proxy_forwards_a_non_ascii_header_value_as_the_bytes_sent(dist):
    """Starlette reads header values as Latin-1; given back as text httpx refused them (ASCII only): a 500."""
    seen: list[httpx.Request] = []

    def service(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    app = create_app(WebSettings(web_dist_dir=dist), transport=httpx.MockTransport(service))
    status, _, body = await raw_request(app, "GET", "/api/ledger/log/key", "",
                                        headers=((b"accept", b"\xe9t\xe9"), (b"idempotency-key", b"cl\xc3\xa9-1")))
    assert status == 200, body
    forwarded = [(name.lower(), value) for name, value in seen[0].headers.raw]
    assert (b"accept", b"\xe9t\xe9") in forwarded and (b"idempotency-key", b"cl\xc3\xa9-1") in forwarded


def test_web_server_reads_a_long_request_head_whole_and_its_proxy_answers_a_problem(dist, monkeypatch, tmp_path):
    """The fuzzer's GET with a `seqs` of 20,001 four-byte characters, 240,000 characters percent-encoded, reaches
    a server in several reads: under uvicorn's default head limit (h11's 16 KiB) it was refused with a plain-text
    400 and the connection closed while the client was still sending, so the client saw a reset. The server as
    `energychain-web` starts it (uvicorn's options from main) reads the head whole; the proxy answers a problem."""
    from urllib.parse import quote

    from energychain_shared.testing import free_port, get_as_served
    from energychain_web.main import main

    port = free_port()
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("EC_WEB_PORT", str(port))
    monkeypatch.setenv("EC_WEB_DIST_DIR", str(dist))
    path = "/api/ledger/channels/gsa/proofs?seqs=" + quote("\U000a65f1" * 20_001)
    status, content_type, body = get_as_served(monkeypatch, lambda: main(["serve"]), port, path,
                                               headers={"Authorization": "Bearer abc"})
    assert len(path) > 240_000
    assert status == 400 and content_type == "application/problem+json", body[:300]
    assert json.loads(body)["field"] == "seqs"
