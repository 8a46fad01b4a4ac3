import { describe, expect, it } from "vitest";
import {
  channelVerdict, checkCheckpoint, ledgerVerdict, problemWhere, problemsOf, resultState, shortHash,
  type LedgerCheckpoint, type VerifyReport,
} from "./ledgerOps";
import type { LogKey } from "./ledgerProofs";
import { fromBase64, toBase64 } from "./tlog";
import { ORIGIN, buildFixture, noteSignatureLine, signer } from "./tlog.testkit";

function report(overrides: Partial<VerifyReport> = {}): VerifyReport {
  return {
    channel: "resident:house-01", ok: true, entries_checked: 1234, size: 1234, root: "AAAA", checkpoint: 57,
    cosigned_by: ["witness-parlier", "witness-auditor"], failure: null, problems: [], ...overrides,
  };
}

function checkpointAndKey(options: { cosigners?: number } = {}): { checkpoint: LedgerCheckpoint; key: LogKey } {
  const f = buildFixture(options);
  return {
    checkpoint: { ...f.bundle.checkpoint, cosigned_by: f.bundle.checkpoint.cosigned_by ?? [], created_at: "2026-01-01T00:00:00Z" },
    key: {
      origin: ORIGIN, vkey: f.ledgerVkey,
      witnesses: f.witnessVkeys.map((vkey) => ({ name: vkey.split("+")[0], vkey })),
    },
  };
}

describe("the GSA's ledger verification results", () => {
  it("has one stable state per result: idle, verifying, ok or failed", () => {
    expect(resultState(undefined)).toBe("idle");
    expect(resultState({ state: "idle" })).toBe("idle");
    expect(resultState({ state: "verifying" })).toBe("verifying");
    expect(resultState({ state: "done", report: report() })).toBe("ok");
    expect(resultState({ state: "done", report: report({ ok: false }) })).toBe("failed");
    expect(resultState({ state: "error", message: "the service failed (500)" })).toBe("failed");
  });

  it("says how many entries verify and in which checkpoint, cosigned by whom", () => {
    expect(channelVerdict(report())).toBe(
      "✓ 1,234 entries verify, proved in checkpoint 57 cosigned by witness-parlier, witness-auditor");
    expect(channelVerdict(report({ entries_checked: 1, cosigned_by: [] }))).toBe(
      "✓ 1 entry verifies, proved in checkpoint 57 not yet cosigned by a witness");
    expect(channelVerdict(report({ checkpoint: null, cosigned_by: [] }))).toBe("✓ 1,234 entries verify, not yet in a checkpoint");
    expect(ledgerVerdict(report({ channel: null, size: 9000 }))).toContain("the log of heads (9,000 heads)");
    expect(ledgerVerdict(report({ channel: null }))).toContain("newest cosigned checkpoint 57, cosigned by witness-parlier");
    expect(ledgerVerdict(report({ channel: null, checkpoint: null }))).toContain("no checkpoint cosigned yet");
  });

  it("names where each problem is, and lists every problem of a failed report", () => {
    const leaf = { problem: "leaf mismatch", detail: "the stored entry bytes do not hash to the leaf", channel: "gsa", seq: 3, entry_id: "e-3" };
    const posting = { problem: "posting mismatch", detail: "posting is 5 cents", posting: "e-1/0/gsa:revenue", checkpoint: null, seq: null };
    expect(problemWhere(leaf)).toBe("channel gsa · seq 3 · entry e-3");
    expect(problemWhere(posting)).toBe("posting e-1/0/gsa:revenue");
    expect(problemWhere({ problem: "log mismatch", detail: "", checkpoint: 0 })).toBe("checkpoint 0");
    expect(problemsOf(report())).toEqual([]);
    expect(problemsOf(report({ ok: false, failure: leaf, problems: [leaf, posting] }))).toEqual([leaf, posting]);
    expect(problemsOf(report({ ok: false, failure: leaf }))).toEqual([leaf]);
    expect(problemsOf(report({ ok: false }))[0].problem).toBe("not verified");
  });

  it("shortens a hash and keeps a short one whole", () => {
    expect(shortHash("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ+/A=")).toBe("q83vEjRWeJq8…");
    expect(shortHash("AAAA")).toBe("AAAA");
  });
});

