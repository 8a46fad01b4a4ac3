"""Adapters: CSV files, the Kafka wire, the checkpoint file."""
