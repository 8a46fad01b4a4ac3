"""EnergyChain ledger: the tamper-evident, double-entry system of record."""
