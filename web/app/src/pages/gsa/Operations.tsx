// Operations: replay control with live progress, dead letters and data-quality flags,
// ledger verification per channel and the double-entry check.

import { useState, type FormEvent } from "react";
import { ApiError, apiRequest } from "../../lib/api";
import { useSession } from "../../lib/auth";
import { formatTime } from "../../lib/format";
import { usePoll } from "../../lib/usePoll";
import { Card, ErrorNotice, Field } from "../../components/Form";

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

interface Verify {
  channel: string;
  ok: boolean;
  entries_checked: number;
  last_seq: number;
  failure: { seq: number; entry_id: string | null; problem: string; detail: string } | null;
}

export function GsaOperations() {
  const session = useSession();
  const token = session.token;
  const replay = usePoll((signal) => apiRequest<ReplayStatus>("meter-ingest", "/replay/status", { token, signal }), [token], 2000);
  const dead = usePoll((signal) => apiRequest<{ total: number; by_reason: Record<string, number> }>("meter-ingest", "/dead-letters", { token, signal }), [token], 5000);
  const trial = usePoll((signal) => apiRequest<{ sum_cents: number; accounts: number; postings: number; balanced: boolean }>("ledger", "/accounts/check", { token, signal }), [token], 10000);
  const channels = usePoll((signal) => apiRequest<{ channel: string; seq: number; head_hash: string }[]>("ledger", "/channels", { token, signal, query: { limit: 1000 } }), [token], 10000);
  const [speed, setSpeed] = useState("3600");
  const [fromTime, setFromTime] = useState("");
  const [untilTime, setUntilTime] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [controlError, setControlError] = useState<ApiError | null>(null);
  const [verified, setVerified] = useState<Record<string, Verify | string>>({});

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
    setVerified((v) => ({ ...v, [channel]: "verifying…" }));
    try {
      const report = await apiRequest<Verify>("ledger", `/channels/${encodeURIComponent(channel)}/verify`, { token });
      setVerified((v) => ({ ...v, [channel]: report }));
    } catch (caught) {
      setVerified((v) => ({ ...v, [channel]: caught instanceof ApiError ? caught.message : String(caught) }));
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
      <Card title="Data quality" testId="data-quality">
        <div className="stats">
          <div className="stat"><span className="stat-label">Dead-lettered rows</span><span className="stat-value" data-testid="dead-letters">{dead.data?.total ?? s?.dead_lettered ?? "…"}</span></div>
          <div className="stat"><span className="stat-label">Readings flagged (imbalance)</span><span className="stat-value">{s?.flagged ?? "…"}</span></div>
          <div className="stat"><span className="stat-label">Exact duplicates skipped</span><span className="stat-value">{s?.exact_duplicates ?? "…"}</span></div>
        </div>
        <ErrorNotice error={dead.error} />
        {dead.data && Object.keys(dead.data.by_reason).length ? (
          <table><thead><tr><th>Reason</th><th className="num">Rows</th></tr></thead>
            <tbody>{Object.entries(dead.data.by_reason).map(([reason, n]) => <tr key={reason}><td>{reason}</td><td className="num">{n}</td></tr>)}</tbody></table>
        ) : <p className="muted">No dead letters in this process.</p>}
      </Card>
      <Card title="Ledger" testId="ledger-verify" actions={<button type="button" onClick={async () => { for (const c of channels.data ?? []) await verify(c.channel); }}>Verify all</button>}>
        <ErrorNotice error={trial.error ?? channels.error} />
        <p data-testid="trial-balance">
          Double-entry check: {trial.data ? (
            <strong className={trial.data.balanced ? "ok-text" : "bad-text"}>
              {trial.data.balanced ? "balanced" : `OUT OF BALANCE by ${trial.data.sum_cents} cents`}
            </strong>) : "…"}{trial.data ? ` · ${trial.data.accounts} accounts, ${trial.data.postings} postings` : ""}
        </p>
        <div className="table-scroll"><table>
          <thead><tr><th>Channel</th><th className="num">Entries</th><th>Head</th><th>Verification</th><th></th></tr></thead>
          <tbody>{(channels.data ?? []).map((c) => {
            const v = verified[c.channel];
            return (
              <tr key={c.channel} data-testid="channel-row">
                <td>{c.channel}</td><td className="num">{c.seq}</td><td className="mono">{c.head_hash.slice(0, 16)}…</td>
                <td data-testid={`verify-${c.channel}`}>{v === undefined ? "" : typeof v === "string" ? v : v.ok
                  ? <span className="ok-text">✓ {v.entries_checked} entries verify</span>
                  : <span className="bad-text">✗ seq {v.failure?.seq}: {v.failure?.problem} {v.failure?.detail}</span>}</td>
                <td><button type="button" onClick={() => verify(c.channel)}>Verify</button></td>
              </tr>
            );
          })}</tbody>
        </table></div>
      </Card>
    </div>
  );
}
