import { describe, expect, it } from "vitest";
import { escrowBars, escrowBase, movementLabel, type EscrowMonth } from "./escrow";

function month(m: string, closing: number, cover: number): EscrowMonth {
  return {
    month: m, opening_cents: 0, payment_share_cents: 300, repayment_cents: 0, past_due_cover_cents: cover,
    treasury_rollover_cents: 0, endowment_cents: 0, closing_cents: closing, cover_event: cover > 0,
  };
}

describe("escrow scope", () => {
  it("reads the caller's own escrow as a municipality and a named one as the GSA", () => {
    expect(escrowBase({ own: true })).toBe("/municipality/escrow");
    expect(escrowBase({ municipality: "parlier" })).toBe("/gsa/escrow/parlier");
    expect(escrowBase({ municipality: "a/b" })).toBe("/gsa/escrow/a%2Fb");
  });
});

describe("escrow chart", () => {
  it("draws the closing balance by month in order and marks months with past-due cover", () => {
    const bars = escrowBars([month("2022-02", 90_000, 12_345), month("2022-01", 100_300, 0)]);
    expect(bars.map((b) => [b.label, b.value, b.marked])).toEqual([["Jan 2022", 100300, false], ["Feb 2022", 90000, true]]);
    expect(bars[1].title).toContain("past-due cover $123.45");
    expect(bars[0].title).not.toContain("past-due cover");
  });
  it("names each kind of movement for people", () => {
    expect(movementLabel("past_due_cover")).toBe("past-due cover");
    expect(movementLabel("treasury_rollover")).toBe("rollover to treasury");
    expect(movementLabel("something_new")).toBe("something new");
  });
});
