-- Keep each billing event as received beside the fields escrow applies, so a book can be
-- checked against (or rebuilt from) exactly what billing said.
ALTER TABLE inbox ADD COLUMN payload jsonb;
