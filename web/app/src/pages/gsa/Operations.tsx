// Operations: replay control with live progress, the replay's data-quality counts, the dead letters
// (listed from their topics, a corrected row re-driven: DeadLetters.tsx); the ledger's own checks (each
// channel recomputed, the whole ledger: log of heads, checkpoints, cosignatures, postings), the
// double-entry check, and the newest checkpoint with its keys, its signature and cosignatures checked
// in the browser.
//
// Every result carries a stable data-state (idle | verifying | ok | failed; the checkpoint
// also none while the ledger has none) beside its data-testid: verify-<channel>,
// verify-ledger, checkpoint.

import { useState, type FormEvent, type ReactNode } from "react";
import { ApiError, apiRequest } from "../../lib/api";
import { useSession } from "../../lib/auth";
import { formatTime } from "../../lib/format";
import type { LogKey } from "../../lib/ledgerProofs";
import {
  channelVerdict, checkCheckpoint, ledgerVerdict, problemWhere, problemsOf, resultState, shortHash,
  type CheckpointCheck, type LedgerChannel, type LedgerCheckpoint, type Verification, type VerifyReport,
} from "../../lib/ledgerOps";
import { usePoll } from "../../lib/usePoll";
import { Card, ErrorNotice, Field } from "../../components/Form";
import { DeadLettersPanel } from "./DeadLetters";

interface ReplayStatus {
  state: string;
  sim_time: string | null;
  speed: string;
  houses: number;
  hours_published: number;
  published: number;
  dead_lettered: number;
  flagged: number;
  exact_duplicates: number;
  checkpoint: string | null;
  readings_per_s: number | null;
  error: string | null;
}

const CHANNEL_PAGE = 1000;
const WRAP = { overflowWrap: "anywhere" } as const;
const LIST = { margin: ".2rem 0", paddingLeft: "1.1rem", color: "var(--bad)", whiteSpace: "normal" } as const;

/** Every channel (the GSA is a member of all), following the `after` cursor. */
async function allChannels(token: string, signal: AbortSignal): Promise<LedgerChannel[]> {
  const found: LedgerChannel[] = [];
  let after = "";
  for (let page = 0; page < 100; page++) {
    const rows = await apiRequest<LedgerChannel[]>("ledger", "/channels", { token, signal, query: { after, limit: CHANNEL_PAGE } });
    found.push(...rows);
    if (rows.length < CHANNEL_PAGE) break;
    after = rows[rows.length - 1].channel;
  }
  return found;
}

function errorText(caught: unknown): string {
  return caught instanceof Error ? caught.message : String(caught);
}

function Problems({ report }: { report: VerifyReport }) {
  return (
    <ul className="problems" style={LIST}>
      {problemsOf(report).map((p, i) => {
        const where = problemWhere(p);
        return (
          <li key={i} data-problem={p.problem}>
            <strong>✗ {p.problem}</strong>{where ? <span className="mono"> {where}</span> : null}: {p.detail}
          </li>
        );
      })}
    </ul>
  );
}

/** What one verification shows: nothing yet, verifying…, the verdict, or every problem. */
export function VerificationResult({ v, verdict }: { v: Verification | undefined; verdict: (r: VerifyReport) => string }): ReactNode {
  if (v === undefined || v.state === "idle") return null;
  if (v.state === "verifying") return <span className="muted">verifying…</span>;
  if (v.state === "error") return <span className="bad-text">✗ could not verify: {v.message}</span>;
  return v.report.ok ? <span className="ok-text">{verdict(v.report)}</span> : <Problems report={v.report} />;
}

