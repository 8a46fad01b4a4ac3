// Ledger entries of one channel between two dates: what happened, and what it did to the
// resident's balance (transfers touching the resident's accounts).

import { useState, type FormEvent } from "react";
import { ApiError, apiRequest } from "../lib/api";
import { addDays, formatCents, formatTime, localMidnightIso } from "../lib/format";
import { validateDateRange, type FieldErrors } from "../lib/validation";
import { Card, ErrorNotice, Field } from "./Form";

export interface Transfer {
  debit_account: string;
  credit_account: string;
  amount_cents: number;
  memo?: string;
}

export interface Entry {
  entry_id: string;
  kind: string;
  event_time: string;
  payload: Record<string, unknown>;
  transfers: Transfer[];
  channels: string[];
}

interface Page {
  channel: string;
  entries: Entry[];
  next_cursor: number | null;
}

const MAX_PAGES = 20; // 20,000 entries: more than a year of hourly readings on one channel

/** Every entry of ``channel`` between two local dates (inclusive), following the cursor. */
export async function fetchEntries(token: string, channel: string, from: string, to: string, kind?: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  let cursor = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await apiRequest<Page>("ledger", `/channels/${encodeURIComponent(channel)}/entries`, {
      token,
      query: { from: localMidnightIso(from), to: localMidnightIso(addDays(to, 1)), kind, cursor, limit: 1000 },
    });
    entries.push(...answer.entries);
    if (answer.next_cursor === null) break;
    cursor = answer.next_cursor;
  }
  return entries;
}

/** The effect of an entry on the accounts whose names start with ``prefix`` (+ owes more, - owes less). */
export function effectOn(entry: Entry, prefix: string): number {
  let effect = 0;
  for (const t of entry.transfers) {
    if (t.debit_account.startsWith(prefix)) effect += t.amount_cents;
    if (t.credit_account.startsWith(prefix)) effect -= t.amount_cents;
  }
  return effect;
}

function describe(entry: Entry): string {
  const memo = entry.transfers.map((t) => t.memo).filter(Boolean)[0];
  if (memo) return memo;
  const p = entry.payload;
  const bits = ["invoice_id", "payment_id", "offer_id", "method", "period", "status", "reason"]
    .filter((k) => p[k] !== undefined && p[k] !== null)
    .map((k) => `${k.replace(/_/g, " ")}: ${String(p[k])}`);
  return bits.join(" · ");
}

interface Props {
  token: string;
  channels: string[];
  accountPrefix: (channel: string) => string | null;
  defaultFrom: string;
  defaultTo: string;
  title?: string;
}

export function LedgerEntries({ token, channels, accountPrefix, defaultFrom, defaultTo, title = "Transactions" }: Props) {
  const [channel, setChannel] = useState(channels[0] ?? "");
  const [from, setFrom] = useState(defaultFrom);
  const [to, setTo] = useState(defaultTo);
  const [moneyOnly, setMoneyOnly] = useState(true);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<ApiError | null>(null);
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [busy, setBusy] = useState(false);

  async function lookUp(event: FormEvent) {
    event.preventDefault();
    const local = validateDateRange({ from, to });
    setErrors(local);
    setError(null);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      setEntries(await fetchEntries(token, channel, from, to));
    } catch (caught) {
      const apiError = caught instanceof ApiError ? caught : new ApiError(0, String(caught));
      setErrors(apiError.fieldErrors);
      setError(apiError);
      setEntries(null);
    } finally {
      setBusy(false);
    }
  }

  const prefix = accountPrefix(channel);
  const shown = (entries ?? []).filter((e) => !moneyOnly || e.transfers.length > 0);
  return (
    <Card title={title} testId="transactions">
      <form className="form-row" onSubmit={lookUp} noValidate data-testid="transactions-form">
        {channels.length > 1 ? (
          <Field label="Channel" name="channel">
            <select id="channel" value={channel} onChange={(e) => setChannel(e.target.value)}>
              {channels.map((c) => <option key={c} value={c}>{c}</option>)}
            </select>
          </Field>
        ) : null}
        <Field label="From" name="from" error={errors.from}>
          <input id="from" name="from" type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        </Field>
        <Field label="To" name="to" error={errors.to}>
          <input id="to" name="to" type="date" value={to} onChange={(e) => setTo(e.target.value)} />
        </Field>
        <label className="check">
          <input type="checkbox" checked={moneyOnly} onChange={(e) => setMoneyOnly(e.target.checked)} /> money movements only
        </label>
        <button type="submit" className="primary" disabled={busy}>{busy ? "Looking up…" : "Look up"}</button>
      </form>
      <ErrorNotice error={error} />
      {entries === null ? <p className="muted">Choose two dates and look up.</p> : (
        <>
          <p className="muted" data-testid="transactions-count">
            {shown.length} of {entries.length} entries on {channel} from {from} to {to}
          </p>
          <div className="table-scroll">
            <table data-testid="transactions-table">
              <thead><tr><th>Time (local)</th><th>Kind</th><th>Details</th><th className="num">Effect on balance</th></tr></thead>
              <tbody>
                {shown.map((e) => {
                  const effect = prefix ? effectOn(e, prefix) : 0;
                  return (
                    <tr key={e.entry_id} data-kind={e.kind}>
                      <td>{formatTime(e.event_time)}</td>
                      <td><span className="badge">{e.kind}</span></td>
                      <td className="details">{describe(e) || <span className="muted">{e.entry_id}</span>}</td>
                      <td className={`num ${effect > 0 ? "owe" : effect < 0 ? "credit" : ""}`}>
                        {prefix && effect !== 0 ? formatCents(effect) : e.transfers.length ? e.transfers.map((t) => formatCents(t.amount_cents)).join(", ") : ""}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Card>
  );
}
