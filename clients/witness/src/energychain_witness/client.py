"""The ledger routes a witness calls (docs/LEDGER.md "API"), over one httpx.AsyncClient with its bearer token."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import quote

import httpx

from energychain_shared.problems import problem_text

from energychain_witness.domain import Posting

HEADS_PAGE = 10_000  # most heads-log leaves one request may ask for
ENTRIES_PAGE = 1_000  # most channel entries per page
CHANNELS_PAGE = 1_000  # most channels per page of GET /channels
PROOF_SEQS = 1_000  # most seqs per GET /channels/{c}/proofs
PROOF_SEQS_CHARS = 20_000  # longest 'seqs' parameter the ledger takes


class LedgerError(Exception):
    """The ledger answered a route with a non-2xx status."""

    def __init__(self, route: str, status: int, message: str) -> None:
        super().__init__(f"{route}: {status} {message}")
        self.route = route
        self.status = status
        self.message = message


class LedgerUnreachable(Exception):
    """The ledger could not be reached (connection refused, timeout)."""

    def __init__(self, route: str, error: Exception) -> None:
        super().__init__(f"{route}: cannot reach the ledger: {type(error).__name__}: {error}")
        self.route = route


def error_message(response: httpx.Response) -> str:
    """The ledger's explanation: the problem details' ``detail``, else the body."""
    return problem_text(response.content, response.reason_phrase)


def token_role(token: str) -> str | None:
    """The role claim of a bearer token (read, not verified: the ledger verifies it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    role = claims.get("role") if isinstance(claims, dict) else None
    return str(role) if role is not None else None


class LedgerClient:
    """One witness's session at the ledger: logs in with its username and password, again on a 401."""

    def __init__(self, base_url: str, *, username: str, password: str, timeout_s: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.token: str | None = None
        self.role: str | None = None
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> LedgerClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ plumbing

    async def login(self) -> str:
        """``POST /auth/token`` (form fields username, password) -> the bearer token; remembers the role."""
        if not self.username:
            raise LedgerError("POST /auth/token", 0,
                              "no witness login: set EC_WITNESS_USERNAME and EC_WITNESS_PASSWORD")
        route = "POST /auth/token"
        try:
            response = await self._http.post("/auth/token",
                                             data={"username": self.username, "password": self._password})
        except httpx.TransportError as error:
            raise LedgerUnreachable(route, error) from None
        if not response.is_success:
            raise LedgerError(route, response.status_code, error_message(response))
        answer = response.json()
        self.token = str(answer["access_token"])
        self.role = str(answer.get("role") or token_role(self.token) or "")
        return self.token

    async def request(self, method: str, route: str, path: str, *, params: dict[str, Any] | None = None,
                      body: Any = None) -> Any:
        """Send one request with the token (logging in first, and again once on a 401); JSON back."""
        name = f"{method} {route}"
        if self.token is None:
            await self.login()
        for attempt in (1, 2):
            try:
                response = await self._http.request(method, path, params=params, json=body,
                                                    headers={"Authorization": f"Bearer {self.token}"})
            except httpx.TransportError as error:
                raise LedgerUnreachable(name, error) from None
            if response.status_code == 401 and attempt == 1:
                await self.login()
                continue
            if not response.is_success:
                raise LedgerError(name, response.status_code, error_message(response))
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise LedgerError(name, response.status_code, "the answer is not JSON") from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ the log of heads

    async def log_key(self) -> dict[str, Any]:
        """``GET /log/key``: the ledger's origin and verifier key, and the registered witnesses."""
        return await self.request("GET", "/log/key", "/log/key")

    async def checkpoint(self, *, cosigned: bool = False) -> dict[str, Any]:
        """``GET /log/checkpoint``: the newest checkpoint (or the newest cosigned one)."""
        return await self.request("GET", "/log/checkpoint", "/log/checkpoint",
                                  params={"cosigned": "true" if cosigned else "false"})

    async def checkpoint_at(self, size: int) -> dict[str, Any]:
        """``GET /log/checkpoints/{size}``."""
        return await self.request("GET", "/log/checkpoints/{size}", f"/log/checkpoints/{size}")

    async def heads(self, start: int, end: int) -> list[dict[str, Any]]:
        """``GET /log/heads``: the heads-log leaves ``start <= index < end``, in pages of 10,000."""
        out: list[dict[str, Any]] = []
        while start < end:
            stop = min(end, start + HEADS_PAGE)
            answer = await self.request("GET", "/log/heads", "/log/heads", params={"start": start, "end": stop})
            page = answer["heads"]
            out.extend(page)
            if len(page) < stop - start:
                break  # fewer than asked: the check of the count says so
            start = stop
        return out

    async def consistency(self, old_size: int, new_size: int) -> list[str]:
        """``GET /log/proof/consistency``: the log of heads' consistency proof (base64 hashes)."""
        answer = await self.request("GET", "/log/proof/consistency", "/log/proof/consistency",
                                    params={"from": old_size, "to": new_size})
        return list(answer["proof"])

    async def channel_consistency(self, blinded_id: str, old_size: int, new_size: int) -> list[str]:
        """``GET /log/channels/{blinded_id}/consistency``: one channel tree's consistency proof, by blinded id."""
        answer = await self.request("GET", "/log/channels/{blinded_id}/consistency",
                                    f"/log/channels/{blinded_id}/consistency",
                                    params={"from": old_size, "to": new_size})
        return list(answer["proof"])

    async def submit_cosignature(self, size: int, signature: str) -> None:
        """``POST /log/cosignatures``: hand the ledger this witness's cosignature line of checkpoint ``size``."""
        await self.request("POST", "/log/cosignatures", "/log/cosignatures",
                           body={"size": size, "signature": signature})

    # ------------------------------------------------------------ member reads

    async def channels(self) -> list[dict[str, Any]]:
        """``GET /channels``: every channel the witness's login is a member of (paged by name)."""
        out: list[dict[str, Any]] = []
        after = ""
        while True:
            page = await self.request("GET", "/channels", "/channels", params={"after": after, "limit": CHANNELS_PAGE})
            out.extend(page)
            if len(page) < CHANNELS_PAGE:
                return out
            after = str(page[-1]["channel"])

    async def entries(self, channel: str, first: int, last: int) -> list[tuple[int, str]]:
        """``GET /channels/{c}/entries``: (seq, entry text) of seqs ``first..last`` (pages of 1,000, by cursor)."""
        out: list[tuple[int, str]] = []
        cursor = first - 1
        path = f"/channels/{quote(channel, safe=':')}/entries"
        while cursor < last:
            limit = min(ENTRIES_PAGE, last - cursor)
            page = await self.request("GET", "/channels/{c}/entries", path, params={"cursor": cursor, "limit": limit})
            rows = [(int(e["seq"]), str(e["entry"])) for e in page.get("entries", [])]
            out.extend((seq, text) for seq, text in rows if seq <= last)
            if len(rows) < limit or rows[-1][0] <= cursor:
                break
            cursor = rows[-1][0]
        return out

    async def proofs(self, channel: str, seqs: list[int], checkpoint: int) -> list[dict[str, Any]]:
        """``GET /channels/{c}/proofs?seqs=&checkpoint=``: inclusion proofs of these seqs in the channel's head of
        checkpoint ``checkpoint``, one bundle per request (at most 1,000 seqs each)."""
        out: list[dict[str, Any]] = []
        path = f"/channels/{quote(channel, safe=':')}/proofs"
        chunk: list[int] = []
        chars = 0
        for seq in [*seqs, None]:
            if chunk and (seq is None or len(chunk) == PROOF_SEQS or chars + len(str(seq)) + 1 > PROOF_SEQS_CHARS):
                out.append(await self.request("GET", "/channels/{c}/proofs", path, params={
                    "seqs": ",".join(map(str, chunk)), "checkpoint": checkpoint}))
                chunk, chars = [], 0
            if seq is not None:
                chunk.append(seq)
                chars += len(str(seq)) + 1
        return out

    async def visible_accounts(self) -> list[str]:
        """``GET /accounts/balances``: the names of the accounts the witness's login may see."""
        return [str(row["account"]) for row in await self.request("GET", "/accounts/balances", "/accounts/balances")]

    async def postings(self, account: str) -> list[Posting]:
        """``GET /accounts/{a}/postings``: every posting of one account."""
        rows = await self.request("GET", "/accounts/{a}/postings", f"/accounts/{quote(account, safe=':')}/postings")
        return [Posting(str(r["entry_id"]), int(r["transfer_index"]), int(r["amount_cents"])) for r in rows]
