// Client-side checks of the forms, mirroring the services' rules so a person sees a mistake
// before submitting; the services check again and their messages are shown the same way.

export type FieldErrors = Record<string, string>;

export const PAYMENT_METHODS = ["card", "venmo", "zelle", "ach"] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];
export const PAYMENT_METHOD_LABELS: Record<PaymentMethod, string> = { card: "Card", venmo: "Venmo", zelle: "Zelle", ach: "ACH bank transfer" };
export const RESERVE_PERCENTS = [25, 50, 75, 100] as const;

const DECIMAL = /^\d+(\.\d+)?$/;
const SCALE = 6; // compare prices to a millionth of a dollar: more places than any rule uses

/** A non-negative decimal string as an integer number of 10^-6 units (BigInt, exact), or null. */
export function decimalUnits(text: string): bigint | null {
  const trimmed = text.trim();
  if (!DECIMAL.test(trimmed)) return null;
  const [whole, fraction = ""] = trimmed.split(".");
  if (fraction.length > SCALE) return null;
  return BigInt(whole) * 10n ** BigInt(SCALE) + BigInt(fraction.padEnd(SCALE, "0") || "0");
}

/** "$1,234.5" -> 123450 cents; null when not a plain amount with at most two decimals. */
export function parseCents(text: string): number | null {
  const cleaned = text.trim().replace(/^\$/, "").replace(/,/g, "");
  if (!/^\d+(\.\d{1,2})?$/.test(cleaned)) return null;
  const [whole, fraction = ""] = cleaned.split(".");
  const cents = Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
  return Number.isSafeInteger(cents) ? cents : null;
}

export const MAX_PAYMENT_CENTS = 10_000_000; // $100,000: a guard against a slipped finger, not a rule

/** The pay form: amount in dollars (partial or more than due is fine), one of the four methods. */
export function validatePayment(input: { amount: string; method: string }): FieldErrors {
  const errors: FieldErrors = {};
  const cents = parseCents(input.amount);
  if (input.amount.trim() === "") errors.amount = "enter an amount";
  else if (cents === null) errors.amount = "enter an amount in dollars with at most two decimals, e.g. 42.50";
  else if (cents <= 0) errors.amount = "the amount must be more than $0.00";
  else if (cents > MAX_PAYMENT_CENTS) errors.amount = "the amount must be at most $100,000.00";
  if (!(PAYMENT_METHODS as readonly string[]).includes(input.method)) errors.method = "choose card, Venmo, Zelle or ACH";
  return errors;
}

export interface OfferTerms {
  floor: string | null; // current PPA rate, $/kWh
  max: string; // $/kWh
  earliestDay: string | null; // YYYY-MM-DD
}

/** The trade form: 25/50/75/100 % of the reserve, a day after today, a price from the PPA rate to the maximum. */
export function validateOffer(
  input: { reservePercent: string; deliveryDay: string; minPrice: string },
  terms: OfferTerms,
): FieldErrors {
  const errors: FieldErrors = {};
  if (!(RESERVE_PERCENTS as readonly number[]).includes(Number(input.reservePercent))) {
    errors.reserve_percent = "choose 25, 50, 75 or 100 % of the reserve";
  }
  if (!isIsoDate(input.deliveryDay)) errors.delivery_day = "choose a delivery day";
  else if (terms.earliestDay && input.deliveryDay < terms.earliestDay) {
    errors.delivery_day = `the delivery day must be ${terms.earliestDay} or later`;
  }
  const price = decimalUnits(input.minPrice);
  if (input.minPrice.trim() === "") errors.min_price_usd_per_kwh = "enter a minimum price in $/kWh";
  else if (price === null) errors.min_price_usd_per_kwh = "enter a price in $/kWh, e.g. 0.35";
  else {
    const floor = terms.floor ? decimalUnits(terms.floor) : null;
    const max = decimalUnits(terms.max);
    if (floor !== null && price < floor) {
      errors.min_price_usd_per_kwh = `the minimum price must be at least your PPA rate $${terms.floor}/kWh`;
    } else if (max !== null && price > max) {
      errors.min_price_usd_per_kwh = `the minimum price must be at most $${terms.max}/kWh`;
    }
  }
  return errors;
}

export function isIsoDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

/** Two dates, the first not after the second, and (when ``maxDays`` is given) at most that many days apart. */
export function validateDateRange(input: { from: string; to: string }, maxDays?: number): FieldErrors {
  const errors: FieldErrors = {};
  if (!isIsoDate(input.from)) errors.from = "choose a start date";
  if (!isIsoDate(input.to)) errors.to = "choose an end date";
  if (errors.from || errors.to) return errors;
  if (input.from > input.to) errors.to = "the end date must be on or after the start date";
  else if (maxDays !== undefined && daysBetween(input.from, input.to) >= maxDays) {
    errors.to = `the range is limited to ${maxDays} days`;
  }
  return errors;
}

/** Whole days from one ISO date to another (UTC calendar arithmetic, so no zone shifts a day). */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

/** A fresh Idempotency-Key per submit, so a retried request is recognised and a new one is not. */
export function newIdempotencyKey(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
}
