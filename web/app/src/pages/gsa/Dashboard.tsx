// The GSA's dashboard (the prototype's Grafana board, live): per-house hourly home consumption,
// grid export and grid import for any date range, and fleet totals; above them the fleet stream live
// ("Fleet now": the newest hour and today's local day; "Alerts": the meters' open alerts).

import { useMemo, useState, type FormEvent } from "react";
import { ApiError, apiRequest } from "../../lib/api";
import { useSession } from "../../lib/auth";
import { formatWh } from "../../lib/format";
import { aggregate, alignHouses, fleetTotal, type Resolution } from "../../lib/series";
import { usePoll } from "../../lib/usePoll";
import { fetchAllAccounts } from "../../lib/billing";
import { validateDateRange, type FieldErrors } from "../../lib/validation";
import { Card, ErrorNotice, Field } from "../../components/Form";
import { PALETTE, TimeChart, type Line } from "../../components/TimeChart";
import { FleetAlerts, FleetNow } from "../../components/FleetPanels";

interface HouseColumns {
  hour: string[];
  home_wh: number[];
  grid_export_wh: number[];
  grid_import_wh: number[];
}

interface Usage {
  start: string;
  end: string;
  houses: Record<string, HouseColumns>;
}

const DASHBOARD_MAX_DAYS = 400; // the market's usage API serves at most 400 days at once

const MEASURES = [
  { key: "home_wh", title: "Home Consumption" },
  { key: "grid_export_wh", title: "Grid Export" },
  { key: "grid_import_wh", title: "Grid Import" },
] as const;

