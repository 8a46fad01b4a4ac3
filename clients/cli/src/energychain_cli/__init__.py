"""EnergyChain command-line client: every role through the public APIs."""
