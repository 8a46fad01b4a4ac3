// Overview: every resident of the municipality with its balance; past-due accounts highlighted,
// with what escrow covered for them; above them the town's own totals from the fleet stream, live.

import { useSession } from "../../lib/auth";
import { AccountsTable } from "../../components/AccountsTable";
import { fetchMunicipalAccounts } from "../../lib/billing";
import { fetchPastDue } from "../../lib/escrow";
import { usePoll } from "../../lib/usePoll";
import { Card, ErrorNotice } from "../../components/Form";
import { TownNow } from "../../components/FleetPanels";

export function MunicipalOverview() {
  const { token } = useSession();
  const accounts = usePoll((signal) => fetchMunicipalAccounts(token, signal), [token], 5000);
  const pastDue = usePoll((signal) => fetchPastDue(token, { own: true }, signal), [token], 5000);
  return (
    <div className="page">
      <TownNow token={token} />
      <Card title="Customer accounts" testId="customer-accounts">
        <ErrorNotice error={accounts.error ?? pastDue.error} />
        <AccountsTable rows={accounts.data ?? []} covers={pastDue.data ?? []} loading={accounts.loading} />
      </Card>
    </div>
  );
}
