// Usage: the resident's metered energy by hour, local day or local month: home consumption,
// solar, grid import and export, battery charge and discharge, and the energy billed.

import { useMemo, useState, type FormEvent } from "react";
import { useSession } from "../../lib/auth";
import { USAGE_MAX_DAYS, fetchUsage, usageQuery, type Granularity, type UsageRow } from "../../lib/billing";
import { formatWh } from "../../lib/format";
import { usageColumns, USAGE_MEASURES } from "../../lib/series";
import { usePoll } from "../../lib/usePoll";
import { validateDateRange, type FieldErrors } from "../../lib/validation";
import { Card, ErrorNotice, Field } from "../../components/Form";
import { PALETTE, TimeChart } from "../../components/TimeChart";

export function ResidentUsage() {
  const { token } = useSession();
  const [granularity, setGranularity] = useState<Granularity>("day");
  const [form, setForm] = useState({ from: "2021-07-01", to: "2022-06-30" });
  const [range, setRange] = useState(form);
  const [errors, setErrors] = useState<FieldErrors>({});
  // The answer remembers its granularity, so the chart never labels one granularity's rows as another's.
  const usage = usePoll(
    async (signal) => ({ granularity, rows: await fetchUsage(token, usageQuery(range.from, range.to, granularity), signal) }),
    [token, granularity, range.from, range.to],
    10000,
  );

  const chart = useMemo(() => {
    const rows: UsageRow[] = usage.data?.rows ?? [];
    const columns = usageColumns(rows);
    const lines = USAGE_MEASURES.map((m, i) => ({ label: m.title, values: columns.values[m.key], color: PALETTE[i % PALETTE.length] }));
    return { x: columns.x, lines, totals: columns.totals };
  }, [usage.data]);

  function apply(event: FormEvent) {
    event.preventDefault();
    const local = validateDateRange(form, USAGE_MAX_DAYS);
    setErrors(local);
    if (!Object.keys(local).length) setRange(form);
  }

  const apiErrors = usage.error?.fieldErrors ?? {};
  return (
    <div className="page">
      <Card title="Your energy" testId="usage">
        <form className="form-row" onSubmit={apply} noValidate>
          <Field label="From" name="from" error={errors.from ?? apiErrors.from}>
            <input id="from" type="date" value={form.from} onChange={(e) => setForm({ ...form, from: e.target.value })} />
          </Field>
          <Field label="To" name="to" error={errors.to ?? apiErrors.to}>
            <input id="to" type="date" value={form.to} onChange={(e) => setForm({ ...form, to: e.target.value })} />
          </Field>
          <button type="submit" className="primary">Show</button>
          <div className="segmented" role="group" aria-label="granularity">
            {(["hour", "day", "month"] as Granularity[]).map((g) => (
              <label key={g} className={g === granularity ? "on" : ""}>
                <input type="radio" name="granularity" checked={g === granularity} onChange={() => setGranularity(g)} />
                {g === "hour" ? "Hourly" : g === "day" ? "Daily" : "Monthly"}
              </label>
            ))}
          </div>
        </form>
        <ErrorNotice error={usage.error && !apiErrors.from && !apiErrors.to ? usage.error : null} />
        <div className="stats" data-testid="usage-totals">
          {USAGE_MEASURES.map((m) => (
            <div className="stat" key={m.key}><span className="stat-label">{m.title}</span><span className="stat-value">{formatWh(chart.totals[m.key])}</span></div>
          ))}
        </div>
        <div data-testid="usage-chart-box" data-granularity={usage.data?.granularity ?? ""}>
          <TimeChart x={chart.x} lines={chart.lines} unit="kWh" scale={1000} bars={usage.data?.granularity === "month"} height={320} testId="usage-chart" />
        </div>
        <p className="muted small">Days and months are local to your municipality. Billed energy is what your PPA
          bills you for (delivered or consumed energy, as your contract says).</p>
      </Card>
    </div>
  );
}
