// One municipality's escrow: balance and terms, balance by month with past-due cover marked,
// residents past due and what escrow covered, treasury rollovers, movements between two dates.
// The municipal portal shows its own; the GSA picks any municipality.

import { useState, type FormEvent } from "react";
import { ApiError } from "../lib/api";
import {
  escrowBars, fetchEscrow, fetchEscrowMonthly, fetchMovements, fetchPastDue, fetchRollovers, movementLabel,
  type EscrowMovement, type EscrowScope,
} from "../lib/escrow";
import { addDays, formatCents, formatMonth, formatTime, localMidnightIso } from "../lib/format";
import { usePoll } from "../lib/usePoll";
import { validateDateRange, type FieldErrors } from "../lib/validation";
import { BarChart } from "./BarChart";
import { Card, ErrorNotice, Field } from "./Form";

export function EscrowPanels({ token, scope }: { token: string; scope: EscrowScope }) {
  const key = "own" in scope ? "own" : scope.municipality;
  const summary = usePoll((signal) => fetchEscrow(token, scope, signal), [token, key], 5000);
  const monthly = usePoll((signal) => fetchEscrowMonthly(token, scope, signal), [token, key], 5000);
  const pastDue = usePoll((signal) => fetchPastDue(token, scope, signal), [token, key], 5000);
  const rollovers = usePoll((signal) => fetchRollovers(token, scope, signal), [token, key], 10000);
  const s = summary.data;
  const months = monthly.data ?? [];
  const covers = pastDue.data ?? [];

  return (
    <>
      <div className="stats card" data-testid="escrow-summary">
        <div className="stat"><span className="stat-label">Escrow balance</span><span className="stat-value big-number" data-testid="escrow-balance">{s ? formatCents(s.balance_cents) : "…"}</span></div>
        <div className="stat"><span className="stat-label">Cap (excess rolls over)</span><span className="stat-value">{s ? formatCents(s.cap_cents) : "…"}</span></div>
        <div className="stat"><span className="stat-label">Share of payments</span><span className="stat-value">{s ? `${s.share_percent} %` : "…"}</span></div>
        <div className="stat"><span className="stat-label">Endowment</span><span className="stat-value">{s ? formatCents(s.endowment_cents) : "…"}</span></div>
        <div className="stat"><span className="stat-label">Rolled over to the treasury</span><span className="stat-value" data-testid="treasury-balance">{s ? formatCents(s.treasury_total_cents) : "…"}</span></div>
        <div className="stat"><span className="stat-label">Processed until (simulated)</span><span className="stat-value">{s?.processed_until ? formatTime(s.processed_until) : "—"}</span></div>
      </div>
      <ErrorNotice error={summary.error ?? monthly.error} />

      <Card title="Escrow balance by month" testId="escrow-chart">
        <BarChart bars={escrowBars(months)} format={formatCents} markedLabel="past-due bills covered that month"
          label="Escrow closing balance by month" testId="escrow-bars" />
        {months.length ? (
          <div className="table-scroll"><table data-testid="escrow-months">
            <thead><tr><th>Month</th><th className="num">Opening</th><th className="num">Endowment</th><th className="num">Payment shares</th><th className="num">Repayments</th><th className="num">Past-due cover</th><th className="num">Rolled over</th><th className="num">Closing</th></tr></thead>
            <tbody>{[...months].reverse().map((m) => (
              <tr key={m.month} className={m.cover_event ? "past-due" : ""} data-cover={m.cover_event ? "true" : "false"}>
                <td>{formatMonth(m.month)}</td><td className="num">{formatCents(m.opening_cents)}</td><td className="num">{formatCents(m.endowment_cents)}</td>
                <td className="num">{formatCents(m.payment_share_cents)}</td><td className="num">{formatCents(m.repayment_cents)}</td>
                <td className="num">{m.past_due_cover_cents ? `−${formatCents(m.past_due_cover_cents)}` : formatCents(0)}</td>
                <td className="num">{m.treasury_rollover_cents ? `−${formatCents(m.treasury_rollover_cents)}` : formatCents(0)}</td>
                <td className="num"><strong>{formatCents(m.closing_cents)}</strong></td>
              </tr>
            ))}</tbody>
          </table></div>
        ) : null}
      </Card>

      <div className="two-col">
        <Card title="Residents past due" testId="escrow-covers">
          <ErrorNotice error={pastDue.error} />
          {covers.length === 0 ? <p className="muted">No resident is past due.</p> : (
            <table><thead><tr><th>House</th><th>Bill</th><th>Due</th><th className="num">Unpaid</th><th className="num">Escrow covered</th><th className="num">Not covered</th><th className="num">Owes escrow</th></tr></thead>
              <tbody>{covers.map((p) => (
                <tr key={p.invoice_id} className="past-due" data-testid="past-due-row" data-house={p.house_id}>
                  <td>{p.house_id}</td><td className="mono small">{p.invoice_id}</td><td>{formatTime(p.due_at).slice(0, 10)}</td>
                  <td className="num">{formatCents(p.unpaid_cents)}</td><td className="num">{formatCents(p.covered_cents)}</td>
                  <td className="num">{formatCents(p.shortfall_cents)}</td><td className="num">{formatCents(p.escrow_debt_cents)}</td>
                </tr>
              ))}</tbody></table>
          )}
        </Card>
        <Card title="Treasury rollovers" testId="rollovers">
          <ErrorNotice error={rollovers.error} />
          {(rollovers.data ?? []).length === 0 ? <p className="muted">No rollovers yet: escrow has stayed under its cap.</p> : (
            <table><thead><tr><th>Month</th><th>When</th><th className="num">Rolled over</th></tr></thead>
              <tbody>{[...(rollovers.data ?? [])].reverse().map((r) => (
                <tr key={`${r.month}-${r.occurred_at}`} data-testid="rollover-row"><td>{formatMonth(r.month)}</td><td>{formatTime(r.occurred_at)}</td><td className="num">{formatCents(r.amount_cents)}</td></tr>
              ))}</tbody></table>
          )}
        </Card>
      </div>

      <EscrowMovements token={token} scope={scope} />
    </>
  );
}

