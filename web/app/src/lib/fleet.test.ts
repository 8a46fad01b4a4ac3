import { describe, expect, it } from "vitest";
import {
  FLEET_MEASURES, alertLabel, alertSummary, fleetState, fleetWindowsPath, latestWindow, sortAlerts, sumWindows,
  windowLabel, type FleetAlert, type FleetWindow, type FleetWindows,
} from "./fleet";

function row(scope: string, start: string, end: string, values: Partial<FleetWindow> = {}): FleetWindow {
  return {
    scope, start, end, local_date: null, final: false, readings: 1, houses_reporting: 1, readings_unbalanced: 0,
    home_wh: 500, solar_wh: 0, grid_import_wh: 500, grid_export_wh: 0, battery_charged_wh: 0, battery_discharged_wh: 0,
    reserve_above_contract_wh: 2000, ...values,
  };
}

// 2021-09-11 22:00 and 23:00 in Parlier (PDT, UTC-7).
const H22 = ["2021-09-12T05:00:00+00:00", "2021-09-12T06:00:00+00:00"] as const;
const H23 = ["2021-09-12T06:00:00+00:00", "2021-09-12T07:00:00+00:00"] as const;

function alert(kind: string, house: string, since: string): FleetAlert {
  return { alert_id: `${kind}-${house}-${since}`, kind, house_id: house, municipality_id: "parlier", since, detail: "d" };
}

describe("fleet windows paths", () => {
  it("reads every municipality as the GSA and only its own as a municipality", () => {
    expect(fleetWindowsPath("gsa")).toBe("/gsa/fleet/windows");
    expect(fleetWindowsPath("municipality")).toBe("/municipality/fleet/windows");
  });
});

describe("the newest window", () => {
  it("is nothing before the stream has counted a reading", () => {
    expect(latestWindow(null)).toBeNull();
    expect(latestWindow({ kind: "hour", as_of: null, windows: [] })).toBeNull();
  });

  it("takes the fleet row of the newest window and each municipality's newest row, by name", () => {
    const answer: FleetWindows = {
      kind: "hour", as_of: H23[1],
      windows: [
        row("fleet", ...H23, { houses_reporting: 3, readings: 3, home_wh: 1500 }),
        row("reedley", ...H23, { houses_reporting: 1 }),
        row("parlier", ...H23, { houses_reporting: 2, readings: 2, home_wh: 1000 }),
        row("fleet", ...H22, { houses_reporting: 4 }),
        row("parlier", ...H22, { houses_reporting: 2 }),
        row("reedley", ...H22, { houses_reporting: 1 }),
        row("sanger", ...H22, { houses_reporting: 1, final: true }), // quiet in the newest hour: keeps its last one
      ],
    };
    const latest = latestWindow(answer)!;
    expect(latest.start).toBe(H23[0]);
    expect(latest.end).toBe(H23[1]);
    expect(latest.total.scope).toBe("fleet");
    expect(latest.total.houses_reporting).toBe(3);
    expect(latest.total.home_wh).toBe(1500);
    expect(latest.municipalities.map((m) => [m.scope, m.start, m.houses_reporting])).toEqual([
      ["parlier", H23[0], 2], ["reedley", H23[0], 1], ["sanger", H22[0], 1],
    ]);
  });

  it("finds the newest window whatever order the rows come in", () => {
    const latest = latestWindow({ kind: "hour", as_of: H23[1], windows: [row("fleet", ...H22), row("fleet", ...H23, { readings: 9 })] })!;
    expect(latest.total.readings).toBe(9);
  });

  it("is a municipality's own row when the answer has no fleet rows (the municipal portal)", () => {
    const own = row("parlier", ...H23, { houses_reporting: 2, final: true });
    const latest = latestWindow({ kind: "hour", as_of: H23[1], windows: [own, row("parlier", ...H22)] })!;
    expect(latest.total).toBe(own);
    expect(latest.final).toBe(true);
    expect(latest.municipalities).toEqual([own]);
  });

  it("sums municipalities' rows of the newest window when no fleet row is given", () => {
    const latest = latestWindow({ kind: "hour", as_of: H23[1], windows: [
      row("parlier", ...H23, { houses_reporting: 2, solar_wh: 7 }), row("reedley", ...H23, { houses_reporting: 1, solar_wh: 5 }),
      row("parlier", ...H22, { houses_reporting: 9 }),
    ] })!;
    expect(latest.total.scope).toBe("fleet");
    expect(latest.total.houses_reporting).toBe(3);
    expect(latest.total.solar_wh).toBe(12);
  });

  it("sums every count and energy, final only when every part is", () => {
    const a = row("parlier", ...H23, { final: true, readings_unbalanced: 1 });
    const b = row("reedley", ...H23, { final: false, readings_unbalanced: 2 });
    const total = sumWindows([a, b], "fleet", a);
    expect(total.final).toBe(false);
    expect(total.readings_unbalanced).toBe(3);
    for (const m of FLEET_MEASURES) expect(total[m.key]).toBe(a[m.key] + b[m.key]);
    expect(sumWindows([a], "fleet", a).final).toBe(true);
  });
});

