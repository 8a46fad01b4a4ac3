import { describe, expect, it } from "vitest";
import { aggregate, alignHouses, fleetTotal, usageColumns } from "./series";

describe("chart series", () => {
  it("sums hours into local (Los Angeles) days, not UTC days", () => {
    // 07:00 UTC on 1 Jan is 23:00 on 31 Dec in Los Angeles.
    const hours = ["2022-01-01T07:00:00+00:00", "2022-01-01T08:00:00+00:00", "2022-01-01T09:00:00+00:00"];
    const days = aggregate(hours, [[100, 200, 300]], "day");
    expect(days.labels).toEqual(["2021-12-31", "2022-01-01"]);
    expect(days.values).toEqual([[100, 500]]);
    expect(aggregate(hours, [[100, 200, 300]], "month").labels).toEqual(["2021-12", "2022-01"]);
  });
  it("aligns houses on one axis, leaving hours a house has no reading for empty", () => {
    const aligned = alignHouses({
      a: { hour: ["2022-01-01T00:00:00Z", "2022-01-01T01:00:00Z"], values: [1, 2] },
      b: { hour: ["2022-01-01T01:00:00Z"], values: [5] },
    });
    expect(aligned.byHouse.b).toEqual([null, 5]);
    expect(fleetTotal([aligned.byHouse.a, aligned.byHouse.b])).toEqual([1, 7]);
  });
  it("turns usage rows into chart columns with exact totals per measure", () => {
    const row = (start: string, home: number) => ({
      start, home_wh: home, solar_wh: 1, grid_import_wh: 2, grid_export_wh: 3, battery_charged_wh: 4, battery_discharged_wh: 5, billed_wh: 6,
    });
    const columns = usageColumns([row("2022-01-01T08:00:00+00:00", 1200), row("2022-01-02T08:00:00+00:00", 800)]);
    expect(columns.x).toEqual([1641024000, 1641110400]);
    expect(columns.values.home_wh).toEqual([1200, 800]);
    expect(columns.totals.home_wh).toBe(2000);
    expect(columns.totals.billed_wh).toBe(12);
  });
});
