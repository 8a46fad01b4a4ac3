"""Users: the seed file (roles and homes resolved through the registry), and the GSA's management of them
(create, disable, enable) and a user's change of its own password."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from energychain_ledger.adapters.store import LedgerStore
from energychain_ledger.domain.users import NewUser, UserRefused, check_password, new_user
from energychain_ledger.sign_in import BadCredentials, hasher, verify_password
from energychain_shared.auth import Revocation, subject_digest
from energychain_shared.registry import Registry

ROLES = ("resident", "municipality", "gsa", "auditor")


@dataclass(frozen=True, slots=True)
class UserSpec:
    """A user to create: name, password, role, and its house/municipality."""

    username: str
    password: str
    role: str
    municipality_id: str | None
    house_id: str | None


def read_user_file(path: Path, registry: Registry) -> list[UserSpec]:
    """Users of a seed file; a resident's house and municipality come from the registry by username."""
    data = json.loads(Path(path).read_text())
    specs = []
    for index, item in enumerate(data.get("users", [])):
        where = f"{path}: users[{index}]"
        username, password, role = item.get("username"), item.get("password"), item.get("role")
        if not username or not password:
            raise ValueError(f"{where}: username and password are required")
        if role not in ROLES:
            raise ValueError(f"{where}: role must be one of {ROLES}, got {role!r}")
        municipality, house = item.get("municipality_id"), None
        if role == "resident":
            resident = registry.by_username.get(username)
            if resident is None:
                raise ValueError(f"{where}: resident {username!r} is not in the registry")
            municipality, house = resident.municipality_id, resident.house_id
        elif role == "municipality":
            if municipality not in registry.by_municipality:
                raise ValueError(f"{where}: municipality_id {municipality!r} is not in the registry")
        else:
            municipality = None
        specs.append(UserSpec(username, password, role, municipality, house))
    return specs


class UserExists(Exception):
    """The username is taken."""


class UnknownUser(LookupError):
    """No user of that name."""


def public(user: dict) -> dict:
    """A user's record without its password hash."""
    return {k: v for k, v in user.items() if k not in ("password_hash", "tokens_valid_after")}


async def create_user(store: LedgerStore, registry: Registry, *, username: str, role: str, password: str,
                      house_id: str | None = None, municipality_id: str | None = None) -> dict:
    """A new resident or municipality user (UserRefused naming the field, UserExists when the name is taken)."""
    user: NewUser = new_user(
        username=username, role=role, password=password, house_id=house_id, municipality_id=municipality_id,
        municipality_of_house={r.house_id: r.municipality_id for r in registry.residents},
        municipalities={m.municipality_id for m in registry.municipalities},
    )
    created = await store.create_user(user, await asyncio.to_thread(hasher.hash, password))
    if created is None:
        raise UserExists(f"user {username!r} exists")
    return public(created)


async def set_enabled(store: LedgerStore, username: str, *, enabled: bool) -> dict:
    """Disable (its tokens refused from now) or re-enable a user; UnknownUser if there is none."""
    if not await store.set_disabled(username, not enabled):
        raise UnknownUser(f"no user {username!r}")
    return public(await store.user(username))


async def change_password(store: LedgerStore, username: str, *, current: str, new: str) -> None:
    """The user's own change: the current password proves it; older tokens are refused afterwards."""
    user = await store.user(username)
    if user is None or not await verify_password(user["password_hash"], current):
        raise BadCredentials()
    check_password(new)
    if new == current:
        raise UserRefused("new_password", "the new password is the current one")
    await store.set_password(username, await asyncio.to_thread(hasher.hash, new))


async def revocations(store: LedgerStore) -> list[Revocation]:
    """The public revocation list: users by SHA-256 of their name, with the time before which tokens are refused."""
    return [Revocation(subject_digest(name), not_before) for name, not_before in await store.revocations()]
