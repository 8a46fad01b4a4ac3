// Ledger entries of one channel between two dates: what happened, and what it did to the
// resident's balance (transfers touching the resident's accounts). With `verify`, each listed
// entry is then checked in the browser against the ledger's signed and witnessed log of
// heads (src/lib/ledgerProofs.ts, src/lib/tlog.ts), and the table says so per entry.

import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, apiRequest } from "../lib/api";
import { verificationSummary, verifyListedEntries, type ChannelVerification } from "../lib/ledgerProofs";
import { REASONS } from "../lib/tlog";
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
  /** The entry's position on the channel asked for (1, 2, ...): its leaf index + 1. */
  seq?: number;
  /** The entry bytes as text: what the leaf hash covers. */
  entry?: string;
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

// What the verification shows. The summary's data-state: verifying | verified | pending |
// failed | error; each entry cell's data-state: verifying | verified | pending | failed | unverified.
export type Verification =
  | { state: "verifying"; done: number; total: number }
  | { state: "error"; message: string }
  | { state: "done"; result: ChannelVerification };

function summaryState(v: Verification): string {
  return v.state === "done" ? v.result.state : v.state;
}

export function VerificationSummary({ v }: { v: Verification }) {
  const state = summaryState(v);
  const text = v.state === "verifying"
    ? `Verifying ${v.total} entries in your browser… ${v.done > 0 ? `(${v.done} of ${v.total})` : ""}`.trim()
    : v.state === "error" ? `Could not verify the entries: ${v.message}` : verificationSummary(v.result);
  const tone = state === "verified" ? "ok" : state === "failed" ? "error" : state === "verifying" ? "" : "warn";
  return (
    <div className={`notice ${tone} verification`} role="status" data-testid="ledger-verification" data-state={state}>
      {text}
    </div>
  );
}

export function VerificationCell({ v, entry }: { v: Verification; entry: Entry }) {
  let state: string;
  let text: string;
  if (v.state === "verifying") [state, text] = ["verifying", "…"];
  else if (v.state === "error") [state, text] = ["unverified", "not verified"];
  else {
    const r = entry.seq === undefined ? undefined : v.result.bySeq.get(entry.seq);
    if (r?.state === "verified") [state, text] = ["verified", "✓ verified"];
    else if (r?.state === "pending") [state, text] = ["pending", r.reason === REASONS.pendingWitness ? "pending witness" : "pending checkpoint"];
    else [state, text] = ["failed", `✗ ${r?.reason ?? "not proven"}`];
  }
  return (
    <td className={`verification ${state}`} data-testid="entry-verification" data-state={state}>{text}</td>
  );
}

interface Props {
  token: string;
  channels: string[];
  accountPrefix: (channel: string) => string | null;
  defaultFrom: string;
  defaultTo: string;
  title?: string;
  /** Verify the listed entries in the browser against the ledger's checkpoints and witnesses. */
  verify?: boolean;
}

export function LedgerEntries({ token, channels, accountPrefix, defaultFrom, defaultTo, title = "Transactions", verify = false }: Props) {
  const [channel, setChannel] = useState(channels[0] ?? "");
  const [from, setFrom] = useState(defaultFrom);
  const [to, setTo] = useState(defaultTo);
  const [moneyOnly, setMoneyOnly] = useState(true);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<ApiError | null>(null);
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [verification, setVerification] = useState<Verification | null>(null);
  const running = useRef<AbortController | null>(null);

  useEffect(() => () => running.current?.abort(), []);

  async function verifyInBrowser(listed: Entry[], on: string) {
    running.current?.abort();
    const controller = new AbortController();
    running.current = controller;
    setVerification({ state: "verifying", done: 0, total: listed.length });
    const get = (path: string, query?: Record<string, string | number | undefined>) =>
      apiRequest<unknown>("ledger", path, { token, query, signal: controller.signal });
    try {
      const result = await verifyListedEntries(get, on, listed, {
        onProgress: (done, total) => {
          if (!controller.signal.aborted) setVerification({ state: "verifying", done, total });
        },
      });
      if (!controller.signal.aborted) setVerification({ state: "done", result });
    } catch (caught) {
      if (!controller.signal.aborted) setVerification({ state: "error", message: caught instanceof Error ? caught.message : String(caught) });
    }
  }

  async function lookUp(event: FormEvent) {
    event.preventDefault();
    const local = validateDateRange({ from, to });
    setErrors(local);
    setError(null);
    if (Object.keys(local).length) return;
    running.current?.abort();
    setVerification(null);
    setBusy(true);
    try {
      const listed = await fetchEntries(token, channel, from, to);
      setEntries(listed);
      if (verify && listed.length > 0) void verifyInBrowser(listed, channel);
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
  // Until the first answer, a listed entry is being verified.
  const checked: Verification | null = verify && entries && entries.length > 0
    ? verification ?? { state: "verifying", done: 0, total: entries.length }
    : null;
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
          {checked ? <VerificationSummary v={checked} /> : null}
          <div className="table-scroll">
            <table data-testid="transactions-table">
              <thead><tr><th>Time (local)</th><th>Kind</th><th>Details</th><th className="num">Effect on balance</th>{checked ? <th>Verified</th> : null}</tr></thead>
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
                      {checked ? <VerificationCell v={checked} entry={e} /> : null}
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
