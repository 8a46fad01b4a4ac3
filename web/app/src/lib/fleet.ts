// The fleet stream as the market serves it (`energychain-gsa-market fleet`, faust over meter.readings):
// live event-time windows per municipality (an hour, or a local calendar day) with the whole fleet's sum,
// and the meters' open alerts. Field names exactly as the market's API writes them.
//
//   GET /gsa/fleet/windows?kind=hour|day&hours=N           (GSA: every municipality, plus "fleet" rows)
//   GET /gsa/fleet/alerts                                  (GSA)
//   GET /municipality/fleet/windows?kind=hour|day&hours=N  (a municipality: its own rows only)

import { apiRequest } from "./api";
import { formatTime } from "./format";

export type WindowKind = "hour" | "day";

export interface FleetWindow {
  scope: string; // a municipality_id, or "fleet" (the sum over municipalities of one window)
  start: string;
  end: string;
  local_date: string | null; // day windows: the municipality's local calendar day
  final: boolean; // closed: no late reading can change it any more
  readings: number;
  houses_reporting: number;
  readings_unbalanced: number;
  home_wh: number;
  solar_wh: number;
  grid_import_wh: number;
  grid_export_wh: number;
  battery_charged_wh: number;
  battery_discharged_wh: number;
  reserve_above_contract_wh: number;
}

export interface FleetWindows {
  kind: WindowKind;
  as_of: string | null; // the newest window's end; null before the stream has counted anything
  windows: FleetWindow[]; // newest first
}

export type AlertKind = "silent_meter" | "missing_hours" | "repeated_imbalance";

export interface FleetAlert {
  alert_id: string;
  kind: AlertKind | string;
  house_id: string;
  municipality_id: string | null;
  since: string;
  detail: string;
}

/** Whose windows: the GSA's (every municipality and the fleet) or the caller's own municipality's. */
export type FleetScope = "gsa" | "municipality";

export const FLEET_SCOPE = "fleet";

type Signal = AbortSignal | undefined;

export const fleetWindowsPath = (scope: FleetScope) => (scope === "gsa" ? "/gsa/fleet/windows" : "/municipality/fleet/windows");

export const fetchFleetWindows = (token: string, scope: FleetScope, kind: WindowKind, hours: number, signal?: Signal) =>
  apiRequest<FleetWindows>("market", fleetWindowsPath(scope), { token, signal, query: { kind, hours } });

export const fetchFleetAlerts = (token: string, signal?: Signal) =>
  apiRequest<{ alerts: FleetAlert[] }>("market", "/gsa/fleet/alerts", { token, signal }).then((a) => a.alerts);

/** The energies of a window, in the order the panels show them (all integer Wh, shown in kWh). */
export const FLEET_MEASURES = [
  { key: "home_wh", label: "Home consumption" },
  { key: "solar_wh", label: "Solar" },
  { key: "grid_import_wh", label: "Grid import" },
  { key: "grid_export_wh", label: "Grid export" },
  { key: "battery_charged_wh", label: "Battery charged" },
  { key: "battery_discharged_wh", label: "Battery discharged" },
  { key: "reserve_above_contract_wh", label: "Reserve above contract" },
] as const;

export type FleetMeasure = (typeof FLEET_MEASURES)[number]["key"];

const COUNTS = ["readings", "houses_reporting", "readings_unbalanced"] as const;

/** The newest window of a kind: its time, the fleet's totals, and each municipality's newest row. */
export interface LatestWindow {
  start: string;
  end: string;
  local_date: string | null;
  final: boolean;
  /** The "fleet" row of the newest window; without one (a municipality's own answer), the sum of its rows. */
  total: FleetWindow;
  /** Each municipality's newest window (by name): one that has not reported in the newest window keeps its last one. */
  municipalities: FleetWindow[];
}

const ms = (iso: string) => new Date(iso).getTime();

