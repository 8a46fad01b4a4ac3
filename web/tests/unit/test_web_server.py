"""The web server: the built app with client-side routes, and a same-origin proxy to each service."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

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
        return httpx.Response(422, json={"detail": {"field": "amount", "message": "at most 2 decimal places"}})

    with client_for(dist, service) as client:
        answer = client.post(
            "/api/billing/resident/payments?x=1&x=2",
            json={"amount": "1.234", "method": "card"},
            headers={"Authorization": "Bearer abc", "Idempotency-Key": "k-1", "Cookie": "secret=1"},
        )
    assert answer.status_code == 422
    assert answer.json()["detail"] == {"field": "amount", "message": "at most 2 decimal places"}
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
