// Program: the GSA onboards municipalities and enrols residents with their PPA contracts (one at a time or from a
// CSV file), reads each resident's contract, amendments, moves and history, and amends a contract or moves a house
// to another municipality from a day (billing owns the program's registry; its /admin API).

import { useState, type ChangeEvent, type FormEvent } from "react";
import { ApiError } from "../../lib/api";
import { useSession } from "../../lib/auth";
import { saveBlob } from "../../lib/download";
import {
  AMENDMENT_FIELDS, BILLING_BASES, CSV_COLUMNS, EMPTY_AMENDMENT, EMPTY_MOVE, EMPTY_MUNICIPALITY, EMPTY_RESIDENT, MOVE_FIELDS,
  MUNICIPALITY_FIELDS, RESIDENT_FIELDS, amendContract, amendmentRows, basisLabel, bulkMessage, changedMessage, csvHeaderProblem,
  enrolResident, enrolResidentsCsv, fetchMunicipalities, fetchResident, fetchResidents, formRefusal, historyRows, moveHouse,
  moveRows, municipalityRows, onboardMunicipality, registeredMessage, residentRow, residentRows, residentsCsv,
  shapeAmendment, shapeMove, shapeMunicipality, shapeResident, type AmendmentDraft, type Municipality, type MoveDraft,
  type MunicipalityDraft, type ResidentDetail, type ResidentDraft,
} from "../../lib/program";
import type { FieldErrors } from "../../lib/validation";
import { usePoll } from "../../lib/usePoll";
import { Card, ErrorNotice, Field } from "../../components/Form";

function asApiError(caught: unknown): ApiError {
  return caught instanceof ApiError ? caught : new ApiError(0, String(caught));
}

export function GsaProgram() {
  const { token } = useSession();
  const municipalities = usePoll((signal) => fetchMunicipalities(token, signal), [token], 10000);
  const everyResident = usePoll((signal) => fetchResidents(token, "", signal), [token], 10000);
  const [filter, setFilter] = useState("");
  const residents = usePoll((signal) => fetchResidents(token, filter, signal), [token, filter], 10000);
  const [selected, setSelected] = useState("");
  const detail = usePoll(async (signal) => (selected ? fetchResident(token, selected, signal) : null), [token, selected], 0);

  const reloadResidents = () => {
    residents.reload();
    everyResident.reload();
    if (selected) detail.reload();
  };
  const known = municipalityRows(municipalities.data ?? [], everyResident.data ?? []);
  const rows = residentRows(residents.data ?? [], filter);

  return (
    <div className="page">
      <Card title="Municipalities" testId="municipality-list" state={municipalities.data ? "live" : "loading"}>
        <ErrorNotice error={municipalities.error} />
        <div className="table-scroll"><table>
          <thead><tr>
            <th>Id</th><th>Name</th><th>Time zone</th><th className="num">Latitude</th><th className="num">Endowment</th>
            <th className="num">Share</th><th className="num">Escrow cap</th><th className="num">Residents</th><th></th>
          </tr></thead>
          <tbody>{known.map((m) => (
            <tr key={m.id} data-testid="municipality-row" data-municipality={m.id} className={m.id === filter ? "selected" : ""}>
              <td>{m.id}</td><td>{m.name}</td><td>{m.timezone}</td><td className="num">{m.latitude}</td>
              <td className="num">{m.endowment}</td><td className="num">{m.share}</td><td className="num">{m.cap}</td>
              <td className="num">{m.residents}</td>
              <td><button type="button" aria-label={`Show the residents of ${m.id}`} onClick={() => setFilter(m.id)}>Residents</button></td>
            </tr>
          ))}</tbody>
        </table></div>
      </Card>

      <OnboardMunicipality token={token} onDone={() => municipalities.reload()} />

      <Card title="Residents" testId="resident-list" state={residents.data ? "live" : "loading"} actions={
        <button type="button" disabled={!residents.data?.length}
          onClick={() => saveBlob(new Blob([residentsCsv(residents.data ?? [])], { type: "text/csv" }),
            `residents${filter ? `-${filter}` : ""}.csv`)}>
          Download as CSV
        </button>
      }>
        <div className="form-row">
          <Field label="Municipality" name="residents_municipality">
            <select id="residents_municipality" value={filter} onChange={(e) => setFilter(e.target.value)}>
              <option value="">All municipalities</option>
              {known.map((m) => <option key={m.id} value={m.id}>{m.id} · {m.name}</option>)}
            </select>
          </Field>
          <span className="muted" data-testid="resident-count">{residents.data ? `${rows.length} ${rows.length === 1 ? "resident" : "residents"}` : "…"}</span>
        </div>
        <ErrorNotice error={residents.error} />
        <div className="table-scroll"><table>
          <thead><tr>
            <th>House</th><th>Username</th><th>Name</th><th>Address</th><th>Municipality</th><th className="num">Rate</th>
            <th className="num">Escalator</th><th className="num">Battery</th><th className="num">Reserve</th><th>Start</th>
            <th>Billed on</th><th></th>
          </tr></thead>
          <tbody>{rows.map((r) => (
            <tr key={r.house} data-testid="resident-row" data-house={r.house} className={r.house === selected ? "selected" : ""}>
              <td>{r.house}</td><td>{r.username}</td><td>{r.name}</td><td>{r.address}</td><td>{r.municipality}</td>
              <td className="num">{r.rate}</td><td className="num">{r.escalator}</td><td className="num">{r.battery}</td>
              <td className="num">{r.reserve}</td><td>{r.start}</td><td>{r.basis}</td>
              <td><button type="button" aria-label={`Show ${r.house}`} onClick={() => { setSelected(r.house); if (r.house === selected) detail.reload(); }}>Show</button></td>
            </tr>
          ))}</tbody>
        </table></div>
      </Card>

      {selected ? (
        <Card title={`Resident · ${selected}`} testId="resident-detail" state={detail.data?.house_id === selected && !detail.loading ? "live" : "loading"}
          actions={<button type="button" onClick={() => setSelected("")}>Close</button>}>
          <ErrorNotice error={detail.error} />
          {detail.data && detail.data.house_id === selected ? <ResidentDetailView detail={detail.data} /> : null}
        </Card>
      ) : null}
      {selected ? (
        <>
          <AmendContract key={`amend-${selected}`} token={token} houseId={selected}
            detail={detail.data?.house_id === selected ? detail.data : null} onDone={reloadResidents} />
          <MoveHouse key={`move-${selected}`} token={token} houseId={selected}
            detail={detail.data?.house_id === selected ? detail.data : null} municipalities={municipalities.data ?? []}
            onDone={reloadResidents} />
        </>
      ) : null}

      <EnrolResident token={token} municipalities={(municipalities.data ?? []).map((m) => m.municipality_id).sort()}
        onDone={reloadResidents} />
      <BulkEnrol token={token} onDone={reloadResidents} />
    </div>
  );
}

