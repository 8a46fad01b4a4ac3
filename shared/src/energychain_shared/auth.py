"""Access tokens: EdDSA-signed JWTs carrying role, subject and municipality.

The ledger's identity service signs tokens with the private token key; every
other service verifies them with the public key alone, and refuses the tokens of users
the ledger has disabled or re-passworded since (``Revocations``, refreshed from the
ledger's ``GET /auth/revocations`` every ``token_revocation_refresh_s``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict

from energychain_shared.channels import GSA_CHANNEL, resident_channel

ISSUER = "energychain"
ALGORITHM = "EdDSA"


class Role(StrEnum):
    """The three roles of the program, and the independent auditor who reads the ledger's log, never its content."""

    RESIDENT = "resident"
    MUNICIPALITY = "municipality"
    GSA = "gsa"
    AUDITOR = "auditor"


class Principal(BaseModel):
    """Who is calling: role, subject (username), municipality, and house for residents."""

    model_config = ConfigDict(frozen=True)

    role: Role
    subject: str
    municipality_id: str | None = None
    house_id: str | None = None
    issued_at: float | None = None  # the token's iat (seconds since the epoch, to the ms), when read from a token

    def may_read_channel(self, channel: str, *, channel_municipality: str | None) -> bool:
        """True when this principal is a member of ``channel``."""
        if self.role is Role.GSA:
            return True
        if self.role is Role.MUNICIPALITY:
            return channel != GSA_CHANNEL and channel_municipality == self.municipality_id
        return channel == resident_channel(self.house_id or "")


def issue_token(
    key: Ed25519PrivateKey, principal: Principal, *, ttl: timedelta, now: datetime | None = None
) -> str:
    """Sign an access token for ``principal`` valid for ``ttl``."""
    issued = now or datetime.now(timezone.utc)
    claims = {
        "iss": ISSUER,
        "sub": principal.subject,
        "role": principal.role.value,
        "municipality": principal.municipality_id,
        "house": principal.house_id,
        "iat": round(issued.timestamp(), 3),  # to the ms: a revocation refuses the tokens issued before it
        "exp": int((issued + ttl).timestamp()),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


class InvalidToken(Exception):
    """The token is missing, malformed, expired or not signed by our key."""


def verify_token(key: Ed25519PublicKey, token: str) -> Principal:
    """Check signature, issuer and expiry; return who the token speaks for."""
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub", "iss"]}
        )
        return Principal(
            role=Role(claims["role"]),
            subject=claims["sub"],
            municipality_id=claims.get("municipality"),
            house_id=claims.get("house"),
            issued_at=claims.get("iat"),
        )
    except (jwt.PyJWTError, KeyError, ValueError) as error:
        raise InvalidToken(str(error)) from None


def subject_digest(subject: str) -> str:
    """How the revocation list names a user: SHA-256 of the username, hex (the list is public)."""
    return hashlib.sha256(subject.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Revocation:
    """The tokens of one user no longer honoured: all of them (disabled), or those issued before ``not_before``."""

    subject_sha256: str
    not_before: datetime | None  # None: the user is disabled


class Revocations:
    """The users whose tokens are refused: replaced whole on each refresh from the ledger."""

    def __init__(self, revoked: Iterable[Revocation] = ()) -> None:
        self._by_subject: dict[str, Revocation] = {}
        self.replace(revoked)

    def replace(self, revoked: Iterable[Revocation]) -> None:
        self._by_subject = {r.subject_sha256: r for r in revoked}

    def refuses(self, principal: Principal) -> bool:
        """Whether ``principal``'s token was revoked: its user disabled, or the token older than the revocation."""
        found = self._by_subject.get(subject_digest(principal.subject))
        if found is None:
            return False
        if found.not_before is None:
            return True
        return principal.issued_at is None or principal.issued_at < found.not_before.timestamp()


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def current_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """FastAPI dependency: the verified caller (401 without a valid token).

    The app must put the token public key on ``app.state.token_public_key``; when it keeps
    ``app.state.revocations`` (``Revocations``), a revoked token is refused too.
    """
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="missing or invalid bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if token is None:
        raise unauthorized
    try:
        principal = verify_token(request.app.state.token_public_key, token)
    except InvalidToken:
        raise unauthorized from None
    revocations: Revocations | None = getattr(request.app.state, "revocations", None)
    if revocations is not None and revocations.refuses(principal):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="token revoked: the user was disabled or changed "
                            "its password; sign in again", headers={"WWW-Authenticate": "Bearer"})
    return principal


def require_role(*roles: Role):
    """FastAPI dependency factory: the caller, if its role is one of ``roles`` (else 403)."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {principal.role.value} may not use this endpoint "
                f"(allowed: {', '.join(r.value for r in roles)})",
            )
        return principal

    return dependency
