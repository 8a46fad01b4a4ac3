"""The ledger's identity routes: tokens (throttled), a user's own password, the public revocation list,
and the GSA's management of users."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from energychain_ledger import users
from energychain_ledger.bootstrap import Ledger
from energychain_ledger.domain.users import UserRefused
from energychain_ledger.schemas import PasswordChangeIn, RevocationOut, RevocationsOut, TokenOut, UserIn, UserOut
from energychain_ledger.settings import LedgerSettings
from energychain_ledger.sign_in import BadCredentials, Disabled, SignInThrottle, Throttled, client_address, sign_in
from energychain_shared.auth import Principal, Role, current_principal, issue_token, require_role

log = logging.getLogger(__name__)
Gsa = Annotated[Principal, Depends(require_role(Role.GSA))]
Username = Annotated[str, Path(max_length=63)]


def _ledger(request: Request) -> Ledger:
    return request.app.state.ledger


LedgerDep = Annotated[Ledger, Depends(_ledger)]  # the app's open ledger (every route of api.py too)


def _refused(error: UserRefused) -> HTTPException:
    return HTTPException(422, detail=[{"loc": ["body", error.field], "msg": str(error)}])


async def refresh_revocations(app: FastAPI) -> None:
    """This API's revocation list from the users table (at once after each change made here)."""
    app.state.revocations.replace(await users.revocations(app.state.ledger.store))


async def follow_revocation_table(app: FastAPI, settings: LedgerSettings) -> None:
    """Refresh from the table every ``token_revocation_refresh_s`` (changes made through another instance)."""
    while True:
        try:
            await refresh_revocations(app)
        except Exception:  # noqa: BLE001 - the last list stays in force; the next round tries again
            log.exception("cannot refresh the revocation list")
        await asyncio.sleep(settings.token_revocation_refresh_s)


def auth_router(settings: LedgerSettings) -> APIRouter:
    """The routes; the app keeps ``state.ledger`` and ``state.revocations`` (a ``Revocations``)."""
    router = APIRouter()
    throttle = SignInThrottle.of(settings)

    @router.post("/auth/token", response_model=TokenOut, tags=["auth"], responses={
        401: {"description": "unknown username, wrong password, or a disabled user"},
        429: {"description": "too many failed sign-ins for this username or from this address (Retry-After)"}})
    async def token(request: Request, ledger: LedgerDep,
                    form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
        """OAuth2 password flow: a bearer token for an enabled user with the right password."""
        address = client_address(request.client.host if request.client else None,
                                 request.headers.get("x-forwarded-for"), settings.ledger_login_trusted_proxies)
        try:
            user = await sign_in(ledger.store, throttle, username=form.username, password=form.password,
                                 address=address)
        except Throttled as error:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail=str(error),
                                headers={"Retry-After": str(error.retry_after_s)}) from None
        except (BadCredentials, Disabled) as error:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=str(error),
                                headers={"WWW-Authenticate": "Bearer"}) from None
        principal = Principal(role=Role(user["role"]), subject=user["username"],
                              municipality_id=user["municipality_id"], house_id=user["house_id"])
        return TokenOut(access_token=issue_token(request.app.state.token_private_key, principal,
                                                 ttl=timedelta(seconds=settings.token_ttl_s)),
                        expires_in=settings.token_ttl_s, role=principal.role.value)

    @router.post("/auth/password", status_code=204, tags=["auth"],
                 responses={401: {"description": "the current password is wrong"}})
    async def change_password(request: Request, ledger: LedgerDep,
                              principal: Annotated[Principal, Depends(current_principal)],
                              body: Annotated[PasswordChangeIn, Body()]) -> None:
        """Change your own password; your older tokens stop working (sign in again)."""
        try:
            await users.change_password(ledger.store, principal.subject, current=body.current_password,
                                        new=body.new_password)
        except BadCredentials:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="current_password: incorrect password") from None
        except UserRefused as error:
            if error.field == "password":
                error = UserRefused("new_password", str(error))
            raise _refused(error) from None
        await refresh_revocations(request.app)

    @router.get("/auth/revocations", response_model=RevocationsOut, tags=["auth"])
    async def revocations(ledger: LedgerDep) -> RevocationsOut:
        """(Public) users whose tokens are refused, by SHA-256 of the username: what every service refreshes."""
        return RevocationsOut(revoked=[RevocationOut(subject_sha256=r.subject_sha256, not_before=r.not_before)
                                       for r in await users.revocations(ledger.store)])

    @router.get("/admin/users", response_model=list[UserOut], tags=["users"])
    async def list_users(
        ledger: LedgerDep, _: Gsa,
        role: Annotated[str | None, Query(pattern=r"^(resident|municipality|gsa|auditor)$")] = None,
        after: Annotated[str, Query(max_length=63, description="username to start after (paging)")] = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[UserOut]:
        """(GSA) Users by name, with whether they are disabled."""
        return [UserOut(**u) for u in await ledger.store.users(role=role, after=after, limit=limit)]

    @router.post("/admin/users", response_model=UserOut, status_code=201, tags=["users"], responses={
        409: {"description": "the username is taken"}, 422: {"description": "a rule is broken; the field is named"}})
    async def create_user(ledger: LedgerDep, _: Gsa, body: Annotated[UserIn, Body()]) -> UserOut:
        """(GSA) Create a resident or municipality user: a resident names its house (its municipality follows),
        a municipality user its municipality."""
        unknown = (body.house_id and not ledger.knows_house(body.house_id)) or (
            body.municipality_id and body.municipality_id not in ledger.registry.by_municipality)
        if unknown and ledger.feed is not None:
            await ledger.feed.sync()  # enrolled a moment ago: the registry topic has it
        try:
            return UserOut(**await users.create_user(ledger.store, ledger.registry, username=body.username,
                                                     role=body.role, password=body.password, house_id=body.house_id,
                                                     municipality_id=body.municipality_id))
        except UserRefused as error:
            raise _refused(error) from None
        except users.UserExists as error:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from None

    @router.get("/admin/users/{username}", response_model=UserOut, tags=["users"])
    async def read_user(ledger: LedgerDep, _: Gsa, username: Username) -> UserOut:
        """(GSA) One user."""
        found = await ledger.store.user(username)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no user {username!r}")
        return UserOut(**users.public(found))

    async def _set_enabled(request: Request, ledger: Ledger, principal: Principal, username: str,
                           enabled: bool) -> UserOut:
        if not enabled and username == principal.subject:
            raise HTTPException(status.HTTP_409_CONFLICT, detail="a GSA operator cannot disable itself")
        try:
            changed = await users.set_enabled(ledger.store, username, enabled=enabled)
        except users.UnknownUser as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from None
        await refresh_revocations(request.app)
        return UserOut(**changed)

    @router.post("/admin/users/{username}/disable", response_model=UserOut, tags=["users"])
    async def disable_user(request: Request, ledger: LedgerDep, principal: Gsa, username: Username) -> UserOut:
        """(GSA) Disable a user: its sign-in fails at once and its tokens are refused (the ledger at once, the
        other services within EC_TOKEN_REVOCATION_REFRESH_S)."""
        return await _set_enabled(request, ledger, principal, username, False)

    @router.post("/admin/users/{username}/enable", response_model=UserOut, tags=["users"])
    async def enable_user(request: Request, ledger: LedgerDep, principal: Gsa, username: Username) -> UserOut:
        """(GSA) Enable a disabled user again (the tokens it had before stay refused: it signs in anew)."""
        return await _set_enabled(request, ledger, principal, username, True)

    return router
