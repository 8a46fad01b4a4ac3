import { describe, expect, it } from "vitest";
import { decimalUnits, parseCents, validateDateRange, validateOffer, validatePayment } from "./validation";

describe("pay form", () => {
  it("accepts a partial amount in dollars and cents with any of the four methods", () => {
    for (const method of ["card", "venmo", "zelle", "ach"]) {
      expect(validatePayment({ amount: "12.34", method })).toEqual({});
    }
  });
  it("reads dollars as exact integer cents", () => {
    expect(parseCents("$1,234.5")).toBe(123450);
    expect(parseCents("0.07")).toBe(7);
    expect(parseCents("19.999")).toBeNull();
    expect(parseCents("-5")).toBeNull();
  });
  it("refuses a zero amount, more than two decimals, and an unknown method, naming the field", () => {
    expect(validatePayment({ amount: "0", method: "card" }).amount).toMatch(/more than \$0.00/);
    expect(validatePayment({ amount: "1.234", method: "card" }).amount).toMatch(/two decimals/);
    expect(validatePayment({ amount: "", method: "card" }).amount).toMatch(/enter an amount/);
    expect(validatePayment({ amount: "5", method: "bitcoin" }).method).toMatch(/card, Venmo, Zelle or ACH/);
  });
});

describe("trade form", () => {
  const terms = { floor: "0.2346", max: "1.00", earliestDay: "2022-03-02" };
  it("accepts the prototype's shares at a price between the PPA rate and $1.00", () => {
    for (const share of ["25", "50", "75", "100"]) {
      expect(validateOffer({ reservePercent: share, deliveryDay: "2022-03-02", minPrice: "0.2346" }, terms)).toEqual({});
    }
    expect(validateOffer({ reservePercent: "50", deliveryDay: "2022-03-05", minPrice: "1" }, terms)).toEqual({});
  });
  it("refuses a price below the PPA rate or above the maximum, compared exactly", () => {
    expect(validateOffer({ reservePercent: "50", deliveryDay: "2022-03-02", minPrice: "0.2345" }, terms).min_price_usd_per_kwh).toMatch(/at least your PPA rate \$0.2346/);
    expect(validateOffer({ reservePercent: "50", deliveryDay: "2022-03-02", minPrice: "1.000001" }, terms).min_price_usd_per_kwh).toMatch(/at most \$1.00/);
    expect(validateOffer({ reservePercent: "50", deliveryDay: "2022-03-02", minPrice: "abc" }, terms).min_price_usd_per_kwh).toMatch(/\$\/kWh/);
  });
  it("refuses other shares and a delivery day not after today", () => {
    expect(validateOffer({ reservePercent: "30", deliveryDay: "2022-03-02", minPrice: "0.5" }, terms).reserve_percent).toMatch(/25, 50, 75 or 100/);
    expect(validateOffer({ reservePercent: "50", deliveryDay: "2022-03-01", minPrice: "0.5" }, terms).delivery_day).toMatch(/2022-03-02 or later/);
    expect(validateOffer({ reservePercent: "50", deliveryDay: "2022-02-30", minPrice: "0.5" }, terms).delivery_day).toMatch(/choose/);
  });
  it("compares decimals without binary floats", () => {
    expect(decimalUnits("0.1")! + decimalUnits("0.2")!).toBe(decimalUnits("0.3"));
  });
});

describe("date range", () => {
  it("refuses an end before the start on the end field", () => {
    expect(validateDateRange({ from: "2022-03-02", to: "2022-03-01" })).toEqual({ to: "the end date must be on or after the start date" });
    expect(validateDateRange({ from: "2022-03-01", to: "2022-03-01" })).toEqual({});
  });
  it("refuses a range longer than the API serves, on the end field", () => {
    expect(validateDateRange({ from: "2021-07-01", to: "2022-06-30" }, 366)).toEqual({});
    expect(validateDateRange({ from: "2021-07-01", to: "2022-07-01" }, 365).to).toMatch(/limited to 365 days/);
    expect(validateDateRange({ from: "2021-07-01", to: "bad" }, 365)).toEqual({ to: "choose an end date" });
  });
});
