"""Pure market rules: standard library only, no I/O."""
