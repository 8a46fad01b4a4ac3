"""Rules for the users the GSA manages: names, passwords, and what each role is tied to."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 256
# The GSA creates the program's people; GSA operators and auditors come from the seed file.
MANAGED_ROLES = ("resident", "municipality")


class UserRefused(Exception):
    """A user request breaks a rule; ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user to create: name, role, and the house or municipality it belongs to."""

    username: str
    role: str
    municipality_id: str | None
    house_id: str | None


def check_password(password: str) -> None:
    """A password long enough to resist guessing (and short enough to hash)."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserRefused("password", f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def new_user(
    *, username: str, role: str, password: str, house_id: str | None, municipality_id: str | None,
    municipality_of_house: Mapping[str, str], municipalities: frozenset[str] | set[str],
) -> NewUser:
    """The user to create, checked: a resident names a registered house (its municipality follows from it),
    a municipality user a registered municipality."""
    if not USERNAME.match(username):
        raise UserRefused("username", "a username is 2-63 characters of a-z, 0-9, '.', '_' or '-', "
                                      "starting with a letter or digit")
    if role not in MANAGED_ROLES:
        raise UserRefused("role", f"role must be one of {', '.join(MANAGED_ROLES)}")
    check_password(password)
    if role == "resident":
        if house_id is None or house_id not in municipality_of_house:
            raise UserRefused("house_id", f"a resident user names a registered house, got {house_id!r}")
        if municipality_id is not None and municipality_id != municipality_of_house[house_id]:
            raise UserRefused("municipality_id", f"house {house_id} is in {municipality_of_house[house_id]}, "
                                                 f"not {municipality_id}")
        return NewUser(username, role, municipality_of_house[house_id], house_id)
    if house_id is not None:
        raise UserRefused("house_id", "only a resident user has a house")
    if municipality_id not in municipalities:
        raise UserRefused("municipality_id", f"a municipality user names a registered municipality, "
                                             f"got {municipality_id!r}")
    return NewUser(username, role, municipality_id, None)
