import { describe, expect, it } from "vitest";
import {
  LISTED_MISMATCH, NO_PROOF, listedEntryMatches, verificationSummary, verifyListedEntries,
  type LedgerGet, type ListedEntry,
} from "./ledgerProofs";
import { REASONS, fromBase64, parseVerifierKey, toBase64, type ProofBundle } from "./tlog";
import { CHANNEL, ORIGIN, SALT_HEX, buildFixture, entryText } from "./tlog.testkit";

function row(seq: number): ListedEntry {
  const e = JSON.parse(entryText(seq)) as {
    entry_id: string; kind: string; occurred_at: string; body: Record<string, unknown>; transfers: ListedEntry["transfers"];
  };
  // As the API lists it: the time in another notation, the payload and transfers as objects.
  return {
    entry_id: e.entry_id, kind: e.kind, event_time: e.occurred_at.replace("Z", "+00:00"), payload: e.body,
    transfers: e.transfers.map((t) => ({ ...t })), seq, entry: entryText(seq),
  };
}

interface Call { path: string; query: Record<string, string | number | undefined> }

/** A ledger answering from a fixture bundle; `tamper` changes each proofs answer. */
function ledger(f = buildFixture(), tamper: (b: ProofBundle) => void = () => {}, channels = [{ channel: CHANNEL, salt: SALT_HEX }]) {
  const calls: Call[] = [];
  const get: LedgerGet = async (path, query = {}) => {
    calls.push({ path, query });
    if (path === "/log/key") {
      return {
        origin: ORIGIN, vkey: f.ledgerVkey,
        witnesses: f.witnessVkeys.map((vkey) => ({ name: vkey.split("+")[0], vkey })),
      };
    }
    if (path === "/channels") {
      const after = String(query.after ?? "");
      const limit = Number(query.limit ?? 100);
      return channels.filter((c) => c.channel > after).slice(0, limit);
    }
    if (path === `/channels/${encodeURIComponent(CHANNEL)}/proofs`) {
      const asked = String(query.seqs).split(",").map(Number);
      const b = JSON.parse(JSON.stringify(f.bundle)) as ProofBundle;
      b.entries = b.entries.filter((e) => asked.includes(e.seq));
      b.pending = (b.pending ?? []).filter((s) => asked.includes(s));
      tamper(b);
      return b;
    }
    throw new Error(`unexpected ${path}`);
  };
  return { get, calls, f };
}

