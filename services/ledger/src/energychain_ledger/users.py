"""Demo users: read from a documented file, roles and homes resolved through the registry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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
