// Shaping hourly columns for charts: epoch seconds, per-day/per-month sums in the site's zone, fleet totals.

export type Resolution = "hour" | "day" | "month";

export interface Columns {
  x: number[]; // epoch seconds of each bucket's start
  labels: string[]; // bucket keys: ISO hour, YYYY-MM-DD or YYYY-MM
  values: (number | null)[][]; // one array per series, aligned with x (null: no reading that hour)
}

const localKeys = new Map<number, string>();
const keyFormat = new Intl.DateTimeFormat("en-CA", {
  timeZone: "America/Los_Angeles", year: "numeric", month: "2-digit", day: "2-digit",
});

/** The local (America/Los_Angeles) day of an epoch-second hour; memoised because a year has only 8,760 hours. */
export function localDayOf(epochSeconds: number): string {
  let key = localKeys.get(epochSeconds);
  if (key === undefined) {
    key = keyFormat.format(new Date(epochSeconds * 1000));
    localKeys.set(epochSeconds, key);
  }
  return key;
}

function bucketStart(key: string, resolution: Resolution): number {
  // Noon local-ish UTC marks the bucket on a time axis without a zone library; exact for bars of a day or more.
  const day = resolution === "month" ? `${key}-01` : key;
  return Date.parse(`${day}T12:00:00Z`) / 1000;
}

/** Sum aligned hourly series into local days or months (hours pass through). */
export function aggregate(hours: string[], series: (number | null)[][], resolution: Resolution): Columns {
  const epochs = hours.map((h) => Date.parse(h) / 1000);
  if (resolution === "hour") return { x: epochs, labels: hours, values: series };
  const index = new Map<string, number>();
  const labels: string[] = [];
  const sums: number[][] = series.map(() => []);
  epochs.forEach((epoch, i) => {
    const day = localDayOf(epoch);
    const key = resolution === "month" ? day.slice(0, 7) : day;
    let slot = index.get(key);
    if (slot === undefined) {
      slot = labels.length;
      index.set(key, slot);
      labels.push(key);
      sums.forEach((s) => s.push(0));
    }
    series.forEach((values, s) => {
      sums[s][slot] += values[i] ?? 0;
    });
  });
  return { x: labels.map((k) => bucketStart(k, resolution)), labels, values: sums };
}

/** Align several houses' hourly columns on one time axis (missing hours are null). */
export function alignHouses(
  houses: Record<string, { hour: string[]; values: number[] }>,
): { hours: string[]; byHouse: Record<string, (number | null)[]> } {
  const all = new Set<string>();
  Object.values(houses).forEach((h) => h.hour.forEach((t) => all.add(t)));
  const hours = [...all].sort((a, b) => Date.parse(a) - Date.parse(b));
  const position = new Map(hours.map((h, i) => [h, i]));
  const byHouse: Record<string, (number | null)[]> = {};
  for (const [house, { hour, values }] of Object.entries(houses)) {
    const column: (number | null)[] = new Array(hours.length).fill(null);
    hour.forEach((t, i) => {
      column[position.get(t)!] = values[i];
    });
    byHouse[house] = column;
  }
  return { hours, byHouse };
}

/** Per-hour sum over houses (null hours count as zero). */
export function fleetTotal(columns: (number | null)[][]): number[] {
  const length = columns.length ? columns[0].length : 0;
  const total = new Array<number>(length).fill(0);
  for (const column of columns) column.forEach((v, i) => (total[i] += v ?? 0));
  return total;
}

/** The usage measures a resident's chart draws, in the billing contract's field names. */
export const USAGE_MEASURES = [
  { key: "home_wh", title: "Home consumption" },
  { key: "solar_wh", title: "Solar" },
  { key: "grid_import_wh", title: "Grid import" },
  { key: "grid_export_wh", title: "Grid export" },
  { key: "battery_charged_wh", title: "Battery charged" },
  { key: "battery_discharged_wh", title: "Battery discharged" },
  { key: "billed_wh", title: "Billed" },
] as const;

export type UsageMeasure = (typeof USAGE_MEASURES)[number]["key"];

/** Usage rows (one per bucket, ``start`` an instant) as chart columns, with a total per measure. */
export function usageColumns(
  rows: ({ start: string } & Record<UsageMeasure, number>)[],
): { x: number[]; values: Record<UsageMeasure, number[]>; totals: Record<UsageMeasure, number> } {
  const x = rows.map((r) => Date.parse(r.start) / 1000);
  const values = {} as Record<UsageMeasure, number[]>;
  const totals = {} as Record<UsageMeasure, number>;
  for (const { key } of USAGE_MEASURES) {
    values[key] = rows.map((r) => r[key]);
    totals[key] = values[key].reduce((a, b) => a + b, 0);
  }
  return { x, values, totals };
}
