"""EnergyChain escrow: the municipality's share of payments, past-due cover, treasury rollover."""

SERVICE_NAME = "escrow"
