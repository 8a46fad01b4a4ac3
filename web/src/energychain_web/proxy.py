"""Same-origin reverse proxy: /api/<service>/<path> is forwarded to that service, token and all.

The browser talks to one origin; each service still authorises every call itself
from the bearer token, so the proxy adds no trust of its own.

Connections to the services are pooled and dropped after CLIENT_KEEPALIVE_EXPIRY_S idle, before
the services close them (SERVER_KEEP_ALIVE_S, energychain_shared.settings). A request that still
meets a connection the service closed (no answer at all, or a reset) is sent once more on a fresh
connection when repeating it is harmless: a GET or HEAD, or a request with an Idempotency-Key
(the service answers a repeated key with the first outcome).

What the guard lets through but cannot be forwarded is refused here, as the guard refuses, with a 400
problem naming the input (never a 500): a URL that httpx will not build (any one part over 65,536
characters: a query value within the guard's 32,768 characters grows up to twelvefold when
percent-encoded). Header values are forwarded as the bytes the browser sent (httpx would refuse
non-ASCII text).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, HTTPException, Request, Response

from energychain_shared.problems import HOSTILE_INPUT, problem_response

log = logging.getLogger(__name__)

# Request headers the services need; everything else (cookies, hop-by-hop) stays behind.
FORWARDED_REQUEST_HEADERS = ("authorization", "content-type", "accept", "idempotency-key", "if-none-match")
FORWARDED_RESPONSE_HEADERS = ("content-type", "www-authenticate", "retry-after", "location", "etag")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
SAFE_METHODS = frozenset({"GET", "HEAD"})
# What a connection the service closed (or reset) under the request looks like: nothing was answered.
CLOSED_CONNECTION_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def forwarded_headers(headers: dict[str, str] | object) -> dict[str, bytes]:
    """The subset of the browser's request headers passed to a service, as the bytes it sent (Starlette reads
    them as Latin-1; httpx would refuse a non-ASCII value given as text)."""
    return {name: value.encode("latin-1") for name, value in headers.items()
            if name.lower() in FORWARDED_REQUEST_HEADERS}


def unforwardable(request: Request, service: str, error: httpx.InvalidURL) -> Response:
    """The 400 problem for a request whose URL httpx will not build for ``service``, naming what to blame: the
    query parameter with the longest value when the query is at fault, else the path."""
    params = request.query_params.multi_items()
    if "query" in str(error) and params:
        field, location = max(params, key=lambda pair: len(urlencode([pair])))[0][:64], "query"
    else:
        field, location = "path", "path"
    too_long = "too long" in str(error)
    limit = "; httpx builds no part of a URL over 65,536 characters, percent-encoded" if too_long else ""
    message = f"cannot be forwarded to {service} ({error}{limit})"
    return problem_response(400, f"{field}: {message}", field=field,
                            errors=[{"field": field, "location": location, "message": message}],
                            type_=HOSTILE_INPUT, instance=request.url.path[:256])


def client_header(request: Request) -> dict[str, str]:
    """X-Forwarded-For naming the browser's address (the edge's own view; one the browser sent is dropped), so the
    ledger throttles sign-ins per client, not per proxy."""
    return {"x-forwarded-for": request.client.host} if request.client else {}


def may_repeat(request: httpx.Request) -> bool:
    """Whether sending ``request`` twice is harmless: a safe method, or an Idempotency-Key the service honours."""
    return request.method in SAFE_METHODS or "idempotency-key" in request.headers


async def send_once_more_if_closed(client: httpx.AsyncClient, fresh: httpx.AsyncClient,
                                   request: httpx.Request) -> httpx.Response:
    """``client.send(request)``; when the service closed the connection under it and the request may be repeated,
    the request once more through ``fresh`` (a client that keeps no connection, so a new one is opened)."""
    try:
        return await client.send(request)
    except CLOSED_CONNECTION_ERRORS as error:
        if not may_repeat(request):
            raise
        log.info("upstream closed the connection under %s %s (%s): sending it again on a new connection",
                 request.method, request.url.path, str(error) or type(error).__name__)
        return await fresh.send(request)


def upstream_path(scope: dict, service: str) -> str:
    """The path after /api/<service>/ exactly as the browser sent it (still percent-encoded)."""
    # The decoded path would turn an encoded "/" inside one segment (a channel or an id) into two.
    raw = scope.get("raw_path") or scope["path"].encode()
    prefix = f"/api/{service}/".encode()
    return raw[len(prefix):].decode("latin-1") if raw.startswith(prefix) else scope["path"][len(prefix):]


def proxy_router(upstreams: dict[str, str]) -> APIRouter:
    """Routes /api/<service>/<path> for each named upstream; an unknown service is 404."""
    router = APIRouter(tags=["proxy"])

    @router.api_route("/api/{service}/{path:path}", methods=METHODS, include_in_schema=False)
    async def forward(service: str, path: str, request: Request) -> Response:
        base = upstreams.get(service)
        if base is None:
            raise HTTPException(404, detail=f"service: no service {service!r} (known: {', '.join(sorted(upstreams))})")
        client: httpx.AsyncClient = request.app.state.http
        fresh: httpx.AsyncClient = request.app.state.http_fresh
        try:
            upstream = client.build_request(
                request.method,
                f"{base}/{upstream_path(request.scope, service)}",
                params=request.query_params.multi_items(),
                headers={**forwarded_headers(request.headers), **client_header(request)},
                content=await request.body(),
            )
        except httpx.InvalidURL as error:  # not an httpx.HTTPError: nothing was sent
            return unforwardable(request, service, error)
        try:
            answer = await send_once_more_if_closed(client, fresh, upstream)
        except httpx.TimeoutException:
            raise HTTPException(504, detail=f"service: {service} did not answer in time") from None
        except httpx.HTTPError as error:
            log.warning("upstream %s unreachable: %s", service, error)
            raise HTTPException(502, detail=f"service: {service} is unreachable at {base}") from None
        headers = {k: v for k, v in answer.headers.items() if k.lower() in FORWARDED_RESPONSE_HEADERS}
        return Response(content=answer.content, status_code=answer.status_code, headers=headers)

    return router