function ResidentDetailView({ detail }: { detail: ResidentDetail }) {
  const row = residentRow(detail);
  const history = historyRows(detail.history);
  const amendments = amendmentRows(detail.amendments);
  const moves = moveRows(detail.municipality_id, detail.moves);
  return (
    <>
      <dl className="terms" data-testid="resident-contract">
        <div><dt>Name</dt><dd>{row.name}</dd></div>
        <div><dt>Username</dt><dd>{row.username}</dd></div>
        <div><dt>Address</dt><dd>{row.address}</dd></div>
        <div><dt>Municipality</dt><dd>{row.municipality}</dd></div>
        <div><dt>Rate</dt><dd data-testid="resident-rate">{row.rate}</dd></div>
        <div><dt>Escalator</dt><dd>{row.escalator}</dd></div>
        <div><dt>Battery</dt><dd>{row.battery}</dd></div>
        <div><dt>Reserve</dt><dd>{row.reserve}</dd></div>
        <div><dt>Contract start</dt><dd>{row.start}</dd></div>
        {detail.contract.end_date ? <div><dt>Contract end</dt><dd>{detail.contract.end_date}</dd></div> : null}
        <div><dt>Billed on</dt><dd>{row.basis}</dd></div>
      </dl>
      <h3 className="subsection">Amendments</h3>
      {amendments.length === 0 ? <p className="muted" data-testid="resident-amendments" data-count={0}>None: the enrolled terms hold.</p> : (
        <div className="table-scroll"><table data-testid="resident-amendments" data-count={amendments.length}>
          <thead><tr><th>From</th><th className="num">Rate</th><th className="num">Escalator</th><th className="num">Reserve</th><th>Billed on</th></tr></thead>
          <tbody>{amendments.map((a) => (
            <tr key={a.from} data-testid="amendment-row" data-from={a.from}>
              <td>{a.from}</td><td className="num" data-testid="amendment-rate">{a.rate}</td><td className="num">{a.escalator}</td>
              <td className="num">{a.reserve}</td><td>{a.basis}</td>
            </tr>
          ))}</tbody>
        </table></div>
      )}
      <h3 className="subsection">Moves</h3>
      {moves.length === 0 ? <p className="muted" data-testid="resident-moves" data-count={0}>None: it belongs to {row.municipality}.</p> : (
        <div className="table-scroll"><table data-testid="resident-moves" data-count={moves.length}>
          <thead><tr><th>From</th><th>Left</th><th>Belongs to</th></tr></thead>
          <tbody>{moves.map((m) => (
            <tr key={m.from} data-testid="move-row" data-from={m.from} data-municipality={m.municipality}>
              <td>{m.from}</td><td>{m.before}</td><td>{m.municipality}</td>
            </tr>
          ))}</tbody>
        </table></div>
      )}
      <h3 className="subsection">History</h3>
      <div className="table-scroll"><table data-testid="resident-history">
        <thead><tr><th>Change</th><th>Recorded</th><th>By</th><th>Event</th><th>Source</th></tr></thead>
        <tbody>{history.map((h, index) => (
          <tr key={`${h.event}-${index}`} data-testid="history-row" data-change={h.change}>
            <td>{h.change}</td><td>{h.when}</td><td data-testid="history-by">{h.by}</td><td><code>{h.event}</code></td><td>{h.source}</td>
          </tr>
        ))}</tbody>
      </table></div>
    </>
  );
}