function CheckpointDetails({ checkpoint, check }: { checkpoint: LedgerCheckpoint; check: CheckpointCheck }) {
  const cosigners = check.cosigners
    .map((c) => `${c.name} (key id ${c.keyId}) at ${formatTime(new Date(c.timestamp * 1000).toISOString())}`).join(", ");
  return (
    <>
      <div className="stats">
        <div className="stat"><span className="stat-label">Size (heads)</span><span className="stat-value" data-testid="checkpoint-size">{checkpoint.size.toLocaleString("en-US")}</span></div>
        <div className="stat"><span className="stat-label">Root</span><span className="stat-value mono" title={checkpoint.root}>{shortHash(checkpoint.root, 16)}</span></div>
        <div className="stat"><span className="stat-label">Signed</span><span className="stat-value">{formatTime(checkpoint.created_at)}</span></div>
        <div className="stat"><span className="stat-label">Cosigned by</span><span className="stat-value" data-testid="checkpoint-cosigned-by">{checkpoint.cosigned_by.length ? checkpoint.cosigned_by.join(", ") : "no witness yet"}</span></div>
      </div>
      {check.state === "ok" ? (
        <p className="ok-text" style={WRAP} data-testid="checkpoint-check">
          ✓ checked in your browser: signed by {check.origin} (key id {check.ledgerKeyId}){cosigners ? `, cosigned by ${cosigners}` : ", no cosignature yet"}
        </p>
      ) : (
        <ul className="problems" style={LIST} data-testid="checkpoint-check">{check.problems.map((p, i) => <li key={i}><strong>✗</strong> {p}</li>)}</ul>
      )}
      <pre className="mono" style={{ ...WRAP, whiteSpace: "pre-wrap" }} data-testid="checkpoint-note">{checkpoint.note}</pre>
    </>
  );
}

function LogKeyTable({ logKey }: { logKey: LogKey }) {
  return (
    <div data-testid="log-key">
      <p>Origin <span className="mono">{logKey.origin}</span>, verifier key <span className="mono" style={WRAP}>{logKey.vkey}</span></p>
      <table>
        <thead><tr><th>Witness</th><th>Verifier key</th></tr></thead>
        <tbody>
          {logKey.witnesses.length ? logKey.witnesses.map((w) => (
            <tr key={w.name} data-testid="witness-row"><td>{w.name}</td><td className="mono" style={WRAP}>{w.vkey}</td></tr>
          )) : <tr><td colSpan={2} className="muted">No witness registered.</td></tr>}
        </tbody>
      </table>
    </div>
  );
}

/** The newest checkpoint and the keys to check it with; data-state verifying | ok | failed | none. */
function CheckpointPanel({ token }: { token: string }) {
  const polled = usePoll(async (signal) => {
    const [checkpoint, key] = await Promise.all([
      apiRequest<LedgerCheckpoint>("ledger", "/log/checkpoint", { token, signal }).catch((caught) => {
        if (caught instanceof ApiError && caught.status === 404) return null; // nothing appended yet
        throw caught;
      }),
      apiRequest<LogKey>("ledger", "/log/key", { token, signal }),
    ]);
    return { checkpoint, key };
  }, [token], 10000);
  const data = polled.data;
  const check = data?.checkpoint ? checkCheckpoint(data.checkpoint, data.key) : null;
  const state = !data ? (polled.error ? "failed" : "verifying") : check ? check.state : "none";
  return (
    <Card title="Checkpoint" testId="checkpoint-card">
      <ErrorNotice error={polled.error} />
      <div data-testid="checkpoint" data-state={state} data-size={data?.checkpoint?.size ?? ""}>
        {!data ? <p className="muted">{polled.error ? "✗ could not read the checkpoint" : "verifying…"}</p>
          : data.checkpoint && check ? <CheckpointDetails checkpoint={data.checkpoint} check={check} />
          : <p className="muted">No checkpoint yet: nothing was appended to the ledger.</p>}
        {data ? <LogKeyTable logKey={data.key} /> : null}
      </div>
    </Card>
  );
}