/** Sum windows into one of ``scope`` over ``like``'s time. */
export function sumWindows(rows: FleetWindow[], scope: string, like: FleetWindow): FleetWindow {
  const total: FleetWindow = { ...like, scope, final: rows.every((r) => r.final) };
  for (const key of [...COUNTS, ...FLEET_MEASURES.map((m) => m.key)]) total[key] = rows.reduce((a, r) => a + (r[key] ?? 0), 0);
  return total;
}

/** The newest window of an answer (null when the stream has counted nothing yet). */
export function latestWindow(answer: FleetWindows | null | undefined): LatestWindow | null {
  const rows = answer?.windows ?? [];
  if (rows.length === 0) return null;
  const fleetRows = rows.filter((r) => r.scope === FLEET_SCOPE);
  const candidates = fleetRows.length ? fleetRows : rows;
  const newest = candidates.reduce((a, r) => (ms(r.start) > ms(a.start) ? r : a));
  const at = ms(newest.start);
  const byScope = new Map<string, FleetWindow>();
  for (const row of rows) {
    if (row.scope === FLEET_SCOPE) continue;
    const seen = byScope.get(row.scope);
    if (!seen || ms(row.start) > ms(seen.start)) byScope.set(row.scope, row);
  }
  const municipalities = [...byScope.values()].sort((a, b) => a.scope.localeCompare(b.scope));
  const atNewest = rows.filter((r) => r.scope !== FLEET_SCOPE && ms(r.start) === at);
  const total = fleetRows.length ? newest : atNewest.length === 1 ? atNewest[0] : sumWindows(atNewest, FLEET_SCOPE, newest);
  return { start: newest.start, end: newest.end, local_date: newest.local_date, final: total.final, total, municipalities };
}

/** A window as people read it, in the municipality's zone: "2021-09-11 23:00–00:00" (an hour), "2021-09-11" (a day). */
export function windowLabel(window: { start: string; end: string; local_date: string | null }, kind: WindowKind,
  timeZone = "America/Los_Angeles"): string {
  if (kind === "day") return window.local_date ?? formatTime(window.start, timeZone).slice(0, 10);
  return `${formatTime(window.start, timeZone)}–${formatTime(window.end, timeZone).slice(11)}`;
}

/** What a fleet panel shows, as a stable data-state: loading, error (nothing to show), empty (no window yet), live. */
export function fleetState(loading: boolean, failed: boolean, latest: LatestWindow | null): "loading" | "error" | "empty" | "live" {
  if (latest) return "live";
  if (failed) return "error";
  return loading ? "loading" : "empty";
}

const ALERT_LABELS: Record<string, string> = {
  silent_meter: "silent meter",
  missing_hours: "missing hours",
  repeated_imbalance: "repeated imbalance",
};

/** "silent_meter" -> "silent meter" (a kind this app does not know yet: its name, spaced). */
export function alertLabel(kind: string): string {
  return ALERT_LABELS[kind] ?? kind.replace(/_/g, " ");
}

/** Open alerts, the newest first (then by house and kind, so the list does not jump between polls). */
export function sortAlerts(alerts: FleetAlert[]): FleetAlert[] {
  return [...alerts].sort((a, b) => ms(b.since) - ms(a.since) || a.house_id.localeCompare(b.house_id) || a.kind.localeCompare(b.kind));
}

/** How many open alerts of each kind ("2 silent meter · 1 missing hours"), kinds in a fixed order. */
export function alertSummary(alerts: FleetAlert[]): string {
  if (alerts.length === 0) return "No open alerts.";
  const counts = new Map<string, number>();
  for (const alert of alerts) counts.set(alert.kind, (counts.get(alert.kind) ?? 0) + 1);
  const order = [...Object.keys(ALERT_LABELS), ...[...counts.keys()].filter((k) => !(k in ALERT_LABELS)).sort()];
  const parts = order.filter((k) => counts.has(k)).map((k) => `${counts.get(k)} ${alertLabel(k)}`);
  return `${alerts.length} open ${alerts.length === 1 ? "alert" : "alerts"}: ${parts.join(" · ")}`;
}
