// Trade: offer 25/50/75/100 % of the battery reserve for a future day at a minimum price
// between the PPA rate and $1.00/kWh; see and cancel open offers; outcomes and settlements.

import { useState, type FormEvent } from "react";
import { ApiError, apiRequest } from "../../lib/api";
import { useSession } from "../../lib/auth";
import { formatCents, formatPrice, formatTime, formatWh, addDays, localDay } from "../../lib/format";
import { usePoll } from "../../lib/usePoll";
import { RESERVE_PERCENTS, validateOffer, type FieldErrors } from "../../lib/validation";
import { Card, ErrorNotice, Field } from "../../components/Form";

interface Terms {
  reserve_wh: number;
  reserve_percents: number[];
  sim_time: string | null;
  min_price_floor_usd_per_kwh: string | null;
  max_price_usd_per_kwh: string;
  earliest_delivery_day: string | null;
}

interface Offer {
  offer_id: string;
  delivery_day: string;
  reserve_percent: number;
  energy_wh: number;
  min_price_usd_per_kwh: string;
  status: string;
  delivery_hour: string | null;
  cleared_wh: number | null;
  clearing_price_usd_per_mwh: string | null;
  outcome_reason: string | null;
  outcome_detail: string | null;
  settlement?: { delivered_wh: number; credit_cents: number; fee_cents: number; shortfall_reason: string | null };
}

