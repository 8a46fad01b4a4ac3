// Verifying a member's listed ledger entries against the ledger's signed, witnessed log
// (docs/LEDGER.md): fetch the keys and the channel's salt, ask for proofs 1,000 entries at
// a time against one checkpoint, check each bundle with `verifyEntries`, and check that what
// the page shows of each entry is what the proven entry bytes say.

import {
  REASONS, verifyEntries, type Cosigner, type EntryState, type EntryVerification, type ProofBundle,
} from "./tlog";

/** `GET /log/key`. */
export interface LogKey {
  origin: string;
  vkey: string;
  witnesses: { name: string; vkey: string }[];
}

/** One channel of `GET /channels` (the fields verification needs). */
export interface ChannelHead {
  channel: string;
  salt?: string;
  blinded_id?: string;
}

/** What the page lists of an entry (`GET /channels/{c}/entries`). */
export interface ListedEntry {
  entry_id: string;
  kind: string;
  event_time: string;
  payload: Record<string, unknown>;
  transfers: { debit_account: string; credit_account: string; amount_cents: number; memo?: string }[];
  seq?: number;
  entry?: string;
}

/** A GET on the ledger: path and query, resolving with the JSON answer. */
export type LedgerGet = (path: string, query?: Record<string, string | number | undefined>) => Promise<unknown>;

export const PROOF_CHUNK = 1000;
const CHANNEL_PAGE = 1000;

export const LISTED_MISMATCH = "the listed entry differs from its proven bytes";
export const NO_PROOF = "the ledger returned no proof for it";

export interface ChannelVerification {
  /** verified: every entry verified; pending: none failed, some pending; failed: some failed. */
  state: EntryState;
  total: number;
  verified: number;
  pending: number;
  failed: number;
  /** The first reason an entry failed. */
  failure?: string;
  origin: string | null;
  checkpointSizes: number[];
  ledgerKeyId: string | null;
  /** Witnesses whose cosignature verified on every checkpoint used. */
  witnesses: Cosigner[];
  /** Per entry, by seq. */
  bySeq: Map<number, EntryVerification>;
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => sameJson(v, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = Object.keys(ao);
  return keys.length === Object.keys(bo).length && keys.every((k) => k in bo && sameJson(ao[k], bo[k]));
}

function sameTime(a: unknown, b: unknown): boolean {
  if (typeof a !== "string" || typeof b !== "string") return false;
  const ta = Date.parse(a);
  return !Number.isNaN(ta) && ta === Date.parse(b);
}

/**
 * Whether what the page shows of an entry (id, kind, time, payload, transfers) is what the
 * proven entry bytes say: a verified leaf proves nothing about the row unless they agree.
 */
export function listedEntryMatches(row: ListedEntry, entryText: string): boolean {
  let proven: Record<string, unknown>;
  try {
    proven = JSON.parse(entryText) as Record<string, unknown>;
  } catch {
    return false;
  }
  if (!proven || typeof proven !== "object") return false;
  if (proven.entry_id !== row.entry_id || proven.kind !== row.kind) return false;
  if (!sameTime(proven.occurred_at, row.event_time)) return false;
  if (!sameJson(proven.body ?? {}, row.payload ?? {})) return false;
  const transfers = Array.isArray(proven.transfers) ? (proven.transfers as Record<string, unknown>[]) : null;
  if (!transfers || transfers.length !== row.transfers.length) return false;
  return row.transfers.every((t, i) => {
    const p = transfers[i];
    return !!p && p.debit_account === t.debit_account && p.credit_account === t.credit_account
      && p.amount_cents === t.amount_cents && ((p.memo as string | undefined) ?? "") === (t.memo ?? "");
  });
}

async function findChannel(get: LedgerGet, channel: string): Promise<ChannelHead> {
  let after = "";
  for (let page = 0; page < 100; page++) {
    const rows = (await get("/channels", { after: after || undefined, limit: CHANNEL_PAGE })) as ChannelHead[];
    const mine = rows.find((r) => r.channel === channel);
    if (mine) return mine;
    if (rows.length < CHANNEL_PAGE) break;
    after = rows[rows.length - 1].channel;
  }
  throw new Error(`the ledger does not list the channel ${channel}`);
}

/**
 * Verify the listed entries of `channel` in the browser. Throws when the keys, the salt or
 * the proofs cannot be had; otherwise says, per entry, verified, pending or why it failed.
 */
export async function verifyListedEntries(
  get: LedgerGet,
  channel: string,
  rows: ListedEntry[],
  { onProgress, chunkSize = PROOF_CHUNK }: { onProgress?: (done: number, total: number) => void; chunkSize?: number } = {},
): Promise<ChannelVerification> {
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > PROOF_CHUNK) throw new Error("chunk size must be 1..1000");
  const withSeq = rows.filter((r) => typeof r.seq === "number");
  if (rows.length > 0 && withSeq.length === 0) throw new Error("the ledger serves no proofs for these entries");
  const key = (await get("/log/key")) as LogKey;
  const head = await findChannel(get, channel);
  if (typeof head.salt !== "string") throw new Error(`the ledger gives no salt for ${channel}`);
  const options = {
    channel,
    saltHex: head.salt,
    ledgerVkey: key.vkey,
    witnessVkeys: (key.witnesses ?? []).map((w) => w.vkey),
  };

