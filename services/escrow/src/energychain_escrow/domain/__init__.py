"""Escrow rules: pure functions and value objects, standard library only."""
