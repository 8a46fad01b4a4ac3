// The GSA's view of the ledger's own checks (docs/LEDGER.md): the answers of
// `GET /channels/{c}/verify` and `GET /verify` put into words, and the newest checkpoint
// (`GET /log/checkpoint`) checked in the browser against the keys of `GET /log/key`: the
// note's body is the checkpoint served, the ledger signed it, and which witnesses cosigned.

import type { LogKey } from "./ledgerProofs";
import {
  SIG_TYPE_ED25519, cosignerKeyId, parseCheckpoint, parseNote, parseVerifierKey, toBase64, verifyCosignature,
  verifyNoteSignature, type Cosigner, type Note, type VerifierKey,
} from "./tlog";

/** One channel of `GET /channels`. */
export interface LedgerChannel {
  channel: string;
  kind: string;
  municipality_id: string | null;
  /** Entries in the channel's tree at its newest head. */
  size: number;
  /** Base64 root of the channel's tree at its newest head. */
  root: string;
  blinded_id: string;
  salt: string;
}

/** One thing that did not verify, and where (`ProblemOut`). */
export interface LedgerProblem {
  problem: string;
  detail: string;
  channel?: string | null;
  seq?: number | null;
  entry_id?: string | null;
  posting?: string | null;
  checkpoint?: number | null;
}

/** `GET /channels/{c}/verify` and `GET /verify` (`VerifyOut`). */
export interface VerifyReport {
  channel: string | null;
  ok: boolean;
  entries_checked: number;
  size: number;
  root: string;
  /** The cosigned checkpoint the channel was proved in (for the whole ledger: the newest cosigned one). */
  checkpoint: number | null;
  cosigned_by: string[];
  failure: LedgerProblem | null;
  problems: LedgerProblem[];
}

/** `GET /log/checkpoint` (`CheckpointOut`). */
export interface LedgerCheckpoint {
  size: number;
  root: string;
  note: string;
  cosigned_by: string[];
  created_at: string;
}

/** The stable `data-state` of a result on the page. */
export type ResultState = "idle" | "verifying" | "ok" | "failed";

/** One verification as the page holds it: not asked, running, answered, or refused. */
export type Verification =
  | { state: "idle" }
  | { state: "verifying" }
  | { state: "done"; report: VerifyReport }
  | { state: "error"; message: string };

export function resultState(v: Verification | undefined): ResultState {
  if (v === undefined || v.state === "idle") return "idle";
  if (v.state === "verifying") return "verifying";
  return v.state === "done" && v.report.ok ? "ok" : "failed";
}

