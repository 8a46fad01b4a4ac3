// The program's administration (the GSA; billing's /admin API): municipalities onboarded with their time zone and
// escrow terms, residents enrolled with their PPA contracts, one at a time or from a CSV file, and each one's
// history. Typed as billing names the fields (money in integer cents, energy in integer Wh, rates and percents as
// decimal strings, dates YYYY-MM-DD). The forms' own checks mirror the registry's rules
// (energychain_shared.registry); billing checks again, and its refusals are shown the same way.

import { apiRequest, type ApiError } from "./api";
import { formatCents, formatPrice, formatTime, formatWh } from "./format";
import { decimalUnits, isIsoDate, parseCents, type FieldErrors } from "./validation";

export interface EscrowTerms {
  endowment_cents: number;
  share_percent: string;
  cap_cents: number;
}

export interface Municipality {
  municipality_id: string;
  name: string;
  timezone: string;
  latitude: string;
  escrow: EscrowTerms;
}

export const BILLING_BASES = ["delivered", "all_consumption"] as const;
export type BillingBasis = (typeof BILLING_BASES)[number];
export const BILLING_BASIS_LABELS: Record<BillingBasis, string> = {
  delivered: "energy delivered",
  all_consumption: "all consumption",
};

export interface Contract {
  rate_usd_per_kwh: string;
  escalator_percent: string;
  battery_wh: number;
  reserve_wh: number;
  start_date: string;
  billing_basis: BillingBasis;
  /** The contract's last day (move-out), when it ended. */
  end_date?: string | null;
}

export interface Resident {
  house_id: string;
  username: string;
  name: string;
  address: string;
  municipality_id: string;
  contract: Contract;
  /** Later terms, each from its day on (date order); absent in an enrolment body. */
  amendments?: ContractAmendment[];
  /** Later municipalities, each from its day on (date order); absent in an enrolment body. */
  moves?: Move[];
}

/** The whole terms a contract has from ``effective_date`` (local midnight) on, until a later amendment. */
export interface ContractAmendment {
  effective_date: string;
  rate_usd_per_kwh: string;
  escalator_percent: string;
  reserve_wh: number;
  billing_basis: BillingBasis;
}

/** The house belongs to ``municipality_id`` from ``effective_date`` (local midnight) on. */
export interface Move {
  effective_date: string;
  municipality_id: string;
}

/** An amendment as the GSA asks for it: the terms to change from ``effective_date`` (the others stay). */
export interface AmendmentRequest {
  effective_date: string;
  rate_usd_per_kwh?: string;
  escalator_percent?: string;
  reserve_wh?: number;
  billing_basis?: BillingBasis;
}

/** One change of a registration: the seed file's entry, or an enrolment (onboarding), amendment, move or end
 * recorded by a user. */
export interface HistoryEntry {
  change: "seeded" | "enrolled" | "onboarded" | "amended" | "moved" | "ended" | string;
  recorded_at?: string | null;
  recorded_by?: string | null;
  event_id?: string | null;
  source?: string | null;
}

export interface ResidentDetail extends Resident {
  history: HistoryEntry[];
}

/** What a POST answers: the registration as sent, and its events (none when it was registered alike already). */
export type Registered<T> = T & { event_ids: string[] };

