"""EnergyChain ledger witness (docs/LEDGER.md "Witnesses")."""
