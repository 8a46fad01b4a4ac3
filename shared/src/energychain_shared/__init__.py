"""EnergyChain shared contracts and plumbing (no business rules live here)."""
