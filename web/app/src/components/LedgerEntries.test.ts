import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import type { ChannelVerification } from "../lib/ledgerProofs";
import { REASONS } from "../lib/tlog";
import { VerificationCell, VerificationSummary, type Entry, type Verification } from "./LedgerEntries";

const entry = (seq?: number): Entry => ({
  entry_id: `e-${seq}`, kind: "invoice_issued", event_time: "2022-01-01T00:00:00Z", payload: {}, transfers: [], channels: [], seq,
});

function result(overrides: Partial<ChannelVerification> = {}): ChannelVerification {
  return {
    state: "verified", total: 1, verified: 1, pending: 0, failed: 0, origin: "energychain.local/ledger", checkpointSizes: [6],
    ledgerKeyId: "0a1b2c3d", witnesses: [{ name: "witness-parlier", keyId: "4e5f6a7b", timestamp: 1 }],
    bySeq: new Map([[1, { seq: 1, state: "verified" }]]), ...overrides,
  };
}

const cell = (v: Verification, e: Entry) => renderToStaticMarkup(createElement("table", null,
  createElement("tbody", null, createElement("tr", null, createElement(VerificationCell, { v, entry: e })))));

describe("the verification summary and cells", () => {
  it("marks the summary with a stable test id and a state while verifying and when done", () => {
    const verifying = renderToStaticMarkup(createElement(VerificationSummary, { v: { state: "verifying", done: 0, total: 3 } }));
    expect(verifying).toContain('data-testid="ledger-verification"');
    expect(verifying).toContain('data-state="verifying"');
    const done = renderToStaticMarkup(createElement(VerificationSummary, { v: { state: "done", result: result() } }));
    expect(done).toContain('data-state="verified"');
    expect(done).toContain("1 of 1 entries verified in your browser against checkpoint 6 of energychain.local/ledger, cosigned by witness-parlier");
    const error = renderToStaticMarkup(createElement(VerificationSummary, { v: { state: "error", message: "not found" } }));
    expect(error).toContain('data-state="error"');
    expect(error).toContain("Could not verify the entries: not found");
  });

  it("says per entry verified, pending witness, pending checkpoint or why it failed", () => {
    const v: Verification = {
      state: "done",
      result: result({
        bySeq: new Map([
          [1, { seq: 1, state: "verified" }],
          [2, { seq: 2, state: "pending", reason: REASONS.pendingWitness }],
          [3, { seq: 3, state: "pending", reason: REASONS.pendingCheckpoint }],
          [4, { seq: 4, state: "failed", reason: REASONS.leaf }],
        ]),
      }),
    };
    expect(cell(v, entry(1))).toMatch(/data-testid="entry-verification" data-state="verified">✓ verified</);
    expect(cell(v, entry(2))).toMatch(/data-state="pending">pending witness</);
    expect(cell(v, entry(3))).toMatch(/data-state="pending">pending checkpoint</);
    expect(cell(v, entry(4))).toContain(`data-state="failed">✗ ${REASONS.leaf}<`);
    expect(cell(v, entry(undefined))).toContain('data-state="failed"');
    expect(cell({ state: "verifying", done: 0, total: 1 }, entry(1))).toContain('data-state="verifying"');
    expect(cell({ state: "error", message: "x" }, entry(1))).toContain('data-state="unverified"');
  });
});
