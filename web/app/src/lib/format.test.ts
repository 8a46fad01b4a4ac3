import { describe, expect, it } from "vitest";
import { addDays, formatCents, formatMonth, formatPrice, formatTime, formatWh, localDay, localMidnightIso } from "./format";

describe("money and energy are shown exactly from integers", () => {
  it("formats integer cents as dollars with thousands separators and a leading minus", () => {
    expect(formatCents(123456)).toBe("$1,234.56");
    expect(formatCents(-5)).toBe("-$0.05");
    expect(formatCents(0)).toBe("$0.00");
    expect(formatCents(100_000_000_01)).toBe("$100,000,000.01");
  });
  it("formats integer watt-hours as kWh with three exact decimals", () => {
    expect(formatWh(2500)).toBe("2.500 kWh");
    expect(formatWh(7)).toBe("0.007 kWh");
    expect(formatWh(-1234567)).toBe("-1,234.567 kWh");
  });
  it("trims a decimal price to at least two places without rounding it", () => {
    expect(formatPrice("0.550000")).toBe("0.55");
    expect(formatPrice("0.2346")).toBe("0.2346");
    expect(formatPrice("1")).toBe("1.00");
    expect(formatPrice(null)).toBe("—");
  });
});

describe("times are shown in the municipality's zone", () => {
  it("shows an instant as local Los Angeles time across both offsets", () => {
    expect(formatTime("2022-01-15T08:00:00+00:00")).toBe("2022-01-15 00:00");
    expect(formatTime("2022-07-15T07:00:00Z")).toBe("2022-07-15 00:00");
    expect(formatTime(null)).toBe("—");
    expect(localDay("2022-01-01T07:00:00Z")).toBe("2021-12-31");
  });
  it("gives local midnight with the offset in force that day, including both DST switch days", () => {
    expect(localMidnightIso("2022-01-15")).toBe("2022-01-15T00:00:00-08:00");
    expect(localMidnightIso("2022-07-15")).toBe("2022-07-15T00:00:00-07:00");
    expect(localMidnightIso("2022-03-13")).toBe("2022-03-13T00:00:00-08:00");
    expect(localMidnightIso("2021-11-07")).toBe("2021-11-07T00:00:00-07:00");
  });
  it("adds calendar days across month and year ends and names months", () => {
    expect(addDays("2021-12-31", 1)).toBe("2022-01-01");
    expect(addDays("2022-03-01", -1)).toBe("2022-02-28");
    expect(formatMonth("2022-03")).toBe("Mar 2022");
  });
});
