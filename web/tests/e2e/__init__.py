"""The browser tests: one package, so their system and their browser live from its first test to its last."""
