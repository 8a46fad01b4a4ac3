// The fleet stream, live (the market's /gsa/fleet/* and /municipality/fleet/windows, polled every 5 s):
// the GSA's "Fleet now" (the newest hour and today's local day: fleet totals and each municipality) and
// "Alerts" (the meters' open alerts), and a municipality's own "Our town now".
//
// Stable hooks for browser tests: each card's data-testid carries a data-state (fleet-now, town-now:
// loading | error | empty | live; fleet-alerts: loading | error | empty | open), each totals block
// (fleet-hour-totals, fleet-day-totals) its data-houses-reporting, data-readings, data-start and data-end,
// each municipality row data-municipality, each alert row data-kind and data-house.

import {
  FLEET_MEASURES, alertLabel, alertSummary, fetchFleetAlerts, fetchFleetWindows, fleetState, latestWindow, sortAlerts,
  windowLabel, type FleetAlert, type FleetScope, type FleetWindow, type LatestWindow, type WindowKind,
} from "../lib/fleet";
import { formatTime, formatWh } from "../lib/format";
import { usePoll } from "../lib/usePoll";
import { Card, ErrorNotice } from "./Form";

const POLL_MS = 5000;
const HOUR_SPAN = 3; // hours of hour windows asked for: the newest, and the last of a municipality gone quiet
const DAY_SPAN = 24; // the newest local day (and the one before, while it is still being completed)

const count = (n: number) => n.toLocaleString("en-US");

/** The totals of one window as stats: houses reporting, readings (unbalanced), then every energy in kWh. */
export function WindowTotals({ window, testId }: { window: FleetWindow; testId: string }) {
  return (
    <div className="stats" data-testid={`${testId}-totals`} data-houses-reporting={window.houses_reporting}
      data-readings={window.readings} data-start={window.start} data-end={window.end}>
      <div className="stat"><span className="stat-label">Houses reporting</span>
        <span className="stat-value" data-testid={`${testId}-houses_reporting`}>{count(window.houses_reporting)}</span></div>
      <div className="stat"><span className="stat-label">Readings (unbalanced)</span>
        <span className="stat-value" data-testid={`${testId}-readings`}>
          {count(window.readings)} <span className={window.readings_unbalanced ? "bad-text" : "muted"}
            data-testid={`${testId}-readings_unbalanced`}>({count(window.readings_unbalanced)})</span>
        </span></div>
      {FLEET_MEASURES.map((m) => (
        <div key={m.key} className="stat"><span className="stat-label">{m.label}</span>
          <span className="stat-value" data-testid={`${testId}-${m.key}`}>{formatWh(window[m.key])}</span></div>
      ))}
    </div>
  );
}

/** Each municipality's newest window of a kind, one row each. */
export function MunicipalityWindows({ rows, kind, testId, caption }: {
  rows: FleetWindow[]; kind: WindowKind; testId: string; caption: string;
}) {
  if (rows.length === 0) return null;
  return (
    <div className="table-scroll"><table className="fleet-table" data-testid={testId}>
      <caption className="visually-hidden">{caption}</caption>
      <thead><tr>
        <th scope="col">Municipality</th><th scope="col">{kind === "hour" ? "Hour (local)" : "Day (local)"}</th>
        <th scope="col" className="num">Houses</th><th scope="col" className="num">Readings</th><th scope="col" className="num">Unbalanced</th>
        {FLEET_MEASURES.map((m) => <th key={m.key} scope="col" className="num">{m.label}</th>)}
      </tr></thead>
      <tbody>{rows.map((r) => (
        <tr key={r.scope} data-testid="fleet-municipality" data-municipality={r.scope} data-kind={kind}
          data-houses-reporting={r.houses_reporting}>
          <td>{r.scope}</td><td>{windowLabel(r, kind)}{r.final ? "" : " (open)"}</td>
          <td className="num">{count(r.houses_reporting)}</td><td className="num">{count(r.readings)}</td>
          <td className="num">{count(r.readings_unbalanced)}</td>
          {FLEET_MEASURES.map((m) => <td key={m.key} className="num">{formatWh(r[m.key])}</td>)}
        </tr>
      ))}</tbody>
    </table></div>
  );
}

function windowHeading(what: string, latest: LatestWindow, kind: WindowKind): string {
  return `${what} · ${windowLabel(latest, kind)}${latest.final ? " (final)" : " (still counting)"}`;
}

