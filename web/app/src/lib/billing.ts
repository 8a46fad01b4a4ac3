// The billing service's role APIs, typed exactly as the billing contract names their fields
// (money in integer cents, energy in integer Wh, rates as decimal strings, times ISO-8601 UTC).

import { apiFile, apiRequest } from "./api";
import { addDays, formatMonth, localMidnightIso } from "./format";
import { parseCents, type PaymentMethod } from "./validation";

export interface ResidentAccount {
  house_id: string;
  name: string;
  address: string;
  municipality_id: string;
  battery_wh: number;
  reserve_wh: number;
  rate_usd_per_kwh: string; // the current escalated rate
  escalator_percent: string;
  contract_start: string;
  billing_basis: string;
  balance_cents: number; // owed; negative = credit
  past_due: boolean;
  past_due_cents: number;
  sim_time: string | null;
}

export type InvoiceStatus = "open" | "paid" | "past_due";

export interface InvoiceSummary {
  invoice_id: string;
  period: string; // YYYY-MM
  period_start: string;
  period_end: string;
  issued_at: string;
  due_at: string;
  total_cents: number;
  new_charges_cents: number;
  paid_cents: number;
  outstanding_cents: number;
  status: InvoiceStatus;
  past_due: boolean;
}

export interface InvoiceLine {
  number: number;
  kind: string;
  description: string;
  energy_wh: number | null;
  rate_usd_per_kwh: string | null;
  amount_cents: number;
}

export interface InvoiceDetail extends InvoiceSummary {
  lines: InvoiceLine[];
}

export interface Charges {
  balance_cents: number;
  past_due: boolean;
  past_due_cents: number;
  latest_invoice: InvoiceSummary | null;
  due_at: string | null;
}

export interface EnergyCost {
  period: string; // YYYY-MM
  energy_wh: number;
  amount_cents: number;
}

export interface PaymentRequest {
  amount: string; // dollars, at most two decimals: money never travels as a binary float
  method: PaymentMethod;
  invoice_id?: string;
}

export interface Payment {
  payment_id: string;
  invoice_id: string | null;
  amount_cents: number;
  method: PaymentMethod;
  received_at: string;
}

export interface PaymentReceipt extends Payment {
  house_id: string;
  balance_cents: number;
}

export type Granularity = "hour" | "day" | "month";

/** The usage API refuses spans over 400 days; the form allows a (leap) year, which always fits. */
export const USAGE_MAX_DAYS = 366;

export interface UsageRow {
  start: string;
  home_wh: number;
  solar_wh: number;
  grid_import_wh: number;
  grid_export_wh: number;
  battery_charged_wh: number;
  battery_discharged_wh: number;
  billed_wh: number;
}

export interface AccountRow {
  house_id: string;
  name: string;
  address: string;
  balance_cents: number;
  past_due: boolean;
  past_due_cents: number;
  last_invoice_period: string | null;
  municipality_id?: string; // GSA rows only
}

type Signal = AbortSignal | undefined;

export const fetchAccount = (token: string, signal?: Signal) =>
  apiRequest<ResidentAccount>("billing", "/resident/account", { token, signal });

export const fetchCharges = (token: string, signal?: Signal) =>
  apiRequest<Charges>("billing", "/resident/charges", { token, signal });

export const fetchInvoices = (token: string, signal?: Signal) =>
  apiRequest<InvoiceSummary[]>("billing", "/resident/invoices", { token, signal });

export const fetchInvoice = (token: string, invoiceId: string, signal?: Signal) =>
  apiRequest<InvoiceDetail>("billing", `/resident/invoices/${encodeURIComponent(invoiceId)}`, { token, signal });

/** One invoice as a PDF (GET /resident/invoices/{id}/pdf), fetched with the bearer token. */
export const fetchInvoicePdf = (token: string, invoiceId: string, signal?: Signal) =>
  apiFile("billing", `/resident/invoices/${encodeURIComponent(invoiceId)}/pdf`, { token, signal, accept: "application/pdf" });