function EscrowMovements({ token, scope }: { token: string; scope: EscrowScope }) {
  const [form, setForm] = useState({ from: "2021-06-01", to: "2022-08-31" });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<ApiError | null>(null);
  const [rows, setRows] = useState<EscrowMovement[] | null>(null);

  async function lookUp(event: FormEvent) {
    event.preventDefault();
    const local = validateDateRange(form);
    setErrors(local);
    setError(null);
    if (Object.keys(local).length) return;
    try {
      setRows(await fetchMovements(token, scope, { from: localMidnightIso(form.from), to: localMidnightIso(addDays(form.to, 1)) }));
    } catch (caught) {
      const apiError = caught instanceof ApiError ? caught : new ApiError(0, String(caught));
      setErrors(apiError.fieldErrors);
      setError(apiError);
      setRows(null);
    }
  }

  return (
    <Card title="Escrow movements" testId="escrow-movements">
      <form className="form-row" onSubmit={lookUp} noValidate data-testid="movements-form">
        <Field label="From" name="from" inputId="movements-from" error={errors.from}>
          <input id="movements-from" type="date" value={form.from} onChange={(e) => setForm({ ...form, from: e.target.value })} />
        </Field>
        <Field label="To" name="to" inputId="movements-to" error={errors.to}>
          <input id="movements-to" type="date" value={form.to} onChange={(e) => setForm({ ...form, to: e.target.value })} />
        </Field>
        <button type="submit" className="primary">Look up</button>
      </form>
      <ErrorNotice error={error} />
      {rows === null ? <p className="muted">Choose two dates and look up.</p> : (
        <>
          <p className="muted" data-testid="movements-count">{rows.length} movements from {form.from} to {form.to}</p>
          <div className="table-scroll"><table>
            <thead><tr><th>When (local)</th><th>What</th><th>House</th><th>Bill</th><th className="num">Amount</th><th className="num">Balance after</th></tr></thead>
            <tbody>{[...rows].reverse().map((m) => (
              <tr key={m.movement_id} data-kind={m.kind} className={m.kind === "past_due_cover" ? "past-due" : ""}>
                <td>{formatTime(m.occurred_at)}</td><td>{movementLabel(m.kind)}</td><td>{m.house_id ?? ""}</td>
                <td className="mono small">{m.invoice_id ?? ""}</td>
                <td className={`num ${m.amount_cents < 0 ? "owe" : "credit"}`}>{formatCents(m.amount_cents)}</td>
                <td className="num">{formatCents(m.balance_after_cents)}</td>
              </tr>
            ))}</tbody>
          </table></div>
        </>
      )}
    </Card>
  );
}
