"""Same-origin reverse proxy: /api/<service>/<path> is forwarded to that service, token and all.

The browser talks to one origin; each service still authorises every call itself
from the bearer token, so the proxy adds no trust of its own.
"""

from __future__ import annotations

import logging

import httpx
from fastapi import APIRouter, HTTPException, Request, Response

log = logging.getLogger(__name__)

# Request headers the services need; everything else (cookies, hop-by-hop) stays behind.
FORWARDED_REQUEST_HEADERS = ("authorization", "content-type", "accept", "idempotency-key", "if-none-match")
FORWARDED_RESPONSE_HEADERS = ("content-type", "www-authenticate", "retry-after", "location", "etag")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def forwarded_headers(headers: dict[str, str] | object) -> dict[str, str]:
    """The subset of the browser's request headers passed to a service."""
    return {name: value for name, value in headers.items() if name.lower() in FORWARDED_REQUEST_HEADERS}


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
        upstream = client.build_request(
            request.method,
            f"{base}/{upstream_path(request.scope, service)}",
            params=request.query_params.multi_items(),
            headers=forwarded_headers(request.headers),
            content=await request.body(),
        )
        try:
            answer = await client.send(upstream)
        except httpx.TimeoutException:
            raise HTTPException(504, detail=f"service: {service} did not answer in time") from None
        except httpx.HTTPError as error:
            log.warning("upstream %s unreachable: %s", service, error)
            raise HTTPException(502, detail=f"service: {service} is unreachable at {base}") from None
        headers = {k: v for k, v in answer.headers.items() if k.lower() in FORWARDED_RESPONSE_HEADERS}
        return Response(content=answer.content, status_code=answer.status_code, headers=headers)

    return router
