"""One error format for every service: RFC 9457 problem details, and a guard against hostile input.

Every refusal is ``application/problem+json``::

    {"type": "urn:energychain:problem:invalid-input", "title": "Unprocessable Content", "status": 422,
     "detail": "amount: at most 2 decimal places", "field": "amount", "rule": null,
     "errors": [{"field": "amount", "location": "body", "message": "at most 2 decimal places"}]}

``type`` is ``about:blank`` for a plain HTTP refusal (the title is the status's phrase), a
``urn:energychain:problem:*`` for input the guard or validation refused, and
``urn:energychain:rule:<rule>`` when a business rule refused (``rule`` names it).
``field`` names the refused input (a body member, query or path parameter, form field or
header) when there is one; ``errors`` lists every invalid input of a validation refusal.

Routes keep raising ``HTTPException`` (``detail``: a string, ``"field: message"``, a dict with
``field``/``message``/``rule``, or a list of ``{"loc", "msg"}``) or their own refusals through
:func:`problem_response`; the handlers installed here turn all of them into problems.

`HostileInputGuard` refuses, before any route runs, what no route can store or parse: NUL
bytes (PostgreSQL text cannot hold U+0000), unpaired surrogates, strings over
``MAX_TEXT_CHARS``, integers outside 64 bits, non-finite numbers, JSON nested deeper than
``MAX_JSON_DEPTH`` and bodies over the size limit, naming where it found them.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
RULE_TYPE_PREFIX = "urn:energychain:rule:"
INVALID_INPUT = "urn:energychain:problem:invalid-input"
HOSTILE_INPUT = "urn:energychain:problem:unacceptable-input"

MAX_BODY_BYTES = 1 << 20  # 1 MiB: the largest request any route takes is a few kB
# Any one string (path, query value, form field or JSON member): a coarse bound above every route's own
# (the longest is the ledger's `seqs`, 20,000); each route bounds its fields more tightly.
MAX_TEXT_CHARS = 32_768
MAX_JSON_DEPTH = 32
INT64 = 1 << 63
RETRY_AFTER_S = 2  # what a 503 asks a client to wait

# Every operation may answer these; operations behind a bearer token also 401 and 403.
DOCUMENTED = {
    400: "the request holds input no route accepts (NUL byte, unpaired surrogate, overlong text, "
         "number out of range, JSON nested too deep): `field` names where",
    404: "no such resource",
    409: "conflicts with the current state (`rule` names which)",
    413: "the body is larger than the service accepts",
    415: "the body's content type is not one this operation reads",
    422: "a field or a business rule refused the input (`field`, `rule`, `errors` name them)",
    429: "too many requests: retry after the `Retry-After` header's seconds",
    503: "the service's database (or broker) is unavailable for now: retry after `Retry-After` seconds",
}
DOCUMENTED_SECURED = {
    401: "missing, expired or invalid bearer token",
    403: "the caller's role or membership does not allow this",
}


class FieldProblem(BaseModel):
    """One invalid input of a validation refusal."""

    field: str | None = Field(description="the input's name (body member path, parameter, form field, header)")
    location: str | None = Field(default=None, description="body, query, path, header, form or cookie")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every service answers a refusal (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI of the problem type")
    title: str = Field(description="the problem type's summary (the HTTP status phrase for about:blank)")
    status: int = Field(ge=100, le=599)
    detail: str = Field(description="what went wrong with this request, for a person")
    instance: str | None = Field(default=None, description="the request path")
    field: str | None = Field(default=None, description="the refused input, when one is to blame")
    rule: str | None = Field(default=None, description="the business rule that refused, when one did")
    errors: list[FieldProblem] | None = Field(default=None, description="every invalid input (validation)")


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    status: int, detail: str, *, field: str | None = None, rule: str | None = None,
    errors: list[dict[str, Any]] | None = None, type_: str | None = None, instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem details response. JSON is written ASCII-only, so whatever a detail quotes
    (even an unpaired surrogate) is sent intact."""
    body: dict[str, Any] = {
        "type": type_ or (RULE_TYPE_PREFIX + rule if rule else "about:blank"),
        "title": _title(status),
        "status": status,
        "detail": detail,
    }
    for name, value in (("instance", instance), ("field", field), ("rule", rule), ("errors", errors)):
        if value is not None:
            body[name] = value
    return Response(json.dumps(body, ensure_ascii=True, default=str), status_code=status,
                    media_type=MEDIA_TYPE, headers=headers)


def _location_and_field(loc: Iterable[Any]) -> tuple[str | None, str | None]:
    parts = [str(part) for part in loc]
    location = parts[0] if parts and parts[0] in {"body", "query", "path", "header", "form", "cookie"} else None
    named = parts[1:] if location else parts
    return location, ".".join(named) or None


