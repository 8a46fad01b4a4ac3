"""Channel names and who is a member of each (the Fabric channel design of the original)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

GSA = "gsa"
_ID = r"[A-Za-z0-9_.-]{1,64}"
_CHANNEL = re.compile(rf"^(?:(?P<gsa>gsa)|resident:(?P<house>{_ID})|municipality:(?P<municipality>{_ID}))$")


class InvalidChannel(ValueError):
    """A channel name that is not gsa, resident:<house> or municipality:<id>."""


def gsa_member() -> str:
    """The member key of the GSA."""
    return GSA


def resident_member(house_id: str) -> str:
    """The member key of the resident living in ``house_id``."""
    return f"resident:{house_id}"


def municipality_member(municipality_id: str) -> str:
    """The member key of a municipality."""
    return f"municipality:{municipality_id}"


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel with its kind, owner, municipality and member keys."""

    channel: str
    kind: str  # gsa | resident | municipality
    owner_id: str | None
    municipality_id: str | None
    members: frozenset[str]


def channel_spec(channel: str, *, house_municipality: Mapping[str, str]) -> ChannelSpec:
    """Who belongs to ``channel``: resident + its municipality + GSA; municipality + GSA; GSA alone.

    ``house_municipality`` maps house ids to municipality ids (from the registry); a
    resident channel of a house the registry does not know has no municipality member.
    """
    match = _CHANNEL.match(channel)
    if match is None:
        raise InvalidChannel(
            f"invalid channel {channel!r}: expected 'gsa', 'resident:<house_id>' or 'municipality:<id>'"
        )
    if match["gsa"]:
        return ChannelSpec(channel, "gsa", None, None, frozenset({GSA}))
    if match["municipality"]:
        municipality = match["municipality"]
        return ChannelSpec(
            channel, "municipality", municipality, municipality,
            frozenset({municipality_member(municipality), GSA}),
        )
    house = match["house"]
    municipality = house_municipality.get(house)
    members = {resident_member(house), GSA}
    if municipality is not None:
        members.add(municipality_member(municipality))
    return ChannelSpec(channel, "resident", house, municipality, frozenset(members))
