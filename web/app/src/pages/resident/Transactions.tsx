// Transactions between two dates: the entries of the resident's own ledger channel, each
// verified in the browser against the ledger's signed checkpoint and its witnesses' cosignatures.

import { useSession } from "../../lib/auth";
import { LedgerEntries } from "../../components/LedgerEntries";

export function ResidentTransactions() {
  const session = useSession();
  const house = session.house ?? "";
  return (
    <div className="page">
      <LedgerEntries
        token={session.token}
        channels={[`resident:${house}`]}
        accountPrefix={() => `resident:${house}:`}
        defaultFrom="2021-06-01"
        defaultTo="2022-08-31"
        verify
      />
    </div>
  );
}