def problem_of_http_exception(status: int, detail: Any) -> dict[str, Any]:
    """``detail`` of an ``HTTPException`` (any of the shapes routes raise) as problem members."""
    if isinstance(detail, dict):
        field, rule = detail.get("field"), detail.get("rule")
        message = str(detail.get("message") or detail.get("msg") or _title(status))
        return {"detail": f"{field}: {message}" if field else message, "field": field, "rule": rule}
    if isinstance(detail, list):
        errors = []
        for item in detail:
            location, field = _location_and_field(item.get("loc", ()) if isinstance(item, dict) else ())
            message = str(item.get("msg", item) if isinstance(item, dict) else item)
            errors.append({"field": field, "location": location, "message": message})
        first = errors[0] if errors else {"field": None, "message": _title(status)}
        return {"detail": "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
                or _title(status), "field": first["field"], "errors": errors, "type_": INVALID_INPUT}
    text = str(detail) if detail else _title(status)
    name, sep, _rest = text.partition(": ")
    field = name if sep and name.replace("_", "").replace("-", "").isalnum() and name[:1].isalpha() else None
    return {"detail": text, "field": field}


def validation_errors(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI/pydantic validation errors as ``FieldProblem`` dicts (the offending input is not echoed)."""
    out = []
    for error in errors:
        location, field = _location_and_field(error.get("loc", ()))
        out.append({"field": field, "location": location, "message": str(error.get("msg", "invalid value"))})
    return out


def install_problem_details(app: FastAPI, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    """Answer every refusal of ``app`` as problem details, guard it against hostile input, and
    declare the problems in its OpenAPI document."""

    @app.exception_handler(StarletteHTTPException)
    async def http_exception(request: Request, error: StarletteHTTPException) -> Response:
        members = problem_of_http_exception(error.status_code, error.detail)
        return problem_response(error.status_code, instance=request.url.path, headers=error.headers, **members)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        errors = validation_errors(error.errors())
        detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        return problem_response(422, detail or "invalid request", field=errors[0]["field"] if errors else None,
                                errors=errors, type_=INVALID_INPUT, instance=request.url.path)

    try:
        import asyncpg
    except ImportError:  # pragma: no cover - every service has it; the web server may not
        pass
    else:
        @app.exception_handler(asyncpg.exceptions.DataError)
        @app.exception_handler(asyncpg.exceptions.ProgramLimitExceededError)
        async def database_refused_value(request: Request, error: Exception) -> Response:
            # The last line of defence: the guard and the routes' validation should have refused first.
            log.warning("the database refused a value of %s %s: %s", request.method, request.url.path, error)
            return problem_response(400, f"a value of this request cannot be stored or compared: {error}",
                                    type_=HOSTILE_INPUT, instance=request.url.path)

        @app.exception_handler(asyncpg.exceptions.PostgresConnectionError)
        @app.exception_handler(asyncpg.exceptions.OperatorInterventionError)
        @app.exception_handler(asyncpg.exceptions.InsufficientResourcesError)
        @app.exception_handler(ConnectionRefusedError)
        async def database_unavailable(request: Request, error: Exception) -> Response:
            # The database restarting or away: the service is unavailable for now, the request was not wrong.
            log.warning("the database is unavailable for %s %s: %s", request.method, request.url.path, error)
            return problem_response(503, "the service's database is unavailable right now: retry shortly",
                                    instance=request.url.path, headers={"Retry-After": str(RETRY_AFTER_S)})

    app.add_middleware(HostileInputGuard, max_body_bytes=max_body_bytes)
    document_problems(app)


# ------------------------------------------------------------------ hostile input


class Refusal(Exception):
    """Input refused by the guard: where it was and why."""

    def __init__(self, status: int, field: str, location: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.location, self.message = status, field, location, message


def check_text(value: str, field: str, location: str) -> None:
    """Refuse a string no route can take: NUL, an unpaired surrogate, or over MAX_TEXT_CHARS."""
    if "\x00" in value:
        raise Refusal(400, field, location, "contains a NUL byte (U+0000), which no text field accepts")
    if len(value) > MAX_TEXT_CHARS:
        raise Refusal(400, field, location, f"is {len(value)} characters long; at most {MAX_TEXT_CHARS} are accepted")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Refusal(400, field, location, "contains an unpaired surrogate, which is not Unicode text") from None


class _NonFinite:
    def __init__(self, literal: str) -> None:
        self.literal = literal


def check_json(body: bytes) -> None:
    """Refuse a JSON body holding what `check_text` refuses, integers outside 64 bits, NaN or
    infinities, or nesting deeper than MAX_JSON_DEPTH. Malformed JSON passes: the route's
    validation names it."""
    try:
        document = json.loads(body, parse_constant=_NonFinite)
    except RecursionError:
        raise Refusal(400, "body", "body", f"is nested too deeply (more than {MAX_JSON_DEPTH} levels)") from None
    except ValueError:
        return
    for path, value, depth in _json_items_bounded(document):
        field = path or "body"
        if depth > MAX_JSON_DEPTH:
            raise Refusal(400, field, "body", f"is nested too deeply (more than {MAX_JSON_DEPTH} levels)")
        if isinstance(value, str):
            check_text(value, field, "body")
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and not -INT64 <= value < INT64:
            raise Refusal(400, field, "body", "is an integer outside the 64-bit range")
        elif isinstance(value, float) and not math.isfinite(value) or isinstance(value, _NonFinite):
            raise Refusal(400, field, "body", "is not a finite number")


def _json_items_bounded(document: Any) -> Iterator[tuple[str, Any, int]]:
    # Depth-first without recursion, stopping below MAX_JSON_DEPTH (json.loads allows ~1000 levels).
    stack: list[tuple[str, Any, int]] = [("", document, 0)]
    while stack:
        path, value, depth = stack.pop()
        yield path, value, depth
        if depth > MAX_JSON_DEPTH:
            return
        if isinstance(value, dict):
            for key, member in value.items():
                child = f"{path}.{key}" if path else str(key)
                yield child, key, depth + 1
                stack.append((child, member, depth + 1))
        elif isinstance(value, list):
            for index, member in enumerate(value):
                stack.append((f"{path}.{index}" if path else str(index), member, depth + 1))


def check_pairs(pairs: Iterable[tuple[str, str]], location: str) -> None:
    """Refuse query or form pairs whose name or value `check_text` refuses."""
    for name, value in pairs:
        check_text(name, name[:64], location)
        check_text(value, name[:64], location)


def check_head(scope: dict) -> None:
    """Refuse a request whose path, query string or headers hold what `check_text` refuses."""
    check_text(scope.get("path", ""), "path", "path")
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        check_pairs(parse_qsl(query, keep_blank_values=True), "query")
    for name, value in scope.get("headers", ()):
        if b"\x00" in value:
            raise Refusal(400, name.decode("latin-1"), "header", "contains a NUL byte (U+0000)")


def _content_type(scope: dict) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def _content_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


_PART_NAME = re.compile(rb'content-disposition:[^\r\n]*?\bname="([^"\r\n]*)"', re.IGNORECASE)


def check_body(content_type: str, body: bytes) -> None:
    """Refuse a JSON or form body holding hostile input (a multipart or text body: a raw NUL byte)."""
    if not body:
        return
    if content_type == "application/json" or content_type.endswith("+json"):
        check_json(body)
    elif content_type == "application/x-www-form-urlencoded":
        check_pairs(parse_qsl(body.decode("latin-1"), keep_blank_values=True), "form")
    elif content_type == "multipart/form-data" and b"\x00" in body:
        # No route takes a file: a NUL byte is in a text field, named by the part it falls in.
        names = _PART_NAME.findall(body[: body.index(b"\x00")])
        field = names[-1].decode("latin-1") if names else "body"
        raise Refusal(400, field, "form", "contains a NUL byte (U+0000), which no text field accepts")
    elif content_type.startswith("text/") and b"\x00" in body:
        raise Refusal(400, "body", "body", "contains a NUL byte (U+0000)")


class HostileInputGuard:
    """ASGI middleware: refuse hostile input (see the module's docstring) with a 400 (413 for a
    body over ``max_body_bytes``) problem naming where it was, before the app reads it."""

    def __init__(self, app, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_head(scope)
            length = _content_length(scope)
            if length is not None and length > self.max_body_bytes:
                raise Refusal(413, "body", "body", f"is {length} bytes; at most {self.max_body_bytes} are accepted")
            body, more = await self._read_body(receive)
            check_body(_content_type(scope), body)
        except Refusal as refusal:
            response = problem_response(
                refusal.status, f"{refusal.field}: {refusal.message}", field=refusal.field,
                errors=[{"field": refusal.field, "location": refusal.location, "message": refusal.message}],
                type_=HOSTILE_INPUT, instance=scope.get("path", "")[:256],
            )
            await response(scope, receive, send)
            return

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay if not more else receive, send)

    async def _read_body(self, receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise Refusal(413, "body", "body", f"is over {self.max_body_bytes} bytes, the most accepted")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False


# ------------------------------------------------------------------ OpenAPI


def _problem_responses(secured: bool) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Problem"}
    statuses = {**DOCUMENTED, **(DOCUMENTED_SECURED if secured else {})}
    return {str(code): {"description": text, "content": {MEDIA_TYPE: {"schema": ref}}}
            for code, text in sorted(statuses.items())}


def document_problems(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare the problem responses on every operation, in place of
    FastAPI's own 422 (``HTTPValidationError``), which no service answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["FieldProblem"] = FieldProblem.model_json_schema(ref_template="#/components/schemas/{model}")
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        problem.pop("$defs", None)
        components["Problem"] = problem
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = operation["responses"]
                responses.pop("422", None)
                for code, response in _problem_responses(bool(operation.get("security"))).items():
                    responses.setdefault(code, response)
                for code, response in responses.items():  # a route's own error statuses are problems too
                    if code.startswith(("4", "5")) and "content" not in response:
                        response["content"] = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


# ------------------------------------------------------------------ clients


def problem_text(body: bytes | str, fallback: str, *, limit: int = 300) -> str:
    """What a client shows of a refusal: the problem's ``detail`` (every invalid input when it
    lists several), else the body's text, else ``fallback`` (the status phrase)."""
    try:
        problem = json.loads(body)
    except (ValueError, TypeError):
        problem = None
    if isinstance(problem, dict) and isinstance(problem.get("detail"), str):
        return problem["detail"][:limit]
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return (text.strip() or fallback)[:limit]
