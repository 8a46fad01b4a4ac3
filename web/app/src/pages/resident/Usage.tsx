// Usage: the resident's metered energy by hour, local day or local month: home consumption,
// solar, grid import and export, battery charge and discharge, and the energy billed; the
// same hours downloaded as a Green Button (XML) feed or a CSV file.

import { useMemo, useState, type FormEvent } from "react";
import { ApiError } from "../../lib/api";
import { useSession } from "../../lib/auth";
import { USAGE_MAX_DAYS, fetchUsage, usageQuery, type Granularity, type UsageRow } from "../../lib/billing";
import { saveBlob } from "../../lib/download";
import { formatWh } from "../../lib/format";
import { usageColumns, USAGE_MEASURES } from "../../lib/series";
import { fetchUsageExport, usageExportFilename, usageExportQuery, type UsageExportFormat } from "../../lib/usageExport";
import { usePoll } from "../../lib/usePoll";
import { validateDateRange, type FieldErrors } from "../../lib/validation";
import { Card, ErrorNotice, Field } from "../../components/Form";
import { PALETTE, TimeChart } from "../../components/TimeChart";

export function ResidentUsage() {
  const { token, house } = useSession();
  const [granularity, setGranularity] = useState<Granularity>("day");
  const [form, setForm] = useState({ from: "2021-07-01", to: "2022-06-30" });
  const [range, setRange] = useState(form);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [exporting, setExporting] = useState<UsageExportFormat | null>(null);
  const [exportError, setExportError] = useState<ApiError | null>(null);
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
    setExportError(null);
    if (!Object.keys(local).length) setRange(form);
  }

  // The dates in the form, checked as Show checks them, downloaded (and shown) as a file.
  async function download(format: UsageExportFormat) {
    const local = validateDateRange(form, USAGE_MAX_DAYS);
    setErrors(local);
    setExportError(null);
    if (Object.keys(local).length) return;
    setRange(form);
    setExporting(format);
    try {
      const file = await fetchUsageExport(token, usageExportQuery(form.from, form.to, format));
      saveBlob(file, usageExportFilename(house, form.from, form.to, format));
    } catch (caught) {
      setExportError(caught instanceof ApiError ? caught : new ApiError(0, String(caught)));
    } finally {
      setExporting(null);
    }
  }

  const apiErrors = usage.error?.fieldErrors ?? {};
  const exportErrors = exportError?.fieldErrors ?? {};
  return (
    <div className="page">
      <Card title="Your energy" testId="usage">
        <form className="form-row" onSubmit={apply} noValidate>
          <Field label="From" name="from" error={errors.from ?? exportErrors.from ?? apiErrors.from}>
            <input id="from" type="date" value={form.from} onChange={(e) => setForm({ ...form, from: e.target.value })} />
          </Field>
          <Field label="To" name="to" error={errors.to ?? exportErrors.to ?? apiErrors.to}>
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
        <div className="form-row" role="group" aria-label="Download your usage" aria-describedby="usage-export-note">
          <button type="button" data-testid="usage-export-xml" aria-busy={exporting === "xml"} disabled={exporting !== null}
            onClick={() => download("xml")}>{exporting === "xml" ? "Downloading…" : "Download Green Button (XML)"}</button>
          <button type="button" data-testid="usage-export-csv" aria-busy={exporting === "csv"} disabled={exporting !== null}
            onClick={() => download("csv")}>{exporting === "csv" ? "Downloading…" : "Download CSV"}</button>
          <span id="usage-export-note" className="muted small">Every hour from the From date to the To date: home
            consumption and solar production in Green Button XML; every measure above in CSV; in Wh.</span>
        </div>
        <ErrorNotice error={exportError && !exportErrors.from && !exportErrors.to ? exportError : null}
          testId="usage-export-error" />
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