/** The PDF's file name, as billing names it: invoice-<id>.pdf with only safe characters. */
export function invoicePdfFilename(invoiceId: string): string {
  return `invoice-${invoiceId.replace(/[^A-Za-z0-9._-]/gu, "_")}.pdf`;
}

const MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
  "November", "December"];

/** The PDF button's accessible name: it names the bill's period in full ("September 2021") and contains "PDF". */
export function invoicePdfLabel(period: string): string {
  const [year, month] = period.split("-").map(Number);
  const name = year && month >= 1 && month <= 12 ? `${MONTH_NAMES[month - 1]} ${year}` : period;
  return `Download the bill for ${name} as a PDF`;
}

export const fetchEnergyCost = (token: string, signal?: Signal) =>
  apiRequest<EnergyCost[]>("billing", "/resident/energy-cost", { token, signal });

export const fetchPayments = (token: string, signal?: Signal) =>
  apiRequest<Payment[]>("billing", "/resident/payments", { token, signal });

/** POST a payment; the same key and body a second time returns the same payment (200). */
export const pay = (token: string, body: PaymentRequest, idempotencyKey: string) =>
  apiRequest<PaymentReceipt>("billing", "/resident/payments", {
    token, json: body, headers: { "Idempotency-Key": idempotencyKey },
  });

export const fetchUsage = (token: string, query: UsageQuery, signal?: Signal) =>
  apiRequest<UsageRow[]>("billing", "/resident/usage", { token, signal, query: { ...query } });

export const fetchMunicipalAccounts = (token: string, signal?: Signal) =>
  apiRequest<AccountRow[]>("billing", "/municipality/accounts", { token, signal });

export const fetchAllAccounts = (token: string, signal?: Signal) =>
  apiRequest<AccountRow[]>("billing", "/gsa/accounts", { token, signal });

/** The body of the pay form: the amount re-written with exactly two decimals; null when it is not an amount. */
export function paymentRequest(amountText: string, method: PaymentMethod, invoiceId?: string): PaymentRequest | null {
  const cents = parseCents(amountText);
  if (cents === null) return null;
  const body: PaymentRequest = { amount: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`, method };
  if (invoiceId) body.invoice_id = invoiceId;
  return body;
}

export interface UsageQuery {
  from: string;
  to: string;
  granularity: Granularity;
}

/** Two local dates (inclusive) as the usage API's [from, to) instants at local midnight. */
export function usageQuery(fromDay: string, toDay: string, granularity: Granularity): UsageQuery {
  return { from: localMidnightIso(fromDay), to: localMidnightIso(addDays(toDay, 1)), granularity };
}

export interface CostBar {
  label: string;
  value: number;
  marked: boolean;
  title: string;
}

/** The monthly cost chart: one bar per invoiced month, marked when that month's invoice is past due. */
export function costBars(costs: EnergyCost[], invoices: InvoiceSummary[]): CostBar[] {
  const pastDue = new Set(invoices.filter((i) => i.past_due).map((i) => i.period));
  return [...costs]
    .sort((a, b) => a.period.localeCompare(b.period))
    .map((c) => ({
      label: formatMonth(c.period),
      value: c.amount_cents,
      marked: pastDue.has(c.period),
      title: `${formatMonth(c.period)}: ${(c.energy_wh / 1000).toFixed(3)} kWh${pastDue.has(c.period) ? " (past due)" : ""}`,
    }));
}

/** How an account row reads: past due first, then owing, in credit, or paid up. */
export function accountStatus(row: Pick<AccountRow, "balance_cents" | "past_due">): { label: string; badge: string } {
  if (row.past_due) return { label: "past due", badge: "past_due" };
  if (row.balance_cents > 0) return { label: "balance due", badge: "open" };
  if (row.balance_cents < 0) return { label: "in credit", badge: "paid" };
  return { label: "paid up", badge: "paid" };
}