export function GsaOperations() {
  const session = useSession();
  const token = session.token;
  const replay = usePoll((signal) => apiRequest<ReplayStatus>("meter-ingest", "/replay/status", { token, signal }), [token], 2000);
  const trial = usePoll((signal) => apiRequest<{ sum_cents: number; accounts: number; postings: number; balanced: boolean }>("ledger", "/accounts/check", { token, signal }), [token], 10000);
  const channels = usePoll((signal) => allChannels(token, signal), [token], 10000);
  const [speed, setSpeed] = useState("3600");
  const [fromTime, setFromTime] = useState("");
  const [untilTime, setUntilTime] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [controlError, setControlError] = useState<ApiError | null>(null);
  const [verified, setVerified] = useState<Record<string, Verification>>({});
  const [verifyingAll, setVerifyingAll] = useState(false);
  const [whole, setWhole] = useState<Verification>({ state: "idle" });

  async function control(action: "start" | "pause" | "resume" | "speed", event?: FormEvent) {
    event?.preventDefault();
    setErrors({});
    setControlError(null);
    // datetime-local inputs are in the browser's zone; the API takes aware instants.
    const json = action === "start"
      ? { speed, ...(fromTime ? { from_time: new Date(fromTime).toISOString() } : {}), ...(untilTime ? { until: new Date(untilTime).toISOString() } : {}) }
      : action === "speed" ? { speed } : undefined;
    try {
      await apiRequest("meter-ingest", `/replay/${action}`, { token, method: "POST", json });
      replay.reload();
    } catch (caught) {
      const apiError = caught instanceof ApiError ? caught : new ApiError(0, String(caught));
      setErrors(apiError.fieldErrors);
      if (!Object.keys(apiError.fieldErrors).length) setControlError(apiError);
    }
  }

  async function verify(channel: string) {
    setVerified((v) => ({ ...v, [channel]: { state: "verifying" } }));
    try {
      const report = await apiRequest<VerifyReport>("ledger", `/channels/${encodeURIComponent(channel)}/verify`, { token });
      setVerified((v) => ({ ...v, [channel]: { state: "done", report } }));
    } catch (caught) {
      setVerified((v) => ({ ...v, [channel]: { state: "error", message: errorText(caught) } }));
    }
  }

  async function verifyAll() {
    const names = (channels.data ?? []).map((c) => c.channel);
    setVerifyingAll(true);
    // Every channel shows "verifying" until its own answer: one at a time, so the ledger is not flooded.
    setVerified((v) => ({ ...v, ...Object.fromEntries(names.map((n) => [n, { state: "verifying" } as Verification])) }));
    try {
      for (const name of names) await verify(name);
    } finally {
      setVerifyingAll(false);
    }
  }

  async function verifyWhole() {
    setWhole({ state: "verifying" });
    try {
      setWhole({ state: "done", report: await apiRequest<VerifyReport>("ledger", "/verify", { token }) });
    } catch (caught) {
      setWhole({ state: "error", message: errorText(caught) });
    }
  }

  const s = replay.data;
  return (
    <div className="page">
      <Card title="Meter replay" testId="replay">
        <ErrorNotice error={replay.error} />
        <div className="stats">
          <div className="stat"><span className="stat-label">State</span><span className={`stat-value state-${s?.state}`} data-testid="replay-state">{s?.state ?? "…"}</span></div>
          <div className="stat"><span className="stat-label">Simulated time</span><span className="stat-value" data-testid="replay-sim-time">{s?.sim_time ? formatTime(s.sim_time) : "—"}</span></div>
          <div className="stat"><span className="stat-label">Speed</span><span className="stat-value">{s ? `${s.speed}×` : "…"}</span></div>
          <div className="stat"><span className="stat-label">Readings published</span><span className="stat-value" data-testid="replay-published">{s?.published.toLocaleString("en-US") ?? "…"}</span></div>
          <div className="stat"><span className="stat-label">Hours</span><span className="stat-value">{s?.hours_published.toLocaleString("en-US") ?? "…"}</span></div>
          <div className="stat"><span className="stat-label">Readings/s</span><span className="stat-value">{s?.readings_per_s ?? "—"}</span></div>
          <div className="stat"><span className="stat-label">Checkpoint</span><span className="stat-value">{s?.checkpoint ? formatTime(s.checkpoint) : "—"}</span></div>
        </div>
        {s?.error ? <div className="notice error">{s.error}</div> : null}
        <form className="form-row" onSubmit={(e) => control("start", e)} noValidate>
          <Field label="Speed (sim s per s; max = flat out)" name="speed" error={errors.speed}>
            <input id="speed" value={speed} onChange={(e) => setSpeed(e.target.value)} />
          </Field>
          <Field label="Start from (optional)" name="from_time" error={errors.from_time}>
            <input id="from_time" type="datetime-local" value={fromTime} onChange={(e) => setFromTime(e.target.value)} />
          </Field>
          <Field label="Until (optional)" name="until" error={errors.until}>
            <input id="until" type="datetime-local" value={untilTime} onChange={(e) => setUntilTime(e.target.value)} />
          </Field>
          <button type="submit" className="primary">Start</button>
          <button type="button" onClick={() => control("pause")}>Pause</button>
          <button type="button" onClick={() => control("resume")}>Resume</button>
          <button type="button" onClick={() => control("speed")}>Set speed</button>
        </form>
        <ErrorNotice error={controlError} testId="replay-error" />
      </Card>
      <Card title="Data quality (this replay)" testId="data-quality">
        <div className="stats">
          <div className="stat"><span className="stat-label">Rows dead-lettered</span><span className="stat-value" data-testid="dead-letters">{s?.dead_lettered ?? "…"}</span></div>
          <div className="stat"><span className="stat-label">Readings flagged (imbalance)</span><span className="stat-value">{s?.flagged ?? "…"}</span></div>
          <div className="stat"><span className="stat-label">Exact duplicates skipped</span><span className="stat-value">{s?.exact_duplicates ?? "…"}</span></div>
        </div>
      </Card>
      <DeadLettersPanel token={token} />
      <Card title="Ledger" testId="ledger-verify" actions={
        <div style={{ display: "flex", gap: ".5rem" }}>
          <button type="button" onClick={verifyAll} disabled={verifyingAll || !channels.data?.length}>Verify all</button>
          <button type="button" onClick={verifyWhole} disabled={whole.state === "verifying"}>Whole ledger</button>
        </div>}>
        <ErrorNotice error={trial.error ?? channels.error} />
        <p data-testid="trial-balance">
          Double-entry check: {trial.data ? (
            <strong className={trial.data.balanced ? "ok-text" : "bad-text"}>
              {trial.data.balanced ? "balanced" : `OUT OF BALANCE by ${trial.data.sum_cents} cents`}
            </strong>) : "…"}{trial.data ? ` · ${trial.data.accounts} accounts, ${trial.data.postings} postings` : ""}
        </p>
        <div style={{ margin: ".4rem 0 .8rem" }}>
          <span className="stat-label">Whole ledger (the log of heads, every checkpoint and cosignature, every posting, what the witnesses cosigned)</span>
          <div data-testid="verify-ledger" data-state={resultState(whole)}>
            {whole.state === "idle" ? <span className="muted">not verified yet: press Whole ledger</span> : <VerificationResult v={whole} verdict={ledgerVerdict} />}
          </div>
        </div>
        <div className="table-scroll"><table>
          <thead><tr><th>Channel</th><th className="num">Entries</th><th>Root</th><th>Verification</th><th></th></tr></thead>
          <tbody>{(channels.data ?? []).map((c) => {
            const v = verified[c.channel];
            return (
              <tr key={c.channel} data-testid="channel-row" data-channel={c.channel}>
                <td>{c.channel}</td>
                <td className="num">{c.size.toLocaleString("en-US")}</td>
                <td className="mono" title={`root ${c.root} · blinded id ${c.blinded_id}`}>{shortHash(c.root)}</td>
                <td data-testid={`verify-${c.channel}`} data-state={resultState(v)}><VerificationResult v={v} verdict={channelVerdict} /></td>
                <td><button type="button" onClick={() => verify(c.channel)} disabled={v?.state === "verifying"}>Verify</button></td>
              </tr>
            );
          })}</tbody>
        </table></div>
      </Card>
      <CheckpointPanel token={token} />
    </div>
  );
}
