"""`python -m energychain_escrow`: the console entry point."""

from energychain_escrow.cli import main

main()
