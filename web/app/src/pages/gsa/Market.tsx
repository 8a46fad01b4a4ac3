// Market: residents' offers, aggregated hourly bids, clearings, settlements and the GSA's fees.

import { useState } from "react";
import { apiRequest } from "../../lib/api";
import { useSession } from "../../lib/auth";
import { formatCents, formatPrice, formatTime, formatWh } from "../../lib/format";
import { usePoll } from "../../lib/usePoll";
import { Card, ErrorNotice, Field } from "../../components/Form";

interface Offer { offer_id: string; house_id: string; delivery_day: string; reserve_percent: number; energy_wh: number; min_price_usd_per_kwh: string; status: string; delivery_hour: string | null; cleared_wh: number | null; outcome_reason: string | null }
interface Bid { bid_id: string; delivery_day: string; delivery_hour: string; energy_wh: number; offers_count: number; limit_price_usd_per_mwh: string; status: string; accepted_wh: number | null; clearing_price_usd_per_mwh: string | null }
interface Clearing { clearing_id: string; delivery_day: string; mechanism: string; offers_count: number; cleared_offers: number; cleared_wh: number }
interface Settlement { settlement_id: string; house_id: string; delivery_hour: string; offered_wh: number; delivered_wh: number; clearing_price_usd_per_mwh: string; proceeds_cents: number; fee_cents: number; credit_cents: number; shortfall_reason: string | null }
interface Revenue { fee_cents: number; proceeds_cents: number; credit_cents: number; delivered_wh: number }

