// Billing: account header, current charges with a past-due warning, pay, monthly energy cost
// (past-due months marked), bills with their lines and a PDF of each, payments made.

import { useState, type FormEvent } from "react";
import { ApiError } from "../../lib/api";
import { useSession } from "../../lib/auth";
import {
  costBars, fetchAccount, fetchCharges, fetchEnergyCost, fetchInvoice, fetchInvoicePdf, fetchInvoices, fetchPayments,
  invoicePdfFilename, invoicePdfLabel, pay, paymentRequest, type InvoiceDetail,
} from "../../lib/billing";
import { saveBlob } from "../../lib/download";
import { formatCents, formatMonth, formatPrice, formatTime, formatWh } from "../../lib/format";
import { usePoll } from "../../lib/usePoll";
import {
  PAYMENT_METHODS, PAYMENT_METHOD_LABELS as METHOD_LABELS, newIdempotencyKey, validatePayment, type FieldErrors, type PaymentMethod,
} from "../../lib/validation";
import { BarChart } from "../../components/BarChart";
import { Card, ErrorNotice, Field } from "../../components/Form";

export function ResidentBilling() {
  const { token } = useSession();
  const account = usePoll((signal) => fetchAccount(token, signal), [token], 10000);
  const charges = usePoll((signal) => fetchCharges(token, signal), [token], 5000);
  const invoices = usePoll((signal) => fetchInvoices(token, signal), [token], 10000);
  const costs = usePoll((signal) => fetchEnergyCost(token, signal), [token], 10000);
  const payments = usePoll((signal) => fetchPayments(token, signal), [token], 10000);

  const [amount, setAmount] = useState("");
  const [method, setMethod] = useState<PaymentMethod>("card");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [payError, setPayError] = useState<ApiError | null>(null);
  const [paid, setPaid] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [opened, setOpened] = useState<InvoiceDetail | null>(null);
  const [openError, setOpenError] = useState<ApiError | null>(null);
  const [downloading, setDownloading] = useState<string | null>(null);
  const [pdfError, setPdfError] = useState<ApiError | null>(null);

  const a = account.data;
  const c = charges.data;
  const owed = c?.balance_cents ?? a?.balance_cents ?? 0;
  const latest = c?.latest_invoice ?? null;
  const invoiceList = invoices.data ?? [];

  async function submit(event: FormEvent) {
    event.preventDefault();
    setPaid(null);
    setPayError(null);
    const local = validatePayment({ amount, method });
    setErrors(local);
    const body = paymentRequest(amount, method);
    if (Object.keys(local).length || body === null) return;
    setBusy(true);
    try {
      const receipt = await pay(token, body, newIdempotencyKey());
      setPaid(`Payment of ${formatCents(receipt.amount_cents)} by ${METHOD_LABELS[receipt.method]} received. ` +
        `Your balance is now ${formatCents(receipt.balance_cents)}.`);
      setAmount("");
      [charges, account, invoices, payments].forEach((p) => p.reload());
    } catch (caught) {
      const apiError = caught instanceof ApiError ? caught : new ApiError(0, String(caught));
      setErrors(apiError.fieldErrors);
      if (!apiError.fieldErrors.amount && !apiError.fieldErrors.method) setPayError(apiError);
    } finally {
      setBusy(false);
    }
  }

  async function open(invoiceId: string) {
    setOpenError(null);
    try {
      setOpened(await fetchInvoice(token, invoiceId));
    } catch (caught) {
      setOpenError(caught instanceof ApiError ? caught : new ApiError(0, String(caught)));
    }
  }

  async function downloadPdf(invoiceId: string) {
    setPdfError(null);
    setDownloading(invoiceId);
    try {
      saveBlob(await fetchInvoicePdf(token, invoiceId), invoicePdfFilename(invoiceId));
    } catch (caught) {
      setPdfError(caught instanceof ApiError ? caught : new ApiError(0, String(caught)));
    } finally {
      setDownloading(null);
    }
  }

  return (
    <div className="page">
      <section className="account-header card" data-testid="account-header">
        <div>
          <h1>{a?.name ?? "…"}</h1>
          <p className="muted">{a?.address ?? ""}</p>
          <ErrorNotice error={account.error} />
        </div>
        <dl>
          <div><dt>House</dt><dd>{a?.house_id ?? "…"}</dd></div>
          <div><dt>Battery</dt><dd>{a ? formatWh(a.battery_wh) : "…"}</dd></div>
          <div><dt>Reserve</dt><dd data-testid="reserve">{a ? formatWh(a.reserve_wh) : "…"}</dd></div>
          <div><dt>PPA rate</dt><dd data-testid="rate">{a ? `$${formatPrice(a.rate_usd_per_kwh)}/kWh` : "…"}</dd></div>
          <div><dt>Escalator</dt><dd>{a ? `${a.escalator_percent} %/year` : "…"}</dd></div>
          <div><dt>Since</dt><dd>{a?.contract_start ?? "…"}</dd></div>
          <div><dt>Simulated time</dt><dd data-testid="sim-time">{a?.sim_time ? formatTime(a.sim_time) : "—"}</dd></div>
        </dl>
      </section>

      <div className="two-col">
        <Card title="Current charges" testId="current-charges">
          <ErrorNotice error={charges.error} />
          <div className={`big-number${owed < 0 ? " credit" : ""}`} data-testid="balance">{c ? formatCents(owed) : "…"}</div>
          <p className="muted">
            {owed < 0 ? "credit on your account" : "balance due"}
            {latest ? ` · latest bill ${formatMonth(latest.period)} ${formatCents(latest.total_cents)}, due ${formatTime(latest.due_at).slice(0, 10)}` : ""}
          </p>
          {c?.past_due ? (
            <div className="notice warn" data-testid="past-due-warning">
              ⚠ Past due: {formatCents(c.past_due_cents)} is past its due date. Your municipality's escrow may cover
              it; your next payments repay that first.
            </div>
          ) : c ? <div className="notice ok" data-testid="no-past-due">No past-due bills.</div> : null}
        </Card>

        <Card title="Pay" testId="pay-card">
          <form onSubmit={submit} noValidate data-testid="pay-form">
            <Field label="Amount ($)" name="amount" error={errors.amount}>
              <input id="amount" name="amount" inputMode="decimal" placeholder={owed > 0 ? (owed / 100).toFixed(2) : "0.00"}
                value={amount} onChange={(e) => setAmount(e.target.value)} />
            </Field>
            <Field label="Method" name="method" error={errors.method}>
              <div className="segmented" id="method">
                {PAYMENT_METHODS.map((m) => (
                  <label key={m} className={m === method ? "on" : ""}>
                    <input type="radio" name="method" value={m} checked={m === method} onChange={() => setMethod(m)} />
                    {METHOD_LABELS[m]}
                  </label>
                ))}
              </div>
            </Field>
            <div className="form-actions">
              {owed > 0 ? <button type="button" onClick={() => setAmount((owed / 100).toFixed(2))}>Pay balance</button> : null}
              <button type="submit" className="primary" disabled={busy}>{busy ? "Paying…" : "Pay"}</button>
            </div>
          </form>
          <ErrorNotice error={payError} testId="pay-error" />
          {paid ? <div className="notice ok" data-testid="pay-ok">{paid}</div> : null}
        </Card>
      </div>

      <Card title="Monthly energy cost" testId="monthly-cost">
        <ErrorNotice error={costs.error ?? invoices.error} />
        <BarChart bars={costBars(costs.data ?? [], invoiceList)} format={formatCents} markedLabel="past due" testId="monthly-cost-chart" />
      </Card>

      <Card title="Bills" testId="invoices">
        {invoiceList.length === 0 ? <p className="muted">No bills yet: the first one is issued when the first month closes.</p> : (
          <div className="table-scroll"><table>
            <thead><tr><th>Month</th><th>Issued</th><th>Due</th><th className="num">New charges</th><th className="num">Total</th><th className="num">Paid</th><th className="num">Outstanding</th><th>Status</th><th></th></tr></thead>
            <tbody>{[...invoiceList].reverse().map((i) => (
              <tr key={i.invoice_id} className={i.past_due ? "past-due" : ""} data-testid="invoice-row" data-status={i.status}>
                <td>{formatMonth(i.period)}</td><td>{formatTime(i.issued_at).slice(0, 10)}</td><td>{formatTime(i.due_at).slice(0, 10)}</td>
                <td className="num">{formatCents(i.new_charges_cents)}</td><td className="num">{formatCents(i.total_cents)}</td>
                <td className="num">{formatCents(i.paid_cents)}</td><td className="num">{formatCents(i.outstanding_cents)}</td>
                <td><span className={`badge ${i.status}`}>{i.status.replace(/_/g, " ")}</span></td>
                <td><button type="button" className="link" onClick={() => open(i.invoice_id)}>Lines</button>
                  <button type="button" className="link" data-testid="invoice-pdf" aria-label={invoicePdfLabel(i.period)}
                    aria-busy={downloading === i.invoice_id} disabled={downloading === i.invoice_id}
                    onClick={() => downloadPdf(i.invoice_id)}>{downloading === i.invoice_id ? "PDF…" : "PDF"}</button></td>
              </tr>
            ))}</tbody>
          </table></div>
        )}
        <ErrorNotice error={openError} />
        <ErrorNotice error={pdfError} testId="invoice-pdf-error" />
        {opened ? (
          <div className="invoice-lines" data-testid="invoice-lines">
            <h3>{formatMonth(opened.period)} · {opened.invoice_id} <button type="button" className="link" onClick={() => setOpened(null)}>close</button></h3>
            <table>
              <thead><tr><th>#</th><th>Kind</th><th>Description</th><th className="num">Energy</th><th className="num">Rate</th><th className="num">Amount</th></tr></thead>
              <tbody>{opened.lines.map((l) => (
                <tr key={l.number}><td>{l.number}</td><td>{l.kind.replace(/_/g, " ")}</td><td>{l.description}</td>
                  <td className="num">{l.energy_wh === null ? "" : formatWh(l.energy_wh)}</td>
                  <td className="num">{l.rate_usd_per_kwh ? `$${formatPrice(l.rate_usd_per_kwh)}` : ""}</td>
                  <td className="num">{formatCents(l.amount_cents)}</td></tr>
              ))}</tbody>
            </table>
          </div>
        ) : null}
      </Card>

      <Card title="Payments" testId="payments">
        <ErrorNotice error={payments.error} />
        {(payments.data ?? []).length === 0 ? <p className="muted">No payments yet.</p> : (
          <div className="table-scroll"><table>
            <thead><tr><th>Received (simulated time)</th><th>Method</th><th>For bill</th><th className="num">Amount</th></tr></thead>
            <tbody>{[...(payments.data ?? [])].reverse().map((p) => (
              <tr key={p.payment_id} data-testid="payment-row"><td>{formatTime(p.received_at)}</td><td>{METHOD_LABELS[p.method] ?? p.method}</td>
                <td>{p.invoice_id ?? "balance"}</td><td className="num">{formatCents(p.amount_cents)}</td></tr>
            ))}</tbody>
          </table></div>
        )}
      </Card>
    </div>
  );
}
