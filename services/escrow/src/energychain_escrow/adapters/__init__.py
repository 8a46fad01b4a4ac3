"""Escrow's adapters: its tables and every query on them."""
