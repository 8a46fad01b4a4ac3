"""Access tokens: EdDSA-signed JWTs carrying role, subject and municipality.

The ledger's identity service signs tokens with the private token key; every
other service verifies them with the public key alone.
"""

from __future__ import annotations

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
        "iat": int(issued.timestamp()),
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
        )
    except (jwt.PyJWTError, KeyError, ValueError) as error:
        raise InvalidToken(str(error)) from None


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def current_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """FastAPI dependency: the verified caller (401 without a valid token).

    The app must put the token public key on ``app.state.token_public_key``.
    """
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="missing or invalid bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if token is None:
        raise unauthorized
    try:
        return verify_token(request.app.state.token_public_key, token)
    except InvalidToken:
        raise unauthorized from None


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
