"""A fake service on loopback for the CLI's tests: the routes a test writes, answering as the real ones do."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from energychain_cli.client import save_session
from energychain_shared.settings import CommonSettings


class FakeService(BaseHTTPRequestHandler):
    """A service's routes as the CLI sees them: a subclass answers with `reply`, `reply_json` or
    `reply_problem` and records what it was asked in its class's ``seen``."""

    seen: list = []

    def reply(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status: int, body: dict) -> None:
        self.reply(status, json.dumps(body).encode(), "application/json")

    def reply_problem(self, status: int, title: str, field: str, message: str, rule: str | None = None) -> None:
        """A refusal as every service answers it: RFC 9457 problem details (energychain_shared.problems)."""
        problem = {"type": f"urn:energychain:rule:{rule}" if rule else "about:blank", "title": title,
                   "status": status, "detail": f"{field}: {message}", "field": field, "rule": rule}
        self.reply(status, json.dumps(problem).encode(), "application/problem+json")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve(tmp_path, monkeypatch) -> Iterator[Callable[..., list]]:
    """``serve(Handler, url_setting=..., username=..., token=...)``: the handler on a loopback port, the CLI's
    setting (e.g. EC_BILLING_URL) pointing at it, a saved login; returns the handler's ``seen``."""
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[FakeService], *, url_setting: str, username: str, token: str) -> list:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        monkeypatch.setenv("EC_RUN_DIR", str(tmp_path / "run"))
        monkeypatch.setenv(url_setting, f"http://127.0.0.1:{server.server_address[1]}")
        save_session(CommonSettings(), username=username, token=token)
        handler.seen = []
        return handler.seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
