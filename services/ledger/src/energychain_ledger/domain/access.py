"""Who may read what: channel membership and account visibility per role."""

from __future__ import annotations

from collections.abc import Callable

from energychain_ledger.domain.channels import gsa_member, municipality_member, resident_member

RESIDENT, MUNICIPALITY, GSA = "resident", "municipality", "gsa"


def member_key(*, role: str, house_id: str | None, municipality_id: str | None) -> str | None:
    """The channel member key a caller speaks for; None when its token lacks the id its role needs."""
    if role == GSA:
        return gsa_member()
    if role == MUNICIPALITY:
        return municipality_member(municipality_id) if municipality_id else None
    if role == RESIDENT:
        return resident_member(house_id) if house_id else None
    return None


def account_owner(account: str) -> tuple[str, str | None]:
    """(owner kind, owner id) of an account named ``owner:scope:purpose``; ('gsa', None) etc."""
    parts = account.split(":")
    if len(parts) >= 3 and parts[0] in (RESIDENT, MUNICIPALITY):
        return parts[0], parts[1]
    return parts[0], None


def may_see_account(
    account: str,
    *,
    role: str,
    house_id: str | None,
    municipality_id: str | None,
    municipality_of_house: Callable[[str], str | None],
) -> bool:
    """Resident: its own accounts; municipality: its own and its residents'; GSA: every account."""
    if role == GSA:
        return True
    kind, owner = account_owner(account)
    if owner is None:
        return False
    if role == RESIDENT:
        return kind == RESIDENT and owner == house_id
    if role == MUNICIPALITY and municipality_id:
        if kind == MUNICIPALITY:
            return owner == municipality_id
        return municipality_of_house(owner) == municipality_id
    return False
