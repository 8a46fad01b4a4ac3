"""Ledger channel and account names: the contract every producer and the ledger agree on.

Channels follow the Fabric design of the original: one per resident (resident,
its municipality, the GSA), one per municipality (municipality, GSA), one for
the GSA alone. Accounts are named ``owner:scope:purpose``; a transfer debits one
and credits another, and an account's balance is debits minus credits.
"""

from __future__ import annotations

GSA_CHANNEL = "gsa"


def resident_channel(house_id: str) -> str:
    """The private channel of one resident."""
    return f"resident:{house_id}"


def municipality_channel(municipality_id: str) -> str:
    """The channel of one municipality."""
    return f"municipality:{municipality_id}"


class Accounts:
    """The chart of accounts; every money movement is a transfer between two of these."""

    GSA_REVENUE = "gsa:revenue"  # PPA energy and refills billed
    GSA_CASH = "gsa:cash"  # money the GSA has received
    GSA_FEES = "gsa:market-fees"  # the GSA's fee on wholesale proceeds
    WHOLESALE_MARKET = "external:wholesale-market"  # counterparty of market proceeds
    OUTSIDE_WORLD = "external:payment-rails"  # counterparty of residents' payments

    @staticmethod
    def resident_receivable(house_id: str) -> str:
        """What the resident owes (positive balance = owed)."""
        return f"resident:{house_id}:receivable"

    @staticmethod
    def resident_escrow_debt(house_id: str) -> str:
        """What the resident owes escrow after escrow covered its past-due invoices."""
        return f"resident:{house_id}:escrow-debt"

    @staticmethod
    def escrow(municipality_id: str) -> str:
        """The municipality's escrow cash (positive balance = held)."""
        return f"municipality:{municipality_id}:escrow"

    @staticmethod
    def escrow_endowment(municipality_id: str) -> str:
        """Source of the escrow's initial endowment."""
        return f"municipality:{municipality_id}:endowment"

    @staticmethod
    def treasury(municipality_id: str) -> str:
        """The municipal treasury, fed by escrow rollovers."""
        return f"municipality:{municipality_id}:treasury"
