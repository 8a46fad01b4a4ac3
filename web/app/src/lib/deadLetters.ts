// meter-ingest's dead letters (`GET /dead-letters`, `POST /dead-letters/{id}/redrive`): the rows and ledger
// appends that were refused, as the topics hold them, the Operations page's filters as a query, and how a dead
// letter reads in the table.

import { apiRequest } from "./api";
import { addDays, localMidnightIso } from "./format";
import { isIsoDate, type FieldErrors } from "./validation";

export type DeadLetterKind = "reading" | "ledger_append";

/** How a reading dead letter was resolved: its corrected row published as a reading. */
export interface DeadLetterResolution {
  reading_event_id: string;
  raw: string;
  redriven_by: string;
  resolved_at: string;
}

/** One dead letter (`DeadLetterOut`): a meter row (file, line, raw) or a refused append (producer, entry, request). */
export interface DeadLetter {
  id: string;
  kind: DeadLetterKind;
  reason: string;
  detail: string;
  /** Event time: the end of the row's hour, or the append's event time. */
  occurred_at: string;
  dead_lettered_at: string;
  position: string;
  house_id: string | null;
  source_file: string | null;
  source_line: number | null;
  raw: string | null;
  entry_id: string | null;
  producer: string | null;
  request: Record<string, unknown> | null;
  resolution: DeadLetterResolution | null;
}

/** `GET /dead-letters` (`DeadLettersOut`): the newest matching dead letters and counts over every match. */
export interface DeadLetterListing {
  caught_up: boolean;
  total: number;
  unresolved: number;
  by_reason: Record<string, number>;
  dead_letters: DeadLetter[];
  this_process: { total: number; by_reason: Record<string, number> };
}

/** `POST /dead-letters/{id}/redrive` (`RedriveOut`). */
export interface Redriven {
  dead_letter_id: string;
  reading_event_id: string;
  house_id: string;
  source_file: string;
  source_line: number;
  redriven_by: string;
  resolved_at: string;
}

/** The panel's filters: a kind, a reason, and local days (Parlier time) from and to, each optional. */
export interface DeadLetterFilters {
  kind: "" | DeadLetterKind;
  reason: string;
  from: string;
  to: string;
}

export const NO_FILTERS: DeadLetterFilters = { kind: "", reason: "", from: "", to: "" };
export const LISTED = 200;

// The reason codes of meter-ingest's validation and of the ledger (services' READMEs); reasons met in a
// listing are offered too, so a new code never hides.
const KNOWN_REASONS = [
  "missing_fields", "extra_fields", "unparsable_time", "not_on_the_hour", "nonexistent_local_time",
  "unparsable_number", "missing_value", "too_precise", "negative_value", "absurd_value",
  "battery_level_out_of_range", "conflicting_duplicate", "out_of_order", "unknown_house",
  "invalid_request", "invalid_channel", "invalid_transfer", "unknown_producer", "bad_signature", "conflicting_entry",
];

/** Every reason code to offer in the filter: the known ones and any in ``seen``, sorted. */
export function reasonChoices(seen: Record<string, number> | undefined): string[] {
  return [...new Set([...KNOWN_REASONS, ...Object.keys(seen ?? {})])].sort();
}

/** The filters as the query of `GET /dead-letters` (days as Parlier midnights, the last day included), or why not. */
export function deadLetterQuery(filters: DeadLetterFilters): { query: Record<string, string | number>; errors: FieldErrors } {
  const errors: FieldErrors = {};
  if (filters.from && !isIsoDate(filters.from)) errors.from = "choose a start date";
  if (filters.to && !isIsoDate(filters.to)) errors.to = "choose an end date";
  if (!errors.from && !errors.to && filters.from && filters.to && filters.from > filters.to) {
    errors.to = "the end date must be on or after the start date";
  }
  const query: Record<string, string | number> = { limit: LISTED };
  if (filters.kind) query.kind = filters.kind;
  if (filters.reason) query.reason = filters.reason;
  if (filters.from && !errors.from) query.since = localMidnightIso(filters.from);
  if (filters.to && !errors.to) query.until = localMidnightIso(addDays(filters.to, 1));
  return { query, errors };
}

/** Where a dead letter came from: "house-01.csv line 4 (house-01)" or "billing · entry invoice-x". */
export function deadLetterSource(d: DeadLetter): string {
  if (d.kind === "reading") return `${d.source_file ?? "?"} line ${d.source_line ?? "?"}${d.house_id ? ` (${d.house_id})` : ""}`;
  return `${d.producer ?? "unknown producer"} · entry ${d.entry_id ?? "?"}`;
}

/** The stable data-state of a dead letter's row: open (a reading to re-drive), resolved, or listed (an append). */
export function deadLetterState(d: DeadLetter): "open" | "resolved" | "listed" {
  if (d.kind !== "reading") return "listed";
  return d.resolution ? "resolved" : "open";
}

export const fetchDeadLetters = (token: string, query: Record<string, string | number>, signal?: AbortSignal) =>
  apiRequest<DeadLetterListing>("meter-ingest", "/dead-letters", { token, signal, query });

export const redriveDeadLetter = (token: string, id: string, raw: string) =>
  apiRequest<Redriven>("meter-ingest", `/dead-letters/${encodeURIComponent(id)}/redrive`, { token, method: "POST", json: { raw } });