  const bySeq = new Map<number, EntryVerification>();
  const provenText = new Map<number, string>();
  const sizes: number[] = [];
  let origin: string | null = null;
  let ledgerKeyId: string | null = null;
  let witnesses: Cosigner[] | null = null;
  let pinned: number | undefined;
  const seqs = withSeq.map((r) => r.seq as number);
  for (let i = 0; i < seqs.length; i += chunkSize) {
    const chunk = seqs.slice(i, i + chunkSize);
    const bundle = (await get(`/channels/${encodeURIComponent(channel)}/proofs`, {
      seqs: chunk.join(","),
      checkpoint: pinned,
    })) as ProofBundle;
    const result = verifyEntries(bundle, options);
    origin ??= result.origin;
    ledgerKeyId ??= result.ledgerKeyId;
    if (result.checkpointSize !== null && !sizes.includes(result.checkpointSize)) sizes.push(result.checkpointSize);
    // Every later chunk against the same checkpoint, so the page speaks of one.
    if (pinned === undefined && result.ok && result.checkpointSize !== null) pinned = result.checkpointSize;
    const names = new Set(result.witnesses.map((w) => w.name));
    witnesses = witnesses === null ? result.witnesses : witnesses.filter((w) => names.has(w.name));
    for (const e of bundle.entries ?? []) if (typeof e?.entry === "string") provenText.set(e.seq, e.entry);
    const asked = new Set(chunk);
    for (const r of result.entries) if (asked.has(r.seq) && !bySeq.has(r.seq)) bySeq.set(r.seq, r);
    for (const seq of chunk) if (!bySeq.has(seq)) bySeq.set(seq, { seq, state: "failed", reason: NO_PROOF });
    onProgress?.(Math.min(i + chunkSize, seqs.length), seqs.length);
  }

  // What the page shows must be what was proven.
  for (const row of withSeq) {
    const seq = row.seq as number;
    const r = bySeq.get(seq);
    if (!r || r.state === "failed" || r.reason === REASONS.pendingCheckpoint) continue;
    const proven = provenText.get(seq);
    if (proven === undefined || (row.entry !== undefined && row.entry !== proven) || !listedEntryMatches(row, proven)) {
      bySeq.set(seq, { seq, state: "failed", reason: LISTED_MISMATCH });
    }
  }

  let verified = 0;
  let pending = 0;
  let failed = rows.length - withSeq.length;
  let failure: string | undefined = failed > 0 ? "an entry has no seq" : undefined;
  for (const row of withSeq) {
    const r = bySeq.get(row.seq as number);
    if (r?.state === "verified") verified++;
    else if (r?.state === "pending") pending++;
    else {
      failed++;
      failure ??= r?.reason;
    }
  }
  return {
    state: failed > 0 ? "failed" : pending > 0 ? "pending" : "verified",
    total: rows.length, verified, pending, failed, failure,
    origin, checkpointSizes: sizes, ledgerKeyId, witnesses: witnesses ?? [], bySeq,
  };
}

/** The line above the table: what was verified, against what, cosigned by whom. */
export function verificationSummary(v: ChannelVerification): string {
  const against = v.checkpointSizes.length
    ? ` against checkpoint${v.checkpointSizes.length > 1 ? "s" : ""} ${v.checkpointSizes.join(", ")} of ${v.origin ?? "the ledger"}`
    : "";
  const ids = [
    ...(v.ledgerKeyId ? [`${v.origin ?? "ledger"} ${v.ledgerKeyId}`] : []),
    ...v.witnesses.map((w) => `${w.name} ${w.keyId}`),
  ];
  const keys = ids.length ? ` (key ids ${ids.join(", ")})` : "";
  const cosigned = v.witnesses.length
    ? `, cosigned by ${v.witnesses.map((w) => w.name).join(", ")}`
    : v.checkpointSizes.length ? ", not yet cosigned by a witness" : "";
  const head = `${v.verified} of ${v.total} entries verified in your browser${against}${cosigned}${keys}`;
  if (v.state === "failed") {
    return `Verification failed for ${v.failed} of ${v.total} entries: ${v.failure ?? "unknown reason"}. ${head}.`;
  }
  if (v.state === "pending") return `${head}; ${v.pending} pending.`;
  return `${head}.`;
}
