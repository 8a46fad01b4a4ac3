"""`python -m energychain_billing`: the console entry point."""

from energychain_billing.cli import main

main()
