"""PostgreSQL for the market: the advisory locks of its exclusive jobs (pool, migrations and outbox are shared)."""

# One advisory lock key per kind of exclusive job (any instance, any process).
LOCK_CLOCK_JOBS = 0x6D6B7401
