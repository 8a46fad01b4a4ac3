"""Follow the ledger's revocation list, so a disabled user's tokens stop working in every service.

Tokens are verified with the public key alone; what the key cannot say (this user was
disabled, or changed its password, after the token was issued) the ledger publishes at
``GET /auth/revocations`` by SHA-256 of the username. Each service's API refreshes it
every ``token_revocation_refresh_s``: that is the bound on how long a revoked token still
works there. When the ledger cannot be reached the last list stays in force.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import httpx

from energychain_shared.auth import Revocation, Revocations
from energychain_shared.settings import CommonSettings

log = logging.getLogger(__name__)
PATH = "/auth/revocations"


def parse_revocations(body: dict[str, Any]) -> list[Revocation]:
    """The list as the ledger serves it: {"revoked": [{"subject_sha256", "not_before" (ISO or null)}]}."""
    return [
        Revocation(item["subject_sha256"],
                   None if item.get("not_before") is None else datetime.fromisoformat(item["not_before"]))
        for item in body["revoked"]
    ]


async def follow_revocations(revocations: Revocations, settings: CommonSettings, *,
                             transport: httpx.AsyncBaseTransport | None = None) -> None:
    """Replace ``revocations`` with the ledger's list every ``token_revocation_refresh_s``, until cancelled
    (``transport``: another way to the ledger than HTTP to ``ledger_url``)."""
    failing = False
    async with httpx.AsyncClient(base_url=settings.ledger_url, timeout=5.0, transport=transport) as client:
        while True:
            try:
                answer = await client.get(PATH)
                answer.raise_for_status()
                revocations.replace(parse_revocations(answer.json()))
                if failing:
                    log.info("the ledger's revocation list is reachable again")
                failing = False
            except (httpx.HTTPError, ValueError, KeyError) as error:
                if not failing:
                    log.warning("cannot refresh the revocation list from %s%s (%s): the last one stays in force",
                                settings.ledger_url, PATH, error)
                failing = True
            await asyncio.sleep(settings.token_revocation_refresh_s)
