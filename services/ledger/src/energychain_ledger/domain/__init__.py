"""Pure ledger rules: channels and membership, chaining, batch planning, access. Standard library only."""
