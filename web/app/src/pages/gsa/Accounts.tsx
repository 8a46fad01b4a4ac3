// Accounts: every municipality's escrow at a glance, one municipality's escrow in full, and every
// resident's account status with past-due accounts highlighted.

import { useState } from "react";
import { useSession } from "../../lib/auth";
import { fetchAllAccounts } from "../../lib/billing";
import { fetchEveryEscrow, fetchPastDue } from "../../lib/escrow";
import { formatCents, formatTime } from "../../lib/format";
import { usePoll } from "../../lib/usePoll";
import { AccountsTable } from "../../components/AccountsTable";
import { EscrowPanels } from "../../components/EscrowPanels";
import { Card, ErrorNotice } from "../../components/Form";

export function GsaAccounts() {
  const { token } = useSession();
  const escrows = usePoll((signal) => fetchEveryEscrow(token, signal), [token], 5000);
  const accounts = usePoll((signal) => fetchAllAccounts(token, signal), [token], 5000);
  const [chosen, setChosen] = useState("");
  const municipality = chosen || escrows.data?.[0]?.municipality_id || "";
  const pastDue = usePoll(
    async (signal) => (municipality ? fetchPastDue(token, { municipality }, signal) : []),
    [token, municipality],
    5000,
  );
  const rows = (accounts.data ?? []).filter((r) => !municipality || r.municipality_id === municipality);

  return (
    <div className="page">
      <Card title="Escrow of every municipality" testId="every-escrow">
        <ErrorNotice error={escrows.error} />
        <table>
          <thead><tr><th>Municipality</th><th className="num">Escrow balance</th><th className="num">Cap</th><th className="num">Share</th><th className="num">Rolled over</th><th>Processed until</th><th></th></tr></thead>
          <tbody>{(escrows.data ?? []).map((e) => (
            <tr key={e.municipality_id} data-testid="escrow-row" className={e.municipality_id === municipality ? "selected" : ""}>
              <td>{e.municipality_id}</td><td className="num">{formatCents(e.balance_cents)}</td><td className="num">{formatCents(e.cap_cents)}</td>
              <td className="num">{e.share_percent} %</td><td className="num">{formatCents(e.treasury_total_cents)}</td>
              <td>{e.processed_until ? formatTime(e.processed_until) : "—"}</td>
              <td><button type="button" onClick={() => setChosen(e.municipality_id)}>Show</button></td>
            </tr>
          ))}</tbody>
        </table>
      </Card>
      <Card title={`Customer accounts${municipality ? ` · ${municipality}` : ""}`} testId="customer-accounts">
        <ErrorNotice error={accounts.error ?? pastDue.error} />
        <AccountsTable rows={rows} covers={pastDue.data ?? []} loading={accounts.loading} showMunicipality />
      </Card>
      {municipality ? (
        <>
          <h2 className="section-title">Escrow · {municipality}</h2>
          <EscrowPanels key={municipality} token={token} scope={{ municipality }} />
        </>
      ) : null}
    </div>
  );
}