function OnboardMunicipality({ token, onDone }: { token: string | null; onDone: () => void }) {
  const [draft, setDraft] = useState<MunicipalityDraft>(EMPTY_MUNICIPALITY);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);
  const set = (key: keyof MunicipalityDraft) => (e: ChangeEvent<HTMLInputElement>) => setDraft({ ...draft, [key]: e.target.value });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setNotice(null); setDone("");
    const shaped = shapeMunicipality(draft);
    setErrors(shaped.errors);
    if (!shaped.body) return;
    setBusy(true);
    try {
      const answer = await onboardMunicipality(token, shaped.body);
      setDone(registeredMessage("municipality", answer));
      setDraft(EMPTY_MUNICIPALITY);
      onDone();
    } catch (caught) {
      const refusal = formRefusal(asApiError(caught), MUNICIPALITY_FIELDS);
      setErrors(refusal.fieldErrors);
      setNotice(refusal.notice);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card title="Onboard a municipality" testId="municipality-onboard">
      <form onSubmit={submit} noValidate>
        <div className="form-row">
          <Field label="Municipality id" name="municipality_id" inputId="m-municipality_id" error={errors.municipality_id}>
            <input id="m-municipality_id" placeholder="sanger" value={draft.municipality_id} onChange={set("municipality_id")} />
          </Field>
          <Field label="Name" name="name" inputId="m-name" error={errors.name}>
            <input id="m-name" placeholder="Sanger" value={draft.name} onChange={set("name")} />
          </Field>
          <Field label="Time zone (IANA)" name="timezone" inputId="m-timezone" error={errors.timezone}>
            <input id="m-timezone" value={draft.timezone} onChange={set("timezone")} />
          </Field>
          <Field label="Latitude (°)" name="latitude" inputId="m-latitude" error={errors.latitude}>
            <input id="m-latitude" inputMode="decimal" value={draft.latitude} onChange={set("latitude")} />
          </Field>
        </div>
        <div className="form-row">
          <Field label="Escrow endowment ($)" name="endowment_cents" inputId="m-endowment" error={errors.endowment_cents}>
            <input id="m-endowment" inputMode="decimal" value={draft.endowment} onChange={set("endowment")} />
          </Field>
          <Field label="Share of payments (%)" name="share_percent" inputId="m-share_percent" error={errors.share_percent}>
            <input id="m-share_percent" inputMode="decimal" value={draft.share_percent} onChange={set("share_percent")} />
          </Field>
          <Field label="Escrow cap ($)" name="cap_cents" inputId="m-cap" error={errors.cap_cents}>
            <input id="m-cap" inputMode="decimal" value={draft.cap} onChange={set("cap")} />
          </Field>
        </div>
        <button type="submit" disabled={busy}>Onboard municipality</button>
      </form>
      {done ? <p className="notice ok" role="status" data-testid="municipality-done">{done}</p> : null}
      <ErrorNotice error={notice} testId="municipality-refusal" />
    </Card>
  );
}

