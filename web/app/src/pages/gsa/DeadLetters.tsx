// The Operations page's dead letters: every meter row and ledger append that was refused, as meter-ingest
// reads them off their topics (they survive its restarts), filtered by kind, reason and local days; a reading's
// corrected row is re-driven from its table row.
//
// Each row carries data-testid=dead-letter-row, data-id, data-kind, data-reason and a stable
// data-state (open | resolved | listed).

import { useState, type FormEvent } from "react";
import { ApiError } from "../../lib/api";
import {
  LISTED, NO_FILTERS, deadLetterQuery, deadLetterSource, deadLetterState, fetchDeadLetters, reasonChoices,
  redriveDeadLetter, type DeadLetter, type DeadLetterFilters,
} from "../../lib/deadLetters";
import { formatTime } from "../../lib/format";
import type { FieldErrors } from "../../lib/validation";
import { usePoll } from "../../lib/usePoll";
import { Card, ErrorNotice, Field } from "../../components/Form";

const WRAP = { overflowWrap: "anywhere" } as const;

/** One reading dead letter's re-drive: its row, editable, and the service's answer beside it. */
function RedriveForm({ letter, token, onRedriven }: { letter: DeadLetter; token: string; onRedriven: () => void }) {
  const [raw, setRaw] = useState(letter.raw ?? "");
  const [error, setError] = useState("");
  const [sending, setSending] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError("");
    setSending(true);
    try {
      await redriveDeadLetter(token, letter.id, raw);
      onRedriven();
    } catch (caught) {
      const apiError = caught instanceof ApiError ? caught : new ApiError(0, String(caught));
      setError(apiError.fieldErrors.raw ?? apiError.message);
    } finally {
      setSending(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate data-testid="redrive-form" style={{ display: "flex", flexWrap: "wrap", gap: ".4rem" }}>
      <input className="mono" value={raw} onChange={(e) => setRaw(e.target.value)} style={{ minWidth: "22rem" }}
        aria-label={`Corrected row of ${deadLetterSource(letter)}`} aria-invalid={error ? true : undefined} />
      <button type="submit" disabled={sending || !raw.trim()}>Re-drive</button>
      {error ? <span className="field-error" role="alert" data-testid="redrive-error">{error}</span> : null}
    </form>
  );
}

/** The table of dead letters, newest event time first; open readings have their re-drive form. */
export function DeadLetterTable({ letters, token, onRedriven }: { letters: DeadLetter[]; token: string; onRedriven: () => void }) {
  return (
    <div className="table-scroll"><table>
      <caption className="muted" style={{ textAlign: "left" }}>Newest event time first (times in Parlier)</caption>
      <thead><tr><th scope="col">Event time</th><th scope="col">Kind</th><th scope="col">Reason</th><th scope="col">Source</th><th scope="col">Row or detail</th><th scope="col">Resolution</th></tr></thead>
      <tbody>{letters.length ? letters.map((d) => (
        <tr key={d.id} data-testid="dead-letter-row" data-id={d.id} data-kind={d.kind} data-reason={d.reason} data-state={deadLetterState(d)}>
          <td title={`dead-lettered ${d.dead_lettered_at} at ${d.position}`}>{formatTime(d.occurred_at)}</td>
          <td>{d.kind === "reading" ? "meter row" : "ledger append"}</td>
          <td>{d.reason}</td>
          <td>{deadLetterSource(d)}</td>
          <td style={WRAP}>
            {d.raw !== null ? <div className="mono">{d.raw}</div> : null}
            <div className="muted">{d.detail}</div>
          </td>
          <td style={WRAP}>
            {d.resolution ? (
              <span className="ok-text">✓ re-driven by {d.resolution.redriven_by} {formatTime(d.resolution.resolved_at)} as reading <span className="mono">{d.resolution.reading_event_id}</span></span>
            ) : d.kind === "reading" ? <RedriveForm letter={d} token={token} onRedriven={onRedriven} />
              : <span className="muted">listed only: its producer sends the append again</span>}
          </td>
        </tr>
      )) : <tr><td colSpan={6} className="muted">No dead letters match.</td></tr>}</tbody>
    </table></div>
  );
}

export function DeadLettersPanel({ token }: { token: string }) {
  const [filters, setFilters] = useState<DeadLetterFilters>(NO_FILTERS);
  const [shown, setShown] = useState<DeadLetterFilters>(NO_FILTERS);
  const [errors, setErrors] = useState<FieldErrors>({});
  const listing = usePoll((signal) => fetchDeadLetters(token, deadLetterQuery(shown).query, signal), [token, shown], 5000);
  const data = listing.data;

  function show(event: FormEvent) {
    event.preventDefault();
    const checked = deadLetterQuery(filters);
    setErrors(checked.errors);
    if (!Object.keys(checked.errors).length) setShown(filters);
  }

  const set = (field: keyof DeadLetterFilters) => (e: { target: { value: string } }) => setFilters({ ...filters, [field]: e.target.value });
  return (
    <Card title="Dead letters" testId="dead-letter-panel">
      <ErrorNotice error={listing.error} />
      <div className="stats">
        <div className="stat"><span className="stat-label">Dead letters (these filters)</span><span className="stat-value" data-testid="dead-letter-total">{data?.total.toLocaleString("en-US") ?? "…"}</span></div>
        <div className="stat"><span className="stat-label">Not resolved</span><span className="stat-value" data-testid="dead-letter-unresolved">{data?.unresolved.toLocaleString("en-US") ?? "…"}</span></div>
      </div>
      {data && !data.caught_up ? <p className="muted" data-testid="dead-letters-catching-up">Still reading the dead-letter topics: the list may be incomplete.</p> : null}
      <form className="form-row" onSubmit={show} noValidate aria-label="Filter dead letters">
        <Field label="Kind" name="dead_letter_kind">
          <select id="dead_letter_kind" value={filters.kind} onChange={set("kind")}>
            <option value="">any</option><option value="reading">meter row</option><option value="ledger_append">ledger append</option>
          </select>
        </Field>
        <Field label="Reason" name="dead_letter_reason">
          <select id="dead_letter_reason" value={filters.reason} onChange={set("reason")}>
            <option value="">any</option>{reasonChoices(data?.by_reason).map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
        </Field>
        <Field label="From (day)" name="dead_letter_from" error={errors.from}>
          <input id="dead_letter_from" type="date" value={filters.from} onChange={set("from")} />
        </Field>
        <Field label="To (day)" name="dead_letter_to" error={errors.to}>
          <input id="dead_letter_to" type="date" value={filters.to} onChange={set("to")} />
        </Field>
        <button type="submit">Show</button>
      </form>
      {data && Object.keys(data.by_reason).length ? (
        <table data-testid="dead-letter-reasons">
          <caption className="muted" style={{ textAlign: "left" }}>By reason</caption>
          <thead><tr><th scope="col">Reason</th><th scope="col" className="num">Dead letters</th></tr></thead>
          <tbody>{Object.entries(data.by_reason).map(([reason, n]) => <tr key={reason}><td>{reason}</td><td className="num">{n}</td></tr>)}</tbody>
        </table>
      ) : null}
      {data ? <DeadLetterTable letters={data.dead_letters} token={token} onRedriven={listing.reload} /> : <p className="muted">…</p>}
      {data && data.total > data.dead_letters.length ? <p className="muted">The newest {LISTED} of {data.total.toLocaleString("en-US")} are shown: narrow the filters to see others.</p> : null}
    </Card>
  );
}