describe("the checkpoint checked in the browser", () => {
  it("verifies the ledger's signature and names the witnesses whose cosignatures verify", () => {
    const { checkpoint, key } = checkpointAndKey();
    const check = checkCheckpoint(checkpoint, key);
    expect(check.problems).toEqual([]);
    expect(check.state).toBe("ok");
    expect(check.origin).toBe(ORIGIN);
    expect(check.ledgerKeyId).toMatch(/^[0-9a-f]{8}$/);
    expect(check.cosigners.map((c) => c.name)).toEqual(["witness-parlier", "witness-auditor"]);
  });

  it("is ok without cosignatures when the ledger claims none", () => {
    const { checkpoint, key } = checkpointAndKey({ cosigners: 0 });
    expect(checkpoint.cosigned_by).toEqual([]);
    const check = checkCheckpoint(checkpoint, key);
    expect(check.state).toBe("ok");
    expect(check.cosigners).toEqual([]);
  });

  it("fails when the served root is not the signed one", () => {
    const { checkpoint, key } = checkpointAndKey();
    const root = fromBase64(checkpoint.root);
    root[0] ^= 0x01;
    const check = checkCheckpoint({ ...checkpoint, root: toBase64(root) }, key);
    expect(check.state).toBe("failed");
    expect(check.problems[0]).toContain("the ledger serves size 6");
  });

  it("fails when the ledger's signature or a cosignature does not verify", () => {
    const { checkpoint, key } = checkpointAndKey();
    const [body, signatures] = checkpoint.note.split("\n\n");
    const [ledgerLine, ...cosignatures] = signatures.split("\n");
    const forged = noteSignatureLine(signer(ORIGIN, 9), `${body}\n`).trimEnd();
    const badLedger = checkCheckpoint({ ...checkpoint, note: `${body}\n\n${[forged, ...cosignatures].join("\n")}` }, key);
    expect(badLedger.state).toBe("failed");
    expect(badLedger.problems).toContain(`the note carries no signature of ${ORIGIN}`);

    const tampered = cosignatures[0].slice(0, -6) + (cosignatures[0].at(-6) === "A" ? "B" : "A") + cosignatures[0].slice(-5);
    const badWitness = checkCheckpoint({ ...checkpoint, note: `${body}\n\n${[ledgerLine, tampered, ...cosignatures.slice(1)].join("\n")}` }, key);
    expect(badWitness.state).toBe("failed");
    expect(badWitness.problems).toContain("the cosignature of witness-parlier is invalid");
  });

  it("fails when the ledger names a cosigner whose cosignature the note does not carry", () => {
    const { checkpoint, key } = checkpointAndKey({ cosigners: 1 });
    const check = checkCheckpoint({ ...checkpoint, cosigned_by: ["witness-parlier", "witness-auditor"] }, key);
    expect(check.state).toBe("failed");
    expect(check.problems).toEqual([
      "the ledger says witness-auditor cosigned, but the note carries no valid cosignature of witness-auditor"]);
  });

  it("fails on another origin and on a malformed note or key", () => {
    const { checkpoint, key } = checkpointAndKey();
    expect(checkCheckpoint(checkpoint, { ...key, origin: "elsewhere.example/log" }).problems[0]).toContain("not from the ledger's origin");
    expect(checkCheckpoint({ ...checkpoint, note: "not a note" }, key).problems[0]).toContain("the checkpoint note is malformed");
    expect(checkCheckpoint(checkpoint, { ...key, vkey: "nonsense" }).problems[0]).toContain("the ledger's verifier key is malformed");
  });
});
