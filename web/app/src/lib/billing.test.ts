import { describe, expect, it } from "vitest";
import { accountStatus, costBars, paymentRequest, usageQuery, type EnergyCost, type InvoiceSummary } from "./billing";

function invoice(period: string, pastDue: boolean): InvoiceSummary {
  return {
    invoice_id: `inv-${period}`, period, period_start: `${period}-01T07:00:00Z`, period_end: `${period}-28T07:00:00Z`,
    issued_at: `${period}-28T07:00:00Z`, due_at: `${period}-28T07:00:00Z`, total_cents: 1000, new_charges_cents: 1000,
    paid_cents: 0, outstanding_cents: pastDue ? 1000 : 0, status: pastDue ? "past_due" : "paid", past_due: pastDue,
  };
}

describe("pay form body", () => {
  it("sends the amount as a dollar string with exactly two decimals, never a float", () => {
    expect(paymentRequest("12.5", "venmo")).toEqual({ amount: "12.50", method: "venmo" });
    expect(paymentRequest("$1,234", "ach")).toEqual({ amount: "1234.00", method: "ach" });
    expect(paymentRequest("0.07", "card", "inv-1")).toEqual({ amount: "0.07", method: "card", invoice_id: "inv-1" });
  });
  it("gives no body for text that is not an amount", () => {
    expect(paymentRequest("12.345", "card")).toBeNull();
    expect(paymentRequest("twelve", "card")).toBeNull();
  });
});

describe("usage query", () => {
  it("asks for [local midnight of the first day, local midnight after the last day)", () => {
    expect(usageQuery("2022-03-01", "2022-03-31", "day")).toEqual({
      from: "2022-03-01T00:00:00-08:00", to: "2022-04-01T00:00:00-07:00", granularity: "day",
    });
  });
});

describe("monthly cost chart", () => {
  it("draws one bar per invoiced month in order, marking the months whose invoice is past due", () => {
    const costs: EnergyCost[] = [
      { period: "2022-02", energy_wh: 250_000, amount_cents: 5750 },
      { period: "2022-01", energy_wh: 300_000, amount_cents: 6900 },
    ];
    const bars = costBars(costs, [invoice("2022-01", false), invoice("2022-02", true)]);
    expect(bars.map((b) => [b.label, b.value, b.marked])).toEqual([["Jan 2022", 6900, false], ["Feb 2022", 5750, true]]);
    expect(bars[1].title).toContain("250.000 kWh (past due)");
  });
});

describe("account status", () => {
  it("reads past due before any balance, then owing, credit or paid up", () => {
    expect(accountStatus({ balance_cents: 500, past_due: true }).label).toBe("past due");
    expect(accountStatus({ balance_cents: 500, past_due: false }).label).toBe("balance due");
    expect(accountStatus({ balance_cents: -1, past_due: false }).label).toBe("in credit");
    expect(accountStatus({ balance_cents: 0, past_due: false }).label).toBe("paid up");
  });
});
