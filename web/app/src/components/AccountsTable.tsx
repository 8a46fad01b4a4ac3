// Residents' account status (billing) with what escrow covered for those past due (escrow).

import { accountStatus, type AccountRow } from "../lib/billing";
import type { PastDueCover } from "../lib/escrow";
import { formatCents, formatMonth } from "../lib/format";

export function AccountsTable({ rows, covers, loading, showMunicipality = false }: {
  rows: AccountRow[]; covers: PastDueCover[]; loading: boolean; showMunicipality?: boolean;
}) {
  const covered = new Map<string, { covered: number; debt: number }>();
  for (const c of covers) {
    const seen = covered.get(c.house_id) ?? { covered: 0, debt: 0 };
    covered.set(c.house_id, { covered: seen.covered + c.covered_cents, debt: c.escrow_debt_cents });
  }
  const pastDueCount = rows.filter((r) => r.past_due).length;
  if (rows.length === 0) return <p className="muted">{loading ? "Loading…" : "No resident accounts."}</p>;
  return (
    <>
      <p className="muted" data-testid="accounts-summary">
        {rows.length} accounts · <span className={pastDueCount ? "bad-text" : ""}>{pastDueCount} past due</span> ·
        owed in total {formatCents(rows.reduce((a, r) => a + r.balance_cents, 0))}
      </p>
      <div className="table-scroll"><table>
        <thead><tr>{showMunicipality ? <th>Municipality</th> : null}<th>House</th><th>Resident</th><th>Last bill</th>
          <th className="num">Balance</th><th className="num">Past due</th><th className="num">Escrow covered</th><th>Status</th></tr></thead>
        <tbody>
          {rows.map((r) => {
            const status = accountStatus(r);
            const cover = covered.get(r.house_id);
            return (
              <tr key={r.house_id} className={r.past_due ? "past-due" : ""} data-testid="customer-row" data-house={r.house_id}>
                {showMunicipality ? <td>{r.municipality_id ?? ""}</td> : null}
                <td>{r.house_id}</td>
                <td>{r.name}<div className="muted small">{r.address}</div></td>
                <td>{r.last_invoice_period ? formatMonth(r.last_invoice_period) : "—"}</td>
                <td className="num">{formatCents(r.balance_cents)}</td>
                <td className="num">{r.past_due ? formatCents(r.past_due_cents) : ""}</td>
                <td className="num">{cover ? formatCents(cover.covered) : ""}</td>
                <td><span className={`badge ${status.badge}`}>{status.label}</span></td>
              </tr>
            );
          })}
        </tbody>
      </table></div>
    </>
  );
}