function EnrolResident({ token, municipalities, onDone }: { token: string | null; municipalities: string[]; onDone: () => void }) {
  const [draft, setDraft] = useState<ResidentDraft>(EMPTY_RESIDENT);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);
  const set = (key: keyof ResidentDraft) => (e: ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
    setDraft({ ...draft, [key]: e.target.value });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setNotice(null); setDone("");
    const shaped = shapeResident(draft);
    setErrors(shaped.errors);
    if (!shaped.body) return;
    setBusy(true);
    try {
      const answer = await enrolResident(token, shaped.body);
      setDone(registeredMessage("resident", answer));
      setDraft(EMPTY_RESIDENT);
      onDone();
    } catch (caught) {
      const refusal = formRefusal(asApiError(caught), RESIDENT_FIELDS);
      setErrors(refusal.fieldErrors);
      setNotice(refusal.notice);
    } finally {
      setBusy(false);
    }
  }

  const input = (key: keyof ResidentDraft, label: string, extra: Record<string, string> = {}) => (
    <Field label={label} name={key} inputId={`r-${key}`} error={errors[key]}>
      <input id={`r-${key}`} value={draft[key]} onChange={set(key)} {...extra} />
    </Field>
  );

  return (
    <Card title="Enrol a resident" testId="resident-enrol">
      <form onSubmit={submit} noValidate>
        <div className="form-row">
          {input("house_id", "House id", { placeholder: "house-s01" })}
          {input("username", "Username", { placeholder: "maria", autoComplete: "off" })}
          {input("name", "Resident's name")}
          {input("address", "Address")}
          <Field label="Municipality" name="municipality_id" inputId="r-municipality_id" error={errors.municipality_id}>
            <select id="r-municipality_id" value={draft.municipality_id} onChange={set("municipality_id")}>
              <option value="">Choose…</option>
              {municipalities.map((m) => <option key={m} value={m}>{m}</option>)}
            </select>
          </Field>
        </div>
        <div className="form-row">
          {input("rate_usd_per_kwh", "PPA rate ($/kWh)", { inputMode: "decimal", placeholder: "0.23" })}
          {input("escalator_percent", "Escalator (%/year)", { inputMode: "decimal" })}
          {input("battery_wh", "Battery (Wh)", { inputMode: "numeric", placeholder: "10000" })}
          {input("reserve_wh", "Reserve (Wh)", { inputMode: "numeric", placeholder: "2000" })}
          {input("start_date", "Contract start", { type: "date" })}
          <Field label="Billed on" name="billing_basis" inputId="r-billing_basis" error={errors.billing_basis}>
            <select id="r-billing_basis" value={draft.billing_basis} onChange={set("billing_basis")}>
              {BILLING_BASES.map((b) => <option key={b} value={b}>{basisLabel(b)}</option>)}
            </select>
          </Field>
        </div>
        <button type="submit" disabled={busy}>Enrol resident</button>
      </form>
      {done ? <p className="notice ok" role="status" data-testid="resident-done">{done}</p> : null}
      <ErrorNotice error={notice} testId="resident-refusal" />
    </Card>
  );
}

function AmendContract({ token, houseId, detail, onDone }: {
  token: string | null; houseId: string; detail: ResidentDetail | null; onDone: () => void;
}) {
  const [draft, setDraft] = useState<AmendmentDraft>(EMPTY_AMENDMENT);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);
  const set = (key: keyof AmendmentDraft) => (e: ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
    setDraft({ ...draft, [key]: e.target.value });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setNotice(null); setDone("");
    const shaped = shapeAmendment(draft, detail?.contract);
    setErrors(shaped.errors);
    if (!shaped.body) return;
    setBusy(true);
    try {
      const answer = await amendContract(token, houseId, shaped.body);
      setDone(changedMessage("amendment", answer));
      setDraft(EMPTY_AMENDMENT);
      onDone();
    } catch (caught) {
      const refusal = formRefusal(asApiError(caught), AMENDMENT_FIELDS);
      setErrors(refusal.fieldErrors);
      setNotice(refusal.notice);
    } finally {
      setBusy(false);
    }
  }

  const input = (key: keyof AmendmentDraft, label: string, extra: Record<string, string> = {}) => (
    <Field label={label} name={key} inputId={`a-${key}`} error={errors[key]}>
      <input id={`a-${key}`} value={draft[key]} onChange={set(key)} {...extra} />
    </Field>
  );

  return (
    <Card title={`Amend contract · ${houseId}`} testId="resident-amend">
      <form onSubmit={submit} noValidate>
        <div className="form-row">
          {input("effective_date", "Effective from", { type: "date" })}
          {input("rate_usd_per_kwh", "New PPA rate ($/kWh)", { inputMode: "decimal", placeholder: "unchanged" })}
          {input("escalator_percent", "New escalator (%/year)", { inputMode: "decimal", placeholder: "unchanged" })}
          {input("reserve_wh", "New reserve (Wh)", { inputMode: "numeric", placeholder: "unchanged" })}
          <Field label="Billed on" name="billing_basis" inputId="a-billing_basis" error={errors.billing_basis}>
            <select id="a-billing_basis" value={draft.billing_basis} onChange={set("billing_basis")}>
              <option value="">unchanged</option>
              {BILLING_BASES.map((b) => <option key={b} value={b}>{basisLabel(b)}</option>)}
            </select>
          </Field>
        </div>
        <button type="submit" disabled={busy}>Amend contract</button>
      </form>
      <p className="muted">Only the terms filled in change, from local midnight of that day; the invoice of the period it
        falls in is split there. A day inside a period already invoiced is refused.</p>
      {done ? <p className="notice ok" role="status" data-testid="amend-done">{done}</p> : null}
      <ErrorNotice error={notice} testId="amend-refusal" />
    </Card>
  );
}

