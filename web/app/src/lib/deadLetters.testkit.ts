// Dead letters as the meter-ingest API answers them, for the tests.

import type { DeadLetter } from "./deadLetters";

export const reading = (overrides: Partial<DeadLetter> = {}): DeadLetter => ({
  id: "dl-1", kind: "reading", reason: "negative_value", detail: "HOME CONSUMPTION (kWh): -0.60 kWh is negative",
  occurred_at: "2021-11-07T10:00:00Z", dead_lettered_at: "2026-12-01T10:00:00Z", position: "meter.readings.dlq:3:12",
  house_id: "house-01", source_file: "house-01.csv", source_line: 4, raw: "2021-11-07T01:00:00,0,0,0,-0.60,0,0.60,40",
  entry_id: null, producer: null, request: null, resolution: null, ...overrides,
});

export const append = (overrides: Partial<DeadLetter> = {}): DeadLetter => ({
  ...reading(), id: "dl-2", kind: "ledger_append", reason: "bad_signature", detail: "the signature does not verify",
  house_id: null, source_file: null, source_line: null, raw: null, entry_id: "invoice-x", producer: "billing",
  request: { entry_id: "invoice-x" }, ...overrides,
});
