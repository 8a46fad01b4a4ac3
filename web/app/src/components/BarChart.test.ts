import { describe, expect, it } from "vitest";
import { chartName } from "./BarChart";

const dollars = (cents: number) => `$${(cents / 100).toFixed(2)}`;

describe("chartName", () => {
  it("names every bar with its value and says which are marked", () => {
    const bars = [{ label: "Jul", value: 1234 }, { label: "Aug", value: 500, marked: true }];
    expect(chartName(bars, dollars, "past due")).toBe("Jul: $12.34; Aug: $5.00 (past due)");
  });

  it("starts with what the chart shows when it is given", () => {
    expect(chartName([{ label: "Sep", value: 0 }], dollars, "covered", "Escrow closing balance by month"))
      .toBe("Escrow closing balance by month. Sep: $0.00");
  });
});
