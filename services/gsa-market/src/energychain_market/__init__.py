"""EnergyChain GSA market: reserve offers, wholesale prices, aggregation, clearing, settlement."""

SERVICE_NAME = "gsa-market"