export function GsaDashboard() {
  const session = useSession();
  const [form, setForm] = useState({ from: "2021-06-27", to: "2022-07-30" });
  const [range, setRange] = useState(form);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [resolution, setResolution] = useState<Resolution>("hour");
  const [live, setLive] = useState(true);
  const [selected, setSelected] = useState<string[] | null>(null);

  // Who is in the program: billing's account rows name every resident and its municipality.
  const accounts = usePoll((signal) => fetchAllAccounts(session.token, signal), [session.token], 60000);
  const [municipality, setMunicipality] = useState<string>("");
  const [filter, setFilter] = useState("");
  const municipalities = useMemo(
    () => [...new Set((accounts.data ?? []).map((r) => r.municipality_id ?? ""))].filter(Boolean).sort(),
    [accounts.data],
  );
  const place = municipality || municipalities[0] || "";
  const allHouses = useMemo(
    () => (accounts.data ?? []).filter((r) => r.municipality_id === place).map((r) => r.house_id).sort(),
    [accounts.data, place],
  );
  const houses = selected ?? allHouses.slice(0, 8);

  const usage = usePoll(
    async (signal) =>
      houses.length === 0 ? ({ start: range.from, end: range.to, houses: {} } as Usage) :
      apiRequest<Usage>("market", "/gsa/usage/hourly", {
        token: session.token,
        signal,
        query: { start: range.from, end: range.to, house_id: houses },
      }),
    [session.token, range.from, range.to, houses.join(",")],
    live ? 10000 : 0,
  );

  const charts = useMemo(() => {
    const data = usage.data?.houses ?? {};
    const names = Object.keys(data).filter((h) => houses.length === 0 || houses.includes(h)).sort();
    return MEASURES.map((measure) => {
      const aligned = alignHouses(Object.fromEntries(names.map((h) => [h, { hour: data[h].hour, values: data[h][measure.key] }])));
      const columns = names.map((h) => aligned.byHouse[h]);
      const total = fleetTotal(columns);
      const shaped = aggregate(aligned.hours, [...columns, total], resolution);
      const lines: Line[] = names.map((h, i) => ({ label: h, values: shaped.values[i], color: PALETTE[i % PALETTE.length] }));
      const fleet = (shaped.values[names.length] ?? []).map((v) => v ?? 0);
      return { ...measure, x: shaped.x, lines, fleet, sum: fleet.reduce((a, b) => a + b, 0), points: aligned.hours.length };
    });
  }, [usage.data, resolution, houses.join(",")]);

  const fleetLines = useMemo(
    () => charts.map((c, i) => ({ label: c.title, values: c.fleet, color: PALETTE[i] })),
    [charts],
  );

  function apply(event: FormEvent) {
    event.preventDefault();
    const local = validateDateRange(form, DASHBOARD_MAX_DAYS);
    setErrors(local);
    if (!Object.keys(local).length) setRange(form);
  }

  const apiFieldErrors = usage.error instanceof ApiError ? usage.error.fieldErrors : {};
  const x = charts[0]?.x ?? [];
  return (
    <div className="page">
      <FleetNow token={session.token} />
      <FleetAlerts token={session.token} />
      <Card title="Houses" testId="dashboard-controls">
        <form className="form-row" onSubmit={apply} noValidate>
          <Field label="From" name="from" error={errors.from ?? apiFieldErrors.start}>
            <input id="from" type="date" value={form.from} onChange={(e) => setForm({ ...form, from: e.target.value })} />
          </Field>
          <Field label="To" name="to" error={errors.to ?? apiFieldErrors.end}>
            <input id="to" type="date" value={form.to} onChange={(e) => setForm({ ...form, to: e.target.value })} />
          </Field>
          <Field label="Resolution" name="resolution">
            <select id="resolution" value={resolution} onChange={(e) => setResolution(e.target.value as Resolution)}>
              <option value="hour">hourly</option>
              <option value="day">daily</option>
              <option value="month">monthly</option>
            </select>
          </Field>
          <label className="check">
            <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} /> live (every 10 s)
          </label>
          <button type="submit" className="primary">Show</button>
        </form>
        <div className="house-picker" data-testid="house-picker">
          <Field label="Municipality" name="municipality">
            <select id="municipality" value={place} onChange={(e) => { setMunicipality(e.target.value); setSelected(null); }}>
              {municipalities.map((m) => <option key={m} value={m}>{m}</option>)}
            </select>
          </Field>
          <Field label={`Houses (${houses.length} of ${allHouses.length} shown)`} name="houses">
            <input id="houses" placeholder="filter houses…" value={filter} onChange={(e) => setFilter(e.target.value)} />
          </Field>
          <div className="house-list">
            {allHouses.filter((h) => !filter || h.includes(filter)).slice(0, 60).map((h) => (
              <label key={h} className={`chip${houses.includes(h) ? " on" : ""}`}>
                <input type="checkbox" checked={houses.includes(h)}
                  onChange={(e) => setSelected(e.target.checked ? [...houses, h] : houses.filter((x) => x !== h))} />
                {h}
              </label>
            ))}
          </div>
        </div>
        <ErrorNotice error={usage.error ?? accounts.error} />
        <p className="muted" data-testid="usage-summary">
          {usage.loading && !usage.data ? "Loading…" : `${charts[0]?.points ?? 0} hours × ${charts[0]?.lines.length ?? 0} houses`}
        </p>
      </Card>
      <Card title="Fleet totals" testId="fleet-totals">
        <div className="stats">
          {charts.map((c) => (
            <div key={c.key} className="stat"><span className="stat-label">{c.title}</span><span className="stat-value" data-testid={`total-${c.key}`}>{formatWh(c.sum)}</span></div>
          ))}
        </div>
        <TimeChart x={x} lines={fleetLines} unit="kWh" scale={1000} bars={resolution !== "hour"} height={200} testId="chart-fleet" />
      </Card>
      {charts.map((c) => (
        <Card key={c.key} title={c.title} testId={`panel-${c.key}`}>
          <TimeChart x={c.x} lines={c.lines} unit="kWh" scale={1000} bars={resolution === "month"} testId={`chart-${c.key}`} />
        </Card>
      ))}
    </div>
  );
}
