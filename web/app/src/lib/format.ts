// Exact display of money and energy: integer cents and integer watt-hours, never binary floats.

/** 123456 -> "$1,234.56"; -500 -> "-$5.00". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(cents));
  const dollars = Math.floor(abs / 100).toLocaleString("en-US");
  return `${sign}$${dollars}.${String(abs % 100).padStart(2, "0")}`;
}

/** 12345 Wh -> "12.345 kWh" (three decimals, exact). */
export function formatWh(wh: number): string {
  const sign = wh < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(wh));
  return `${sign}${Math.floor(abs / 1000).toLocaleString("en-US")}.${String(abs % 1000).padStart(3, "0")} kWh`;
}

/** "2022-03-01T08:00:00+00:00" -> "2022-03-01 00:00" in the given IANA zone. */
export function formatTime(iso: string | null | undefined, timeZone = "America/Los_Angeles"): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}`;
}

/** "2022-03" -> "Mar 2022". */
export function formatMonth(month: string): string {
  const [year, m] = month.split("-").map(Number);
  if (!year || !m) return month;
  return `${["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][m - 1]} ${year}`;
}

/** Add whole days to an ISO date (YYYY-MM-DD), in UTC so no zone shifts the day. */
export function addDays(day: string, days: number): string {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

/** The local date (YYYY-MM-DD) of an instant in a zone. */
export function localDay(iso: string, timeZone = "America/Los_Angeles"): string {
  return formatTime(iso, timeZone).slice(0, 10);
}

const offsetFormat = new Intl.DateTimeFormat("en-US", { timeZone: "America/Los_Angeles", timeZoneName: "longOffset" });

/** Local midnight of ``day`` in America/Los_Angeles as an ISO instant with its offset ("2022-03-01T00:00:00-08:00"). */
export function localMidnightIso(day: string): string {
  // 08:00 UTC is local midnight in standard time and 01:00 in daylight time: before either 02:00
  // switch, so the offset read there is the one in force at that day's midnight.
  const guess = new Date(`${day}T08:00:00Z`);
  const name = offsetFormat.formatToParts(guess).find((p) => p.type === "timeZoneName")?.value ?? "GMT-08:00";
  const offset = name.replace("GMT", "") || "+00:00";
  return `${day}T00:00:00${offset}`;
}

/** "0.550000" -> "0.55"; "0.2346" stays: at least two decimals, no trailing zeros beyond. */
export function formatPrice(text: string | null | undefined): string {
  if (!text) return "—";
  const [whole, fraction = ""] = text.split(".");
  const trimmed = fraction.replace(/0+$/, "");
  return `${whole}.${trimmed.padEnd(2, "0")}`;
}
