-- The shared outbox relay can publish to an explicit partition.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS partition integer;
