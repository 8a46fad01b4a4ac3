"""EnergyChain meter ingest: meter exports in, validated hourly readings and a simulated clock out."""

SERVICE_NAME = "meter-ingest"