function MoveHouse({ token, houseId, detail, municipalities, onDone }: {
  token: string | null; houseId: string; detail: ResidentDetail | null; municipalities: Municipality[]; onDone: () => void;
}) {
  const [draft, setDraft] = useState<MoveDraft>(EMPTY_MOVE);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);
  const set = (key: keyof MoveDraft) => (e: ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
    setDraft({ ...draft, [key]: e.target.value });
  const choices = [...municipalities].sort((a, b) => a.municipality_id.localeCompare(b.municipality_id));

  async function submit(event: FormEvent) {
    event.preventDefault();
    setNotice(null); setDone("");
    const shaped = shapeMove(draft, detail?.contract);
    setErrors(shaped.errors);
    if (!shaped.body) return;
    setBusy(true);
    try {
      const answer = await moveHouse(token, houseId, shaped.body);
      setDone(changedMessage("move", answer));
      setDraft(EMPTY_MOVE);
      onDone();
    } catch (caught) {
      const refusal = formRefusal(asApiError(caught), MOVE_FIELDS);
      setErrors(refusal.fieldErrors);
      setNotice(refusal.notice);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card title={`Move to another municipality · ${houseId}`} testId="resident-move">
      <form onSubmit={submit} noValidate>
        <div className="form-row">
          <Field label="Effective from" name="effective_date" inputId="mv-effective_date" error={errors.effective_date}>
            <input id="mv-effective_date" type="date" value={draft.effective_date} onChange={set("effective_date")} />
          </Field>
          <Field label="Moves to" name="municipality_id" inputId="mv-municipality_id" error={errors.municipality_id}>
            <select id="mv-municipality_id" value={draft.municipality_id} onChange={set("municipality_id")}>
              <option value="">Choose…</option>
              {choices.map((m) => <option key={m.municipality_id} value={m.municipality_id}>{m.municipality_id} · {m.timezone}</option>)}
            </select>
          </Field>
        </div>
        <button type="submit" disabled={busy}>Move house</button>
      </form>
      <p className="muted">From local midnight of that day its invoices, payments and ledger channel belong to the new
        municipality, which must keep the same time zone; before then, to the old one.</p>
      {done ? <p className="notice ok" role="status" data-testid="move-done">{done}</p> : null}
      <ErrorNotice error={notice} testId="move-refusal" />
    </Card>
  );
}

function BulkEnrol({ token, onDone }: { token: string | null; onDone: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [inputKey, setInputKey] = useState(0);
  const [failure, setFailure] = useState<string | null>(null);
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null); setDone("");
    if (!file) { setFailure("choose a CSV file"); return; }
    setBusy(true);
    try {
      const text = await file.text();
      const problem = csvHeaderProblem(text);
      if (problem) { setFailure(`header: ${problem}`); return; }
      setDone(`${file.name}: ${bulkMessage(await enrolResidentsCsv(token, text))}`);
      setFile(null);
      setInputKey((k) => k + 1);
      onDone();
    } catch (caught) {
      setFailure(formRefusal(asApiError(caught), []).notice);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card title="Enrol residents from a CSV file" testId="resident-bulk">
      <form onSubmit={submit} noValidate>
        <div className="form-row">
          <Field label="CSV file" name="bulk_file" error={failure ?? undefined}>
            <input key={inputKey} id="bulk_file" type="file" accept=".csv,text/csv"
              onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
          </Field>
          <button type="submit" disabled={busy}>Enrol every row</button>
        </div>
      </form>
      <p className="muted">
        A header line, then one resident per line; all rows are enrolled or none. Columns: <code>{CSV_COLUMNS.join(",")}</code>{" "}
        (escalator and basis may be empty: 2 % and delivered). A row already enrolled alike is left unchanged.
      </p>
      {done ? <p className="notice ok" role="status" data-testid="bulk-done">{done}</p> : null}
    </Card>
  );
}