/** The start of a hash, for a table cell (the whole of it goes in the title). */
export function shortHash(text: string, length = 12): string {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

/** Where a problem is: "seq 3 · entry e-1 · posting e-1/0/gsa:revenue · checkpoint 12" (what it names). */
export function problemWhere(p: LedgerProblem): string {
  return [
    p.channel ? `channel ${p.channel}` : "",
    p.seq !== null && p.seq !== undefined ? `seq ${p.seq}` : "",
    p.entry_id ? `entry ${p.entry_id}` : "",
    p.posting ? `posting ${p.posting}` : "",
    p.checkpoint !== null && p.checkpoint !== undefined ? `checkpoint ${p.checkpoint}` : "",
  ].filter(Boolean).join(" · ");
}

/** Every problem of a failed report (the first one when the list is empty, a placeholder when both are). */
export function problemsOf(report: VerifyReport): LedgerProblem[] {
  if (report.ok) return [];
  if (report.problems.length) return report.problems;
  if (report.failure) return [report.failure];
  return [{ problem: "not verified", detail: "the ledger reports a failure without naming it" }];
}

function cosignedBy(report: VerifyReport): string {
  if (report.checkpoint === null) return "not yet in a cosigned checkpoint";
  return report.cosigned_by.length
    ? `cosigned by ${report.cosigned_by.join(", ")}`
    : "not yet cosigned by a witness";
}

/** The line for a channel that verified. */
export function channelVerdict(report: VerifyReport): string {
  const entries = `✓ ${report.entries_checked.toLocaleString("en-US")} ${report.entries_checked === 1 ? "entry verifies" : "entries verify"}`;
  if (report.checkpoint === null) return `${entries}, not yet in a checkpoint`;
  return `${entries}, proved in checkpoint ${report.checkpoint} ${cosignedBy(report)}`;
}

/** The line for a whole ledger that verified. */
export function ledgerVerdict(report: VerifyReport): string {
  const heads = `✓ the log of heads (${report.size.toLocaleString("en-US")} heads), every checkpoint and cosignature, every posting and what the witnesses cosigned verify`;
  if (report.checkpoint === null) return `${heads}; no checkpoint cosigned yet`;
  return `${heads}; newest cosigned checkpoint ${report.checkpoint}, ${cosignedBy(report)}`;
}

export interface CheckpointCheck {
  state: "ok" | "failed";
  /** What does not hold, in words. */
  problems: string[];
  origin: string | null;
  ledgerKeyId: string | null;
  /** Witnesses of `GET /log/key` whose cosignature of this checkpoint verified. */
  cosigners: Cosigner[];
}

/**
 * Check a checkpoint in the browser with the keys of `GET /log/key`: its note parses, its
 * body says the origin, size and root served, the ledger's signature verifies, every
 * witness line present verifies, and every witness the ledger names as a cosigner did.
 */
export function checkCheckpoint(checkpoint: LedgerCheckpoint, key: LogKey): CheckpointCheck {
  const out: CheckpointCheck = { state: "failed", problems: [], origin: null, ledgerKeyId: null, cosigners: [] };
  const fail = (problem: string): CheckpointCheck => {
    out.problems.push(problem);
    return out;
  };
  let ledgerKey: VerifierKey;
  try {
    ledgerKey = parseVerifierKey(key.vkey);
    if (ledgerKey.type !== SIG_TYPE_ED25519) throw new Error("not a signed-note key");
  } catch (error) {
    return fail(`the ledger's verifier key is malformed: ${(error as Error).message}`);
  }
  let note: Note;
  try {
    note = parseNote(checkpoint.note);
  } catch (error) {
    return fail(`the checkpoint note is malformed: ${(error as Error).message}`);
  }
  try {
    const body = parseCheckpoint(note.text);
    out.origin = body.origin;
    if (body.origin !== ledgerKey.name || body.origin !== key.origin) {
      out.problems.push(`the note is from ${body.origin}, not from the ledger's origin ${key.origin}`);
    }
    if (body.size !== checkpoint.size || toBase64(body.root) !== checkpoint.root) {
      out.problems.push(`the note says size ${body.size} root ${toBase64(body.root)}; the ledger serves size ${checkpoint.size} root ${checkpoint.root}`);
    }
  } catch (error) {
    return fail(`the checkpoint body is malformed: ${(error as Error).message}`);
  }
  const signed = verifyNoteSignature(note, ledgerKey);
  if (signed.status === "verified") out.ledgerKeyId = ledgerKey.keyId;
  else out.problems.push(signed.status === "missing" ? `the note carries no signature of ${ledgerKey.name}` : `the signature of ${ledgerKey.name} is invalid`);
  for (const witness of key.witnesses ?? []) {
    let vkey: VerifierKey;
    try {
      vkey = parseVerifierKey(witness.vkey);
    } catch {
      out.problems.push(`the verifier key of witness ${witness.name} is malformed`);
      continue;
    }
    const check = verifyCosignature(note, vkey);
    if (check.status === "verified") out.cosigners.push({ name: vkey.name, keyId: cosignerKeyId(vkey), timestamp: check.timestamp });
    else if (check.status === "invalid") out.problems.push(`the cosignature of ${vkey.name} is invalid`);
  }
  const valid = new Set(out.cosigners.map((c) => c.name));
  for (const name of checkpoint.cosigned_by ?? []) {
    if (!valid.has(name)) out.problems.push(`the ledger says ${name} cosigned, but the note carries no valid cosignature of ${name}`);
  }
  out.state = out.problems.length ? "failed" : "ok";
  return out;
}