/** The GSA's "Fleet now", from the two answers (pure: what the page and its unit tests render). */
export function FleetNowView({ hour, day, state, asOf, perMunicipality = true }: {
  hour: LatestWindow | null; day: LatestWindow | null; state: string; asOf: string | null; perMunicipality?: boolean;
}) {
  if (!hour) {
    return <p className="muted" data-testid="fleet-now-empty">
      {state === "loading" ? "Loading…" : state === "error" ? "The fleet stream cannot be read right now." :
        "The fleet stream has not counted a reading yet (it follows the replay)."}
    </p>;
  }
  return (
    <>
      <p className="muted" data-testid="fleet-now-as-of">As of {formatTime(asOf)} (simulated, local time)</p>
      <h3 className="subhead">{windowHeading("Latest hour", hour, "hour")}</h3>
      <WindowTotals window={hour.total} testId="fleet-hour" />
      {perMunicipality ? <MunicipalityWindows rows={hour.municipalities} kind="hour" testId="fleet-hour-municipalities"
        caption="Latest hour by municipality" /> : null}
      {day ? (
        <>
          <h3 className="subhead">{windowHeading("Today", day, "day")}</h3>
          <WindowTotals window={day.total} testId="fleet-day" />
          {perMunicipality ? <MunicipalityWindows rows={day.municipalities} kind="day" testId="fleet-day-municipalities"
            caption="Today by municipality" /> : null}
        </>
      ) : null}
    </>
  );
}

function useFleet(token: string, scope: FleetScope) {
  const hour = usePoll((signal) => fetchFleetWindows(token, scope, "hour", HOUR_SPAN, signal), [token, scope], POLL_MS);
  const day = usePoll((signal) => fetchFleetWindows(token, scope, "day", DAY_SPAN, signal), [token, scope], POLL_MS);
  const latestHour = latestWindow(hour.data);
  const state = fleetState(hour.loading && !hour.data, !!hour.error && !hour.data, latestHour);
  return { hour, day, latestHour, latestDay: latestWindow(day.data), state };
}

/** GSA dashboard: the fleet's newest hour and today's local day, totals and each municipality, live. */
export function FleetNow({ token }: { token: string }) {
  const { hour, day, latestHour, latestDay, state } = useFleet(token, "gsa");
  return (
    <Card title="Fleet now" testId="fleet-now" state={state}>
      <ErrorNotice error={hour.error ?? day.error} />
      <FleetNowView hour={latestHour} day={latestDay} state={state} asOf={hour.data?.as_of ?? null} />
    </Card>
  );
}

/** Municipal portal: the town's own newest hour and today's local day, live. */
export function TownNow({ token }: { token: string }) {
  const { hour, day, latestHour, latestDay, state } = useFleet(token, "municipality");
  return (
    <Card title="Our town now" testId="town-now" state={state}>
      <ErrorNotice error={hour.error ?? day.error} />
      <FleetNowView hour={latestHour} day={latestDay} state={state} asOf={hour.data?.as_of ?? null} perMunicipality={false} />
    </Card>
  );
}

/** The open alerts as a table, newest first, or the empty state (pure). */
export function AlertsView({ alerts, state }: { alerts: FleetAlert[]; state: string }) {
  if (alerts.length === 0) {
    return <p className="muted" data-testid="alerts-empty">
      {state === "loading" ? "Loading…" : state === "error" ? "The alerts cannot be read right now." :
        "No open alerts: every meter is reporting, complete and balanced."}
    </p>;
  }
  return (
    <>
      <p className="muted" data-testid="alerts-summary">{alertSummary(alerts)}</p>
      <div className="table-scroll"><table data-testid="alerts-table">
        <caption className="visually-hidden">Open meter alerts</caption>
        <thead><tr><th scope="col">Kind</th><th scope="col">House</th><th scope="col">Municipality</th>
          <th scope="col">Since (local)</th><th scope="col">Detail</th></tr></thead>
        <tbody>{sortAlerts(alerts).map((a) => (
          <tr key={a.alert_id} data-testid="fleet-alert" data-kind={a.kind} data-house={a.house_id}>
            <td><span className={`badge alert-${a.kind}`}>{alertLabel(a.kind)}</span></td>
            <td>{a.house_id}</td><td>{a.municipality_id ?? "—"}</td><td>{formatTime(a.since)}</td>
            <td className="details">{a.detail}</td>
          </tr>
        ))}</tbody>
      </table></div>
    </>
  );
}

/** GSA dashboard: the meters' open alerts (silent meters, missing hours, repeated imbalance), live. */
export function FleetAlerts({ token }: { token: string }) {
  const alerts = usePoll((signal) => fetchFleetAlerts(token, signal), [token], POLL_MS);
  const rows = alerts.data ?? [];
  const state = alerts.data ? (rows.length ? "open" : "empty") : alerts.error ? "error" : "loading";
  return (
    <Card title="Alerts" testId="fleet-alerts" state={state}>
      <ErrorNotice error={alerts.error} />
      <AlertsView alerts={rows} state={state} />
    </Card>
  );
}