describe("window labels and panel state", () => {
  it("names an hour in local time and a day by its local date", () => {
    expect(windowLabel({ start: H23[0], end: H23[1], local_date: null }, "hour")).toBe("2021-09-11 23:00–00:00");
    const day = { start: "2021-09-11T07:00:00+00:00", end: "2021-09-12T07:00:00+00:00", local_date: "2021-09-11" };
    expect(windowLabel(day, "day")).toBe("2021-09-11");
    expect(windowLabel({ ...day, local_date: null }, "day")).toBe("2021-09-11");
  });

  it("is loading, then live with a window, empty without one, error only with nothing to show", () => {
    const latest = latestWindow({ kind: "hour", as_of: H23[1], windows: [row("fleet", ...H23)] });
    expect(fleetState(true, false, null)).toBe("loading");
    expect(fleetState(false, false, null)).toBe("empty");
    expect(fleetState(false, true, null)).toBe("error");
    expect(fleetState(false, true, latest)).toBe("live");
  });
});

describe("alerts", () => {
  it("names each kind for people", () => {
    expect(alertLabel("silent_meter")).toBe("silent meter");
    expect(alertLabel("missing_hours")).toBe("missing hours");
    expect(alertLabel("repeated_imbalance")).toBe("repeated imbalance");
    expect(alertLabel("something_new")).toBe("something new");
  });

  it("lists the newest first, then by house and kind", () => {
    const sorted = sortAlerts([
      alert("silent_meter", "house-03", "2021-09-11T19:00:00+00:00"),
      alert("repeated_imbalance", "house-01", "2021-09-12T01:00:00+00:00"),
      alert("silent_meter", "house-02", "2021-09-11T19:00:00+00:00"),
      alert("missing_hours", "house-02", "2021-09-11T19:00:00+00:00"),
    ]);
    expect(sorted.map((a) => `${a.kind}/${a.house_id}`)).toEqual([
      "repeated_imbalance/house-01", "missing_hours/house-02", "silent_meter/house-02", "silent_meter/house-03",
    ]);
  });

  it("counts open alerts by kind, in a fixed order", () => {
    expect(alertSummary([])).toBe("No open alerts.");
    expect(alertSummary([alert("silent_meter", "house-03", "2021-09-11T19:00:00Z")])).toBe("1 open alert: 1 silent meter");
    expect(alertSummary([
      alert("repeated_imbalance", "house-01", "2021-09-11T19:00:00Z"), alert("zeta_thing", "house-09", "2021-09-11T19:00:00Z"),
      alert("silent_meter", "house-03", "2021-09-11T19:00:00Z"), alert("silent_meter", "house-02", "2021-09-11T19:00:00Z"),
    ])).toBe("4 open alerts: 2 silent meter · 1 repeated imbalance · 1 zeta thing");
  });
});
