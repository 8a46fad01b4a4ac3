// The resident's hourly usage as a file: billing's GET /resident/usage/greenbutton, a Green Button
// (NAESB ESPI) feed of home consumption and solar production, or a CSV of every measure; exact Wh,
// local days of the municipality, `to` the day after the last one.

import { apiFile } from "./api";
import { addDays } from "./format";

export type UsageExportFormat = "xml" | "csv";

/** What each format is, as billing answers it (and as the browser should save it). */
export const USAGE_EXPORT_TYPES: Record<UsageExportFormat, string> = {
  xml: "application/atom+xml",
  csv: "text/csv",
};

export interface UsageExportQuery {
  from: string; // first local day, YYYY-MM-DD
  to: string; // the local day after the last one
  format: UsageExportFormat;
}

/** The Usage form's two dates (both inclusive) as the export's [from, to) days. */
export function usageExportQuery(fromDay: string, lastDay: string, format: UsageExportFormat): UsageExportQuery {
  return { from: fromDay, to: addDays(lastDay, 1), format };
}

/** The file, fetched with the bearer token through the web proxy. */
export const fetchUsageExport = (token: string, query: UsageExportQuery, signal?: AbortSignal) =>
  apiFile("billing", "/resident/usage/greenbutton", {
    token, signal, query: { ...query }, accept: USAGE_EXPORT_TYPES[query.format],
  });

/** The name billing gives the file: usage-<house>-<first day>-to-<last day>.<xml|csv>. */
export function usageExportFilename(house: string | null | undefined, fromDay: string, lastDay: string,
  format: UsageExportFormat): string {
  const safe = (house ?? "house").replace(/[^A-Za-z0-9._-]/gu, "_");
  return `usage-${safe}-${fromDay}-to-${lastDay}.${format}`;
}