export function ResidentTrade() {
  const session = useSession();
  const terms = usePoll((signal) => apiRequest<Terms>("market", "/resident/market/terms", { token: session.token, signal }), [session.token], 10000);
  const offers = usePoll((signal) => apiRequest<{ offers: Offer[] }>("market", "/resident/offers", { token: session.token, signal }), [session.token], 5000);
  const [percent, setPercent] = useState("50");
  const [day, setDay] = useState("");
  const [price, setPrice] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [cancelError, setCancelError] = useState<Record<string, string>>({});

  const t = terms.data;
  const earliest = t?.earliest_delivery_day ?? null;
  const deliveryDay = day || earliest || "";
  const floor = t?.min_price_floor_usd_per_kwh ?? null;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setNotice(null);
    setFormError(null);
    const input = { reservePercent: percent, deliveryDay, minPrice: price };
    const local = validateOffer(input, { floor, max: t?.max_price_usd_per_kwh ?? "1.00", earliestDay: earliest });
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      const placed = await apiRequest<Offer>("market", "/resident/offers", {
        token: session.token,
        json: { reserve_percent: Number(percent), delivery_day: deliveryDay, min_price_usd_per_kwh: price.trim() },
      });
      setNotice(`Offered ${placed.reserve_percent} % of your reserve (${formatWh(placed.energy_wh)}) for ${placed.delivery_day} at ≥ $${formatPrice(placed.min_price_usd_per_kwh)}/kWh.`);
      setPrice("");
      offers.reload();
    } catch (caught) {
      const apiError = caught instanceof ApiError ? caught : new ApiError(0, String(caught));
      setErrors(apiError.fieldErrors);
      if (!Object.keys(apiError.fieldErrors).length) setFormError(apiError);
    } finally {
      setBusy(false);
    }
  }

  async function cancel(offerId: string) {
    setCancelError({});
    try {
      await apiRequest("market", `/resident/offers/${encodeURIComponent(offerId)}/cancel`, { token: session.token, method: "POST" });
      offers.reload();
    } catch (caught) {
      setCancelError({ [offerId]: caught instanceof ApiError ? caught.message : String(caught) });
    }
  }

  const list = offers.data?.offers ?? [];
  const open = list.filter((o) => o.status === "open");
  const past = list.filter((o) => o.status !== "open");

  return (
    <div className="page">
      <Card title="Offer your battery reserve" testId="trade-form-card">
        <ErrorNotice error={terms.error} />
        <p className="muted">
          Reserve: <strong>{t ? formatWh(t.reserve_wh) : "…"}</strong> · Simulated time:{" "}
          <strong data-testid="sim-time">{t?.sim_time ? formatTime(t.sim_time) : "clock not started"}</strong> · Price from{" "}
          <strong>{floor ? `$${formatPrice(floor)}` : "your PPA rate"}</strong> to <strong>${t?.max_price_usd_per_kwh ?? "1.00"}</strong> per kWh
        </p>
        <form className="form-grid" onSubmit={submit} noValidate data-testid="offer-form">
          <Field label="Share of the reserve" name="reserve_percent" error={errors.reserve_percent}>
            <div className="segmented" id="reserve_percent">
              {RESERVE_PERCENTS.map((p) => (
                <label key={p} className={String(p) === percent ? "on" : ""}>
                  <input type="radio" name="reserve_percent" value={p} checked={String(p) === percent}
                    onChange={() => setPercent(String(p))} />
                  {p} %{t ? ` (${formatWh((t.reserve_wh * p) / 100)})` : ""}
                </label>
              ))}
            </div>
          </Field>
          <Field label="Delivery day" name="delivery_day" error={errors.delivery_day}>
            <input id="delivery_day" name="delivery_day" type="date" value={deliveryDay} min={earliest ?? undefined}
              max={earliest ? addDays(earliest, 30) : undefined} onChange={(e) => setDay(e.target.value)} />
          </Field>
          <Field label="Minimum price ($/kWh)" name="min_price_usd_per_kwh" error={errors.min_price_usd_per_kwh}>
            <input id="min_price_usd_per_kwh" name="min_price_usd_per_kwh" inputMode="decimal"
              placeholder={floor ? `${floor} – ${t?.max_price_usd_per_kwh}` : "0.35"} value={price}
              onChange={(e) => setPrice(e.target.value)} />
          </Field>
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy}>{busy ? "Offering…" : "Offer"}</button>
          </div>
        </form>
        <ErrorNotice error={formError} testId="offer-error" />
        {notice ? <div className="notice ok" data-testid="offer-ok">{notice}</div> : null}
      </Card>

      <Card title="Open offers" testId="open-offers">
        <ErrorNotice error={offers.error} />
        {open.length === 0 ? <p className="muted">No open offers.</p> : (
          <table>
            <thead><tr><th>Delivery day</th><th>Share</th><th>Energy</th><th>Minimum price</th><th></th></tr></thead>
            <tbody>
              {open.map((o) => (
                <tr key={o.offer_id} data-testid="open-offer" data-offer-id={o.offer_id}>
                  <td>{o.delivery_day}</td><td>{o.reserve_percent} %</td><td>{formatWh(o.energy_wh)}</td>
                  <td>${formatPrice(o.min_price_usd_per_kwh)}/kWh</td>
                  <td>
                    <button type="button" onClick={() => cancel(o.offer_id)}>Cancel</button>
                    {cancelError[o.offer_id] ? <span className="field-error">{cancelError[o.offer_id]}</span> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>

      <Card title="Past offers and settlements" testId="past-offers">
        {past.length === 0 ? <p className="muted">None yet.</p> : (
          <table>
            <thead><tr><th>Delivery day</th><th>Share</th><th>Status</th><th>Sold hour</th><th>Clearing $/MWh</th><th>Delivered</th><th>Credit</th><th>Note</th></tr></thead>
            <tbody>
              {past.map((o) => (
                <tr key={o.offer_id} data-status={o.status}>
                  <td>{o.delivery_day}</td><td>{o.reserve_percent} %</td>
                  <td><span className={`badge ${o.status}`}>{o.status}</span></td>
                  <td>{o.delivery_hour ? formatTime(o.delivery_hour) : "—"}</td>
                  <td>{o.clearing_price_usd_per_mwh ?? "—"}</td>
                  <td>{o.settlement ? formatWh(o.settlement.delivered_wh) : "—"}</td>
                  <td>{o.settlement ? formatCents(o.settlement.credit_cents) : "—"}</td>
                  <td className="muted">{o.settlement?.shortfall_reason ?? o.outcome_detail ?? o.outcome_reason ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <p className="muted small">Days are local to your municipality ({earliest ? `today is ${localDay(t!.sim_time!)}` : "…"}).</p>
    </div>
  );
}
