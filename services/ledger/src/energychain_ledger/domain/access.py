"""Who may read what: channel membership and account visibility per role, by event time for a moved house."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from energychain_ledger.domain.channels import gsa_member, municipality_member, resident_member
from energychain_ledger.domain.membership import EVERYTHING, NOTHING, Span, Visibility, municipality_visibility

RESIDENT, MUNICIPALITY, GSA = "resident", "municipality", "gsa"
SpansOfHouse = Callable[[str], Sequence[Span]]


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


def channel_visibility(
    channel: str, *, role: str, house_id: str | None, municipality_id: str | None, spans_of_house: SpansOfHouse,
) -> Visibility:
    """The event times of ``channel``'s entries the caller may see.

    GSA: every channel, all of it; resident: its own channel, all of it; municipality: its own channel,
    all of it, and a resident channel during its membership spans (`municipality_visibility`: all of it
    for a house that never moved); nothing of any other channel.
    """
    if role == GSA:
        return EVERYTHING
    kind, _, owner = channel.partition(":")
    if role == RESIDENT:
        return EVERYTHING if house_id and kind == RESIDENT and owner == house_id else NOTHING
    if role == MUNICIPALITY and municipality_id:
        if kind == MUNICIPALITY:
            return EVERYTHING if owner == municipality_id else NOTHING
        if kind == RESIDENT and owner:
            return municipality_visibility(spans_of_house(owner), municipality_id)
    return NOTHING


def account_visibility(
    account: str, *, role: str, house_id: str | None, municipality_id: str | None, spans_of_house: SpansOfHouse,
) -> Visibility:
    """The event times of an account's postings the caller may see: those of its owner's channel's entries
    (`channel_visibility`); the GSA sees every account, nobody else an account without an owner."""
    if role == GSA:
        return EVERYTHING
    kind, owner = account_owner(account)
    if owner is None:
        return NOTHING
    return channel_visibility(f"{kind}:{owner}", role=role, house_id=house_id, municipality_id=municipality_id,
                              spans_of_house=spans_of_house)
