import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { latestWindow, type FleetWindow } from "../lib/fleet";
import { AlertsView, FleetNowView } from "./FleetPanels";

function row(scope: string, start: string, end: string, values: Partial<FleetWindow> = {}): FleetWindow {
  return {
    scope, start, end, local_date: null, final: false, readings: 3, houses_reporting: 3, readings_unbalanced: 1,
    home_wh: 1234, solar_wh: 5000, grid_import_wh: 0, grid_export_wh: 2500, battery_charged_wh: 1266,
    battery_discharged_wh: 0, reserve_above_contract_wh: 17500, ...values,
  };
}

const HOUR = ["2021-09-11T20:00:00+00:00", "2021-09-11T21:00:00+00:00"] as const;
const DAY = ["2021-09-11T07:00:00+00:00", "2021-09-12T07:00:00+00:00"] as const;

describe("the Fleet now panel", () => {
  it("shows the newest hour's fleet totals in kWh, each municipality's row, and today", () => {
    const hour = latestWindow({ kind: "hour", as_of: HOUR[1], windows: [row("fleet", ...HOUR), row("parlier", ...HOUR)] });
    const day = latestWindow({ kind: "day", as_of: DAY[1], windows: [
      row("fleet", ...DAY, { local_date: "2021-09-11", houses_reporting: 3, readings: 60 }),
      row("parlier", ...DAY, { local_date: "2021-09-11", readings: 60 })] });
    const html = renderToStaticMarkup(createElement(FleetNowView, { hour, day, state: "live", asOf: HOUR[1] }));
    expect(html).toContain('data-testid="fleet-hour-totals" data-houses-reporting="3"');
    expect(html).toContain("Latest hour · 2021-09-11 13:00–14:00 (still counting)");
    expect(html).toContain('data-testid="fleet-hour-home_wh">1.234 kWh<');
    expect(html).toContain('data-testid="fleet-hour-reserve_above_contract_wh">17.500 kWh<');
    expect(html).toContain('data-testid="fleet-municipality" data-municipality="parlier" data-kind="hour"');
    expect(html).toContain("Today · 2021-09-11 (still counting)");
    expect(html).toContain('data-testid="fleet-day-totals" data-houses-reporting="3" data-readings="60" data-start="2021-09-11T07:00:00+00:00"');
    expect(html.match(/<th scope="col"/g)).toHaveLength(2 * 12);
    expect(html).toContain("As of 2021-09-11 14:00");
  });

  it("shows only the totals in the town's panel, and says when nothing is counted yet", () => {
    const hour = latestWindow({ kind: "hour", as_of: HOUR[1], windows: [row("parlier", ...HOUR)] });
    const town = renderToStaticMarkup(createElement(FleetNowView, { hour, day: null, state: "live", asOf: HOUR[1], perMunicipality: false }));
    expect(town).toContain('data-testid="fleet-hour-totals"');
    expect(town).not.toContain("<table");
    const empty = renderToStaticMarkup(createElement(FleetNowView, { hour: null, day: null, state: "empty", asOf: null }));
    expect(empty).toContain('data-testid="fleet-now-empty"');
    expect(empty).toContain("has not counted a reading yet");
  });
});

describe("the Alerts panel", () => {
  it("lists each open alert with its kind, house, local time and detail", () => {
    const html = renderToStaticMarkup(createElement(AlertsView, { state: "open", alerts: [{
      alert_id: "a-1", kind: "silent_meter", house_id: "house-03", municipality_id: "parlier",
      since: "2021-09-11T19:00:00+00:00", detail: "no reading after 2021-09-11T18:00:00+00:00",
    }] }));
    expect(html).toContain('data-testid="fleet-alert" data-kind="silent_meter" data-house="house-03"');
    expect(html).toContain(">silent meter<");
    expect(html).toContain("2021-09-11 12:00");
    expect(html).toContain("no reading after 2021-09-11T18:00:00+00:00");
    expect(html).toContain("1 open alert: 1 silent meter");
  });

  it("has an empty state", () => {
    const html = renderToStaticMarkup(createElement(AlertsView, { state: "empty", alerts: [] }));
    expect(html).toContain('data-testid="alerts-empty"');
    expect(html).toContain("No open alerts");
    expect(html).not.toContain("<table");
  });
});
