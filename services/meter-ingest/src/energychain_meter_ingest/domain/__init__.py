"""Pure rules of meter ingest: parsing, validation, time, merging, synthetic data. Standard library only."""