describe("verifying the listed entries of a channel", () => {
  it("verifies every listed entry and says against what and by whom", async () => {
    const { get, f } = ledger();
    const v = await verifyListedEntries(get, CHANNEL, [1, 2, 3, 4, 5].map(row));
    expect(v.state).toBe("verified");
    expect([v.verified, v.pending, v.failed, v.total]).toEqual([5, 0, 0, 5]);
    const ledgerId = parseVerifierKey(f.ledgerVkey).keyId;
    const ids = v.witnesses.map((w) => `${w.name} ${w.keyId}`).join(", ");
    expect(verificationSummary(v)).toBe(
      `5 of 5 entries verified in your browser against checkpoint 6 of ${ORIGIN}, cosigned by witness-parlier, witness-auditor`
      + ` (key ids ${ORIGIN} ${ledgerId}, ${ids}).`,
    );
  });

  it("asks for proofs in chunks, every later chunk against the first one's checkpoint", async () => {
    const { get, calls } = ledger();
    const progress: number[] = [];
    const v = await verifyListedEntries(get, CHANNEL, [1, 2, 3, 4, 5].map(row), { chunkSize: 2, onProgress: (d) => progress.push(d) });
    expect(v.state).toBe("verified");
    const proofCalls = calls.filter((c) => c.path.endsWith("/proofs"));
    expect(proofCalls.map((c) => c.query)).toEqual([
      { seqs: "1,2", checkpoint: undefined }, { seqs: "3,4", checkpoint: 6 }, { seqs: "5", checkpoint: 6 },
    ]);
    expect(progress).toEqual([2, 4, 5]);
  });

  it("never asks for more than 1,000 seqs at once", async () => {
    const { get, calls } = ledger(buildFixture(), (b) => { b.entries = []; });
    const rows = Array.from({ length: 2001 }, (_, i) => ({ ...row(1), entry_id: `e-${i + 1}`, seq: i + 1 }));
    const v = await verifyListedEntries(get, CHANNEL, rows);
    const sizes = calls.filter((c) => c.path.endsWith("/proofs")).map((c) => String(c.query.seqs).split(",").length);
    expect(sizes).toEqual([1000, 1000, 1]);
    expect([v.failed, v.pending]).toEqual([1999, 2]); // the fixture's pending 6 and 7
    expect(v.bySeq.get(8)?.reason).toBe(NO_PROOF);
  });

  it("holds entries not yet in a checkpoint as pending", async () => {
    const { get } = ledger();
    const v = await verifyListedEntries(get, CHANNEL, [1, 2, 3, 4, 5, 6, 7].map((s) => (s <= 5 ? row(s) : { ...row(1), entry_id: `e-${s}`, seq: s })));
    expect(v.state).toBe("pending");
    expect([v.verified, v.pending]).toEqual([5, 2]);
    expect(v.bySeq.get(6)?.reason).toBe(REASONS.pendingCheckpoint);
    expect(verificationSummary(v)).toMatch(/^5 of 7 entries verified in your browser against checkpoint 6 .*; 2 pending\.$/);
  });

  it("says pending witness when nobody has cosigned yet", async () => {
    const { get } = ledger(buildFixture({ cosigners: 0 }));
    const v = await verifyListedEntries(get, CHANNEL, [1, 2].map(row));
    expect(v.state).toBe("pending");
    expect(v.bySeq.get(1)?.reason).toBe(REASONS.pendingWitness);
    expect(verificationSummary(v)).toContain("not yet cosigned by a witness");
  });

  it("fails an entry whose proof the server changed, and says so first", async () => {
    const { get } = ledger(buildFixture(), (b) => {
      const e = b.entries.find((x) => x.seq === 3);
      if (e) e.proof[0] = toBase64(fromBase64(e.proof[0]).map((x, i) => (i === 0 ? x ^ 1 : x)));
    });
    const v = await verifyListedEntries(get, CHANNEL, [1, 2, 3, 4, 5].map(row));
    expect(v.state).toBe("failed");
    expect(v.bySeq.get(3)?.state).toBe("failed");
    expect(verificationSummary(v)).toMatch(/^Verification failed for 1 of 5 entries: the entry is not included in the channel head\. 4 of 5/);
  });

  it("fails a row whose shown fields are not what its proven bytes say", async () => {
    const { get } = ledger();
    const rows = [1, 2, 3, 4, 5].map(row);
    rows[0].payload = { ...rows[0].payload, invoice_id: "inv-999" };
    rows[1].transfers[0].amount_cents += 1;
    rows[2].entry = entryText(2);
    rows[3].event_time = "2022-02-04T00:00:00Z";
    const v = await verifyListedEntries(get, CHANNEL, rows);
    expect([1, 2, 3, 4].map((s) => v.bySeq.get(s)?.reason)).toEqual([LISTED_MISMATCH, LISTED_MISMATCH, LISTED_MISMATCH, LISTED_MISMATCH]);
    expect(v.bySeq.get(5)?.state).toBe("verified");
  });

  it("compares the shown fields with the entry bytes", () => {
    expect(listedEntryMatches(row(1), entryText(1))).toBe(true);
    expect(listedEntryMatches({ ...row(1), kind: "payment" }, entryText(1))).toBe(false);
    expect(listedEntryMatches({ ...row(1), entry_id: "x" }, entryText(1))).toBe(false);
    expect(listedEntryMatches({ ...row(1), transfers: [] }, entryText(1))).toBe(false);
    expect(listedEntryMatches(row(1), "not json")).toBe(false);
  });

  it("pages through the channels for the salt, and explains what it cannot have", async () => {
    const others = Array.from({ length: 1000 }, (_, i) => ({ channel: `a:${String(i).padStart(4, "0")}`, salt: "00" }));
    const { get, calls } = ledger(buildFixture(), undefined, [...others, { channel: CHANNEL, salt: SALT_HEX }]);
    expect((await verifyListedEntries(get, CHANNEL, [row(1)])).state).toBe("verified");
    expect(calls.filter((c) => c.path === "/channels").map((c) => c.query.after)).toEqual([undefined, "a:0999"]);

    const missing = ledger(buildFixture(), undefined, []);
    await expect(verifyListedEntries(missing.get, CHANNEL, [row(1)])).rejects.toThrow(/does not list the channel/);
    const unsalted = ledger(buildFixture(), undefined, [{ channel: CHANNEL } as { channel: string; salt: string }]);
    await expect(verifyListedEntries(unsalted.get, CHANNEL, [row(1)])).rejects.toThrow(/no salt/);
    const { seq: _seq, ...noSeq } = row(1);
    void _seq;
    await expect(verifyListedEntries(ledger().get, CHANNEL, [noSeq])).rejects.toThrow(/serves no proofs/);
  });
});