export interface BulkOutcome {
  enrolled: number;
  unchanged: number;
  rows: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

export function fetchMunicipalities(token: string | null, signal?: AbortSignal): Promise<Municipality[]> {
  return apiRequest<Municipality[]>("billing", "/admin/municipalities", { token, signal });
}

export function fetchResidents(token: string | null, municipality: string, signal?: AbortSignal): Promise<Resident[]> {
  return apiRequest<Resident[]>("billing", "/admin/residents", { token, signal, query: { municipality_id: municipality } });
}

export function fetchResident(token: string | null, houseId: string, signal?: AbortSignal): Promise<ResidentDetail> {
  return apiRequest<ResidentDetail>("billing", `/admin/residents/${encodeURIComponent(houseId)}`, { token, signal });
}

export function onboardMunicipality(token: string | null, body: Municipality): Promise<Registered<Municipality>> {
  return apiRequest<Registered<Municipality>>("billing", "/admin/municipalities", { token, method: "POST", json: body });
}

export function enrolResident(token: string | null, body: Resident): Promise<Registered<Resident>> {
  return apiRequest<Registered<Resident>>("billing", "/admin/residents", { token, method: "POST", json: body });
}

export function amendContract(token: string | null, houseId: string, body: AmendmentRequest): Promise<Registered<AmendmentRequest & { house_id: string }>> {
  return apiRequest("billing", `/admin/residents/${encodeURIComponent(houseId)}/amendments`, { token, method: "POST", json: body });
}

export function moveHouse(token: string | null, houseId: string, body: Move): Promise<Registered<Move & { house_id: string }>> {
  return apiRequest("billing", `/admin/residents/${encodeURIComponent(houseId)}/moves`, { token, method: "POST", json: body });
}

export function enrolResidentsCsv(token: string | null, csv: string): Promise<BulkOutcome> {
  return apiRequest<BulkOutcome>("billing", "/admin/residents/bulk", {
    token, method: "POST", raw: { content: csv, contentType: "text/csv" },
  });
}

/** "onboarded" / "enrolled" for a 201 (events published), "already … alike" for a 200 (nothing changed). */
export function registeredMessage(kind: "municipality" | "resident", answer: Registered<Municipality | Resident>): string {
  const id = "house_id" in answer ? answer.house_id : answer.municipality_id;
  const verb = kind === "municipality" ? "onboarded" : "enrolled";
  return answer.event_ids.length > 0 ? `${id} ${verb}` : `${id} was already ${verb} with these terms: nothing changed`;
}

/** "amended" / "moved" for a 201, "already … alike" for a 200 (nothing changed). */
export function changedMessage(kind: "amendment" | "move", answer: Registered<{ house_id: string; effective_date: string; municipality_id?: string }>): string {
  const what = kind === "amendment" ? `${answer.house_id} amended from ${answer.effective_date}`
    : `${answer.house_id} moved to ${answer.municipality_id} from ${answer.effective_date}`;
  return answer.event_ids.length > 0 ? what : `${answer.house_id} was already ${kind === "amendment" ? "amended alike" : "moved there"} from ${answer.effective_date}: nothing changed`;
}

export function bulkMessage(outcome: BulkOutcome): string {
  const rows = `${outcome.rows.toLocaleString("en-US")} ${outcome.rows === 1 ? "row" : "rows"}`;
  return `${rows}: ${outcome.enrolled.toLocaleString("en-US")} enrolled, ${outcome.unchanged.toLocaleString("en-US")} already enrolled alike`;
}

// ---------------------------------------------------------------------------------------------------------------
// The forms: drafts as typed, checked, then shaped into the API's bodies. Errors are keyed by the API's field
// names, so billing's refusals land beside the same inputs.

const ID = /^[A-Za-z0-9_.-]+$/;
const USERNAME = /^[a-z0-9_.-]+$/;
const SIGNED_DECIMAL = /^-?\d+(\.\d+)?$/;
const INTEGER = /^\d+$/;

export interface MunicipalityDraft {
  municipality_id: string;
  name: string;
  timezone: string;
  latitude: string;
  endowment: string; // dollars
  share_percent: string;
  cap: string; // dollars
}

/** The registry's defaults for a municipality's terms. */
export const EMPTY_MUNICIPALITY: MunicipalityDraft = {
  municipality_id: "", name: "", timezone: "America/Los_Angeles", latitude: "36.61",
  endowment: "1000.00", share_percent: "5", cap: "2500.00",
};

export const MUNICIPALITY_FIELDS = ["municipality_id", "name", "timezone", "latitude", "endowment_cents", "share_percent", "cap_cents"] as const;

/** A percent from 0 to 100 (a decimal string), or the message saying what is wrong. */
function percentError(text: string): string | null {
  const units = decimalUnits(text);
  if (text.trim() === "") return "enter a percent from 0 to 100";
  if (units === null) return "enter a percent from 0 to 100, e.g. 5 or 2.5";
  if (units > 100n * 10n ** 6n) return "the percent must be at most 100";
  return null;
}

export function shapeMunicipality(draft: MunicipalityDraft): { body: Municipality | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const id = draft.municipality_id.trim();
  if (!id) errors.municipality_id = "enter an id, e.g. sanger";
  else if (!ID.test(id)) errors.municipality_id = "use letters, digits, '.', '_' or '-' only";
  if (!draft.name.trim()) errors.name = "enter the municipality's name";
  if (!draft.timezone.trim()) errors.timezone = "enter an IANA time zone, e.g. America/Los_Angeles";
  const latitude = draft.latitude.trim();
  if (!SIGNED_DECIMAL.test(latitude)) errors.latitude = "enter a latitude in degrees, e.g. 36.61";
  else if (Math.abs(Number(latitude)) > 90) errors.latitude = "the latitude must be from -90 to 90";
  const endowment = parseCents(draft.endowment);
  if (endowment === null) errors.endowment_cents = "enter an amount in dollars with at most two decimals";
  const cap = parseCents(draft.cap);
  if (cap === null) errors.cap_cents = "enter an amount in dollars with at most two decimals";
  const share = percentError(draft.share_percent);
  if (share) errors.share_percent = share;
  if (Object.keys(errors).length > 0) return { body: null, errors };
  return {
    body: {
      municipality_id: id, name: draft.name.trim(), timezone: draft.timezone.trim(), latitude,
      escrow: { endowment_cents: endowment!, share_percent: draft.share_percent.trim(), cap_cents: cap! },
    },
    errors,
  };
}

export interface ResidentDraft {
  house_id: string;
  username: string;
  name: string;
  address: string;
  municipality_id: string;
  rate_usd_per_kwh: string;
  escalator_percent: string;
  battery_wh: string;
  reserve_wh: string;
  start_date: string;
  billing_basis: string;
}

export const EMPTY_RESIDENT: ResidentDraft = {
  house_id: "", username: "", name: "", address: "", municipality_id: "", rate_usd_per_kwh: "",
  escalator_percent: "2", battery_wh: "", reserve_wh: "", start_date: "", billing_basis: "delivered",
};

export const RESIDENT_FIELDS = ["house_id", "username", "name", "address", "municipality_id", "rate_usd_per_kwh",
  "escalator_percent", "battery_wh", "reserve_wh", "start_date", "billing_basis"] as const;

const MAX_WH = Number.MAX_SAFE_INTEGER;

export function shapeResident(draft: ResidentDraft): { body: Resident | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const house = draft.house_id.trim();
  if (!house) errors.house_id = "enter a house id, e.g. house-s01";
  else if (!ID.test(house)) errors.house_id = "use letters, digits, '.', '_' or '-' only";
  const username = draft.username.trim();
  if (!username) errors.username = "enter the resident's login name";
  else if (!USERNAME.test(username)) errors.username = "use lower-case letters, digits, '.', '_' or '-' only";
  if (!draft.name.trim()) errors.name = "enter the resident's name";
  if (!draft.address.trim()) errors.address = "enter the house's address";
  if (!draft.municipality_id) errors.municipality_id = "choose the municipality";
  // rate: more than 0, at most 6 decimals and 8 digits (so below $100/kWh)
  const rate = draft.rate_usd_per_kwh.trim();
  const rateProblem = rateError(rate);
  if (rateProblem) errors.rate_usd_per_kwh = rateProblem;
  const escalator = percentError(draft.escalator_percent);
  if (escalator) errors.escalator_percent = escalator;
  const battery = draft.battery_wh.trim();
  const reserve = draft.reserve_wh.trim();
  if (!INTEGER.test(battery) || Number(battery) > MAX_WH) errors.battery_wh = "enter the battery's capacity in whole Wh, e.g. 10000";
  else if (Number(battery) <= 0) errors.battery_wh = "the battery's capacity must be more than 0 Wh";
  if (!INTEGER.test(reserve) || Number(reserve) > MAX_WH) errors.reserve_wh = "enter the reserve in whole Wh, e.g. 2000";
  else if (!errors.battery_wh && Number(reserve) > Number(battery)) errors.reserve_wh = "the reserve must be at most the battery's capacity";
  if (!isIsoDate(draft.start_date)) errors.start_date = "choose the contract's start date";
  if (!(BILLING_BASES as readonly string[]).includes(draft.billing_basis)) errors.billing_basis = "choose what is billed";
  if (Object.keys(errors).length > 0) return { body: null, errors };
  return {
    body: {
      house_id: house, username, name: draft.name.trim(), address: draft.address.trim(), municipality_id: draft.municipality_id,
      contract: {
        rate_usd_per_kwh: rate, escalator_percent: draft.escalator_percent.trim(), battery_wh: Number(battery),
        reserve_wh: Number(reserve), start_date: draft.start_date, billing_basis: draft.billing_basis as BillingBasis,
      },
    },
    errors,
  };
}

export interface AmendmentDraft {
  effective_date: string;
  rate_usd_per_kwh: string; // empty: unchanged
  escalator_percent: string; // empty: unchanged
  reserve_wh: string; // empty: unchanged
  billing_basis: string; // empty: unchanged
}

export const EMPTY_AMENDMENT: AmendmentDraft = { effective_date: "", rate_usd_per_kwh: "", escalator_percent: "", reserve_wh: "", billing_basis: "" };

export const AMENDMENT_FIELDS = ["effective_date", "rate_usd_per_kwh", "escalator_percent", "reserve_wh", "billing_basis"] as const;

/** A rate in $/kWh, or the message saying what is wrong (the registry: more than 0, 6 decimals and 8 digits at most). */
function rateError(rate: string): string | null {
  const units = decimalUnits(rate);
  if (!rate) return "enter the rate in $/kWh, e.g. 0.23";
  if (units === null) return "enter the rate in $/kWh with at most 6 decimals, e.g. 0.23";
  if (units <= 0n) return "the rate must be more than $0/kWh";
  if (units >= 100n * 10n ** 6n) return "the rate must be below $100/kWh";
  return null;
}

/** A change of an enrolled house takes effect after the contract's start (and not after its end). */
function effectiveDateError(day: string, contract?: Pick<Contract, "start_date" | "end_date">): string | null {
  if (!isIsoDate(day)) return "choose the day it takes effect";
  if (contract && day <= contract.start_date) return `the day must be after the contract's start ${contract.start_date}`;
  if (contract?.end_date && day > contract.end_date) return `the contract ended on ${contract.end_date}`;
  return null;
}

/**
 * The amendment form shaped into billing's body: only the terms filled in are sent (the others stay as they are in
 * force that day), at least one of them. With the resident's contract, the date is checked against its start and
 * the reserve against its battery, as the registry does.
 */
export function shapeAmendment(draft: AmendmentDraft, contract?: Contract):
  { body: AmendmentRequest | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const dateError = effectiveDateError(draft.effective_date, contract);
  if (dateError) errors.effective_date = dateError;
  const body: AmendmentRequest = { effective_date: draft.effective_date };
  const rate = draft.rate_usd_per_kwh.trim();
  if (rate) {
    const problem = rateError(rate);
    if (problem) errors.rate_usd_per_kwh = problem;
    else body.rate_usd_per_kwh = rate;
  }
  const escalator = draft.escalator_percent.trim();
  if (escalator) {
    const problem = percentError(escalator);
    if (problem) errors.escalator_percent = problem;
    else body.escalator_percent = escalator;
  }
  const reserve = draft.reserve_wh.trim();
  if (reserve) {
    if (!INTEGER.test(reserve) || Number(reserve) > MAX_WH) errors.reserve_wh = "enter the reserve in whole Wh, e.g. 2000";
    else if (contract && Number(reserve) > contract.battery_wh) errors.reserve_wh = `the reserve must be at most the battery's capacity (${contract.battery_wh} Wh)`;
    else body.reserve_wh = Number(reserve);
  }
  if (draft.billing_basis) {
    if (!(BILLING_BASES as readonly string[]).includes(draft.billing_basis)) errors.billing_basis = "choose what is billed";
    else body.billing_basis = draft.billing_basis as BillingBasis;
  }
  if (!rate && !escalator && !reserve && !draft.billing_basis) {
    errors.rate_usd_per_kwh ??= "enter at least one term to change: rate, escalator, reserve or basis";
  }
  return Object.keys(errors).length > 0 ? { body: null, errors } : { body, errors };
}

export interface MoveDraft {
  effective_date: string;
  municipality_id: string;
}

export const EMPTY_MOVE: MoveDraft = { effective_date: "", municipality_id: "" };

export const MOVE_FIELDS = ["effective_date", "municipality_id"] as const;

/** The move form shaped into billing's body. Billing alone decides whether the municipality keeps the time zone and
 * is another one than the house's that day. */
export function shapeMove(draft: MoveDraft, contract?: Contract): { body: Move | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const dateError = effectiveDateError(draft.effective_date, contract);
  if (dateError) errors.effective_date = dateError;
  if (!draft.municipality_id) errors.municipality_id = "choose the municipality it moves to";
  if (Object.keys(errors).length > 0) return { body: null, errors };
  return { body: { effective_date: draft.effective_date, municipality_id: draft.municipality_id }, errors };
}

/**
 * A refusal as a form shows it: the messages for the form's own inputs beside them, and the rest (a field the form
 * has no input for, such as "contract" or "line 5: start_date", or no field at all) as one notice for the form.
 */
export function formRefusal(error: ApiError, fields: readonly string[]): { fieldErrors: FieldErrors; notice: string | null } {
  const fieldErrors: FieldErrors = {};
  const others: string[] = [];
  for (const [field, message] of Object.entries(error.fieldErrors ?? {})) {
    if (fields.includes(field)) fieldErrors[field] = message;
    else others.push(`${field}: ${message}`);
  }
  const notice = others.length > 0 ? others.join("; ") : Object.keys(fieldErrors).length === 0 ? error.message : null;
  return { fieldErrors, notice };
}

// ---------------------------------------------------------------------------------------------------------------
// Bulk enrolment: a CSV file with billing's columns

export const CSV_COLUMNS = ["house_id", "username", "name", "address", "municipality_id", "rate_usd_per_kwh",
  "escalator_percent", "battery_wh", "reserve_wh", "start_date", "billing_basis"] as const;
const CSV_OPTIONAL = new Set(["escalator_percent", "billing_basis"]);

/** The header line's column names (a byte-order mark and quotes taken off). */
export function csvHeader(text: string): string[] {
  const first = text.replace(/^\uFEFF/, "").split(/\r?\n/, 1)[0] ?? "";
  return first.split(",").map((name) => name.trim().replace(/^"(.*)"$/, "$1"));
}

/** What is wrong with a file's header before it is sent (billing refuses the same), or null. */
export function csvHeaderProblem(text: string): string | null {
  if (!text.trim()) return "the file is empty: a header line, then one resident per line";
  const header = csvHeader(text);
  const missing = CSV_COLUMNS.filter((c) => !CSV_OPTIONAL.has(c) && !header.includes(c));
  const unknown = header.filter((c) => !(CSV_COLUMNS as readonly string[]).includes(c));
  if (missing.length === 0 && unknown.length === 0) return null;
  const parts = [missing.length ? `missing columns ${missing.join(", ")}` : "", unknown.length ? `unknown columns ${unknown.join(", ")}` : ""];
  return `${parts.filter(Boolean).join("; ")}; the columns are ${CSV_COLUMNS.join(",")}`;
}

/** The CSV of residents (a template, or a copy of the list), with billing's header. */
export function residentsCsv(residents: Resident[]): string {
  const cell = (value: string | number) => {
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = residents.map((r) => [r.house_id, r.username, r.name, r.address, r.municipality_id, r.contract.rate_usd_per_kwh,
    r.contract.escalator_percent, r.contract.battery_wh, r.contract.reserve_wh, r.contract.start_date, r.contract.billing_basis]
    .map(cell).join(","));
  return [CSV_COLUMNS.join(","), ...lines].join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------------------------
// Rows as the tables show them

export interface MunicipalityRow {
  id: string;
  name: string;
  timezone: string;
  latitude: string;
  endowment: string;
  share: string;
  cap: string;
  residents: number;
}

export function municipalityRows(municipalities: Municipality[], residents: Resident[] = []): MunicipalityRow[] {
  return [...municipalities]
    .sort((a, b) => a.municipality_id.localeCompare(b.municipality_id))
    .map((m) => ({
      id: m.municipality_id, name: m.name, timezone: m.timezone, latitude: `${m.latitude}°`,
      endowment: formatCents(m.escrow.endowment_cents), share: `${m.escrow.share_percent} %`, cap: formatCents(m.escrow.cap_cents),
      residents: residents.filter((r) => r.municipality_id === m.municipality_id).length,
    }));
}

export interface ResidentRow {
  house: string;
  username: string;
  name: string;
  address: string;
  municipality: string;
  rate: string;
  escalator: string;
  battery: string;
  reserve: string;
  start: string;
  basis: string;
}

export function basisLabel(basis: string): string {
  return BILLING_BASIS_LABELS[basis as BillingBasis] ?? basis.replace(/_/g, " ");
}

export function residentRow(r: Resident): ResidentRow {
  return {
    house: r.house_id, username: r.username, name: r.name, address: r.address, municipality: r.municipality_id,
    rate: `$${formatPrice(r.contract.rate_usd_per_kwh)}/kWh`, escalator: `${r.contract.escalator_percent} %/yr`,
    battery: formatWh(r.contract.battery_wh), reserve: formatWh(r.contract.reserve_wh), start: r.contract.start_date,
    basis: basisLabel(r.contract.billing_basis),
  };
}

/** Whether a resident belongs, or belonged, to ``municipality`` (enrolled there or moved there), as billing's filter. */
export function belongsTo(r: Resident, municipality: string): boolean {
  return r.municipality_id === municipality || (r.moves ?? []).some((m) => m.municipality_id === municipality);
}

/** Residents in house order, those that belong or belonged to one municipality when ``municipality`` is given. */
export function residentRows(residents: Resident[], municipality = ""): ResidentRow[] {
  return residents
    .filter((r) => !municipality || belongsTo(r, municipality))
    .sort((a, b) => a.house_id.localeCompare(b.house_id, "en", { numeric: true }))
    .map(residentRow);
}

export interface HistoryRow {
  change: string;
  when: string;
  by: string;
  event: string;
  source: string;
}

export function historyRows(history: HistoryEntry[]): HistoryRow[] {
  return history.map((h) => ({
    change: h.change,
    when: h.recorded_at ? formatTime(h.recorded_at) : "—",
    by: h.recorded_by ?? (h.change === "seeded" ? "seed file" : "—"),
    event: h.event_id ?? "—",
    source: h.source ?? (h.event_id ? "program.registry" : "—"),
  }));
}

export interface AmendmentRow {
  from: string;
  rate: string;
  escalator: string;
  reserve: string;
  basis: string;
}

/** A contract's amendments in date order, each with the whole terms it has from its day on. */
export function amendmentRows(amendments: ContractAmendment[] = []): AmendmentRow[] {
  return [...amendments]
    .sort((a, b) => a.effective_date.localeCompare(b.effective_date))
    .map((a) => ({
      from: a.effective_date, rate: `$${formatPrice(a.rate_usd_per_kwh)}/kWh`, escalator: `${a.escalator_percent} %/yr`,
      reserve: formatWh(a.reserve_wh), basis: basisLabel(a.billing_basis),
    }));
}

export interface MoveRow {
  from: string;
  before: string;
  municipality: string;
}

/** A house's moves in date order, each with the municipality it left and the one it belongs to from then on. */
export function moveRows(enrolledIn: string, moves: Move[] = []): MoveRow[] {
  let before = enrolledIn;
  return [...moves]
    .sort((a, b) => a.effective_date.localeCompare(b.effective_date))
    .map((m) => {
      const row = { from: m.effective_date, before, municipality: m.municipality_id };
      before = m.municipality_id;
      return row;
    });
}