export function GsaMarket() {
  const session = useSession();
  const token = session.token;
  const [status, setStatus] = useState("all");
  const [range, setRange] = useState({ start: "2021-07-01", end: "2022-07-31" });
  const offers = usePoll((signal) => apiRequest<{ offers: Offer[] }>("market", "/gsa/offers", { token, signal, query: { status } }), [token, status]);
  const bids = usePoll((signal) => apiRequest<{ bids: Bid[] }>("market", "/gsa/bids", { token, signal }), [token]);
  const clearings = usePoll((signal) => apiRequest<{ clearings: Clearing[] }>("market", "/gsa/clearings", { token, signal }), [token]);
  const settlements = usePoll((signal) => apiRequest<{ settlements: Settlement[] }>("market", "/gsa/settlements", { token, signal, query: range }), [token, range.start, range.end]);
  const revenue = usePoll((signal) => apiRequest<Revenue>("market", "/gsa/revenue", { token, signal, query: range }), [token, range.start, range.end]);

  const offerRows = (offers.data?.offers ?? []).slice(-200).reverse();
  const bidRows = (bids.data?.bids ?? []).slice(-200).reverse();
  return (
    <div className="page">
      <Card title="Market revenue" testId="market-revenue">
        <div className="form-row">
          <Field label="From" name="start"><input id="start" type="date" value={range.start} onChange={(e) => setRange({ ...range, start: e.target.value })} /></Field>
          <Field label="To" name="end" error={revenue.error?.fieldErrors.end}><input id="end" type="date" value={range.end} onChange={(e) => setRange({ ...range, end: e.target.value })} /></Field>
        </div>
        <div className="stats">
          <div className="stat"><span className="stat-label">Proceeds</span><span className="stat-value">{revenue.data ? formatCents(revenue.data.proceeds_cents) : "…"}</span></div>
          <div className="stat"><span className="stat-label">GSA fees</span><span className="stat-value">{revenue.data ? formatCents(revenue.data.fee_cents) : "…"}</span></div>
          <div className="stat"><span className="stat-label">Residents credited</span><span className="stat-value">{revenue.data ? formatCents(revenue.data.credit_cents) : "…"}</span></div>
          <div className="stat"><span className="stat-label">Delivered</span><span className="stat-value">{revenue.data ? formatWh(revenue.data.delivered_wh) : "…"}</span></div>
        </div>
      </Card>
      <Card title="Offers" testId="market-offers" actions={
        <select value={status} onChange={(e) => setStatus(e.target.value)} aria-label="offer status">
          {["all", "open", "cancelled", "cleared", "unsold", "settled"].map((s) => <option key={s} value={s}>{s}</option>)}
        </select>}>
        <ErrorNotice error={offers.error} />
        <div className="table-scroll"><table>
          <thead><tr><th>House</th><th>Delivery day</th><th>Share</th><th>Energy</th><th>Min $/kWh</th><th>Status</th><th>Hour</th><th>Cleared</th></tr></thead>
          <tbody>{offerRows.map((o) => (
            <tr key={o.offer_id} data-testid="market-offer"><td>{o.house_id}</td><td>{o.delivery_day}</td><td>{o.reserve_percent} %</td><td>{formatWh(o.energy_wh)}</td><td>{formatPrice(o.min_price_usd_per_kwh)}</td>
              <td><span className={`badge ${o.status}`}>{o.status}</span></td><td>{o.delivery_hour ? formatTime(o.delivery_hour) : "—"}</td><td>{o.cleared_wh !== null ? formatWh(o.cleared_wh) : (o.outcome_reason ?? "—")}</td></tr>
          ))}</tbody>
        </table></div>
        {offerRows.length === 0 ? <p className="muted">No offers.</p> : null}
      </Card>
      <Card title="Hourly bids" testId="market-bids">
        <ErrorNotice error={bids.error} />
        <div className="table-scroll"><table>
          <thead><tr><th>Delivery hour</th><th>Offers</th><th>Energy</th><th>Limit $/MWh</th><th>Status</th><th>Accepted</th><th>Clearing $/MWh</th></tr></thead>
          <tbody>{bidRows.map((b) => (
            <tr key={b.bid_id}><td>{formatTime(b.delivery_hour)}</td><td>{b.offers_count}</td><td>{formatWh(b.energy_wh)}</td><td>{b.limit_price_usd_per_mwh}</td>
              <td><span className={`badge ${b.status}`}>{b.status}</span></td><td>{b.accepted_wh !== null ? formatWh(b.accepted_wh) : "—"}</td><td>{b.clearing_price_usd_per_mwh ?? "—"}</td></tr>
          ))}</tbody>
        </table></div>
        {bidRows.length === 0 ? <p className="muted">No bids yet.</p> : null}
      </Card>
      <Card title="Clearings" testId="market-clearings">
        <div className="table-scroll"><table>
          <thead><tr><th>Delivery day</th><th>Mechanism</th><th>Offers</th><th>Cleared offers</th><th>Cleared energy</th></tr></thead>
          <tbody>{(clearings.data?.clearings ?? []).slice(-60).reverse().map((c) => (
            <tr key={c.clearing_id}><td>{c.delivery_day}</td><td>{c.mechanism}</td><td>{c.offers_count}</td><td>{c.cleared_offers}</td><td>{formatWh(c.cleared_wh)}</td></tr>
          ))}</tbody>
        </table></div>
      </Card>
      <Card title="Settlements" testId="market-settlements">
        <ErrorNotice error={settlements.error} />
        <div className="table-scroll"><table>
          <thead><tr><th>Hour</th><th>House</th><th>Offered</th><th>Delivered</th><th>$/MWh</th><th>Proceeds</th><th>Fee</th><th>Credit</th><th>Shortfall</th></tr></thead>
          <tbody>{(settlements.data?.settlements ?? []).slice(-200).reverse().map((s) => (
            <tr key={s.settlement_id}><td>{formatTime(s.delivery_hour)}</td><td>{s.house_id}</td><td>{formatWh(s.offered_wh)}</td><td>{formatWh(s.delivered_wh)}</td><td>{s.clearing_price_usd_per_mwh}</td>
              <td>{formatCents(s.proceeds_cents)}</td><td>{formatCents(s.fee_cents)}</td><td>{formatCents(s.credit_cents)}</td><td className="muted">{s.shortfall_reason ?? ""}</td></tr>
          ))}</tbody>
        </table></div>
      </Card>
    </div>
  );
}
