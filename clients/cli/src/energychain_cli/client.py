"""A thin HTTP client over the role APIs, with the caller's token."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from energychain_shared.problems import problem_text
from energychain_shared.settings import CommonSettings


class ApiError(Exception):
    """A 4xx/5xx answer, with the API's own message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def error_message(response: httpx.Response) -> str:
    """The API's explanation: the problem details' `detail` (energychain_shared.problems)."""
    return problem_text(response.content, response.reason_phrase)


@dataclass
class Api:
    """Calls to the services' APIs as one logged-in principal (or anonymous)."""

    settings: CommonSettings
    token: str | None = None
    timeout_s: float = 30.0
    _client: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._client = httpx.Client(timeout=self.timeout_s)

    def base_url(self, service: str) -> str:
        """Where ``service`` (ledger, billing, escrow, market, meter_ingest) is reached."""
        return getattr(self.settings, f"{service}_url").rstrip("/")

    def request(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        """Send a request; JSON body back, or ApiError with the API's message."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = self._client.request(method, self.base_url(service) + path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response.status_code, error_message(response))
        return response.json() if response.content else None

    def get(self, service: str, path: str, **params: Any) -> Any:
        """GET with query parameters (None values are left out)."""
        return self.request("GET", service, path, params={k: v for k, v in params.items() if v is not None})

    def post(self, service: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """POST a JSON body."""
        return self.request("POST", service, path, json=body, **kwargs)

    def login(self, username: str, password: str) -> str:
        """Exchange a username and password for a token at the ledger's token endpoint."""
        answer = self.request("POST", "ledger", "/auth/token", data={"username": username, "password": password})
        self.token = answer["access_token"]
        return self.token


def session_path(settings: CommonSettings) -> Path:
    """Where the CLI keeps the current login (under the run dir, readable by its owner only)."""
    return settings.run_dir / "cli" / "session.json"


def save_session(settings: CommonSettings, *, username: str, token: str) -> None:
    """Remember the login for later commands."""
    path = session_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"username": username, "token": token}))
    path.chmod(0o600)


def load_session(settings: CommonSettings) -> dict[str, str] | None:
    """The remembered login, if any."""
    path = session_path(settings)
    return json.loads(path.read_text()) if path.exists() else None
