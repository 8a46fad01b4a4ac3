// The municipality's channel and its residents' channels, entries between two dates.

import { apiRequest } from "../../lib/api";
import { useSession } from "../../lib/auth";
import { usePoll } from "../../lib/usePoll";
import { LedgerEntries } from "../../components/LedgerEntries";
import { ErrorNotice } from "../../components/Form";

export function MunicipalTransactions() {
  const session = useSession();
  const channels = usePoll(
    (signal) => apiRequest<{ channel: string }[]>("ledger", "/channels", { token: session.token, signal, query: { limit: 1000 } }),
    [session.token],
    0,
  );
  const names = (channels.data ?? []).map((c) => c.channel);
  return (
    <div className="page">
      <ErrorNotice error={channels.error} />
      {names.length ? (
        <LedgerEntries
          key={names.join(",")}
          token={session.token}
          channels={names}
          accountPrefix={(c) => (c.startsWith("resident:") ? `${c}:` : c.startsWith("municipality:") ? `${c}:` : null)}
          defaultFrom="2021-06-01"
          defaultTo="2022-08-31"
          title="Transactions on your channels"
        />
      ) : <p className="muted">{channels.loading ? "Loading channels…" : "No channels yet."}</p>}
    </div>
  );
}
