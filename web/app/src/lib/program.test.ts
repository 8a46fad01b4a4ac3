import { afterEach, describe, expect, it, vi } from "vitest";
import { toApiError } from "./api";
import {
  AMENDMENT_FIELDS, EMPTY_AMENDMENT, EMPTY_MOVE, EMPTY_MUNICIPALITY, EMPTY_RESIDENT, MOVE_FIELDS, MUNICIPALITY_FIELDS,
  RESIDENT_FIELDS, amendContract, amendmentRows, bulkMessage, changedMessage, csvHeaderProblem, enrolResidentsCsv,
  fetchResidents, formRefusal, historyRows, moveHouse, moveRows, municipalityRows, registeredMessage, residentRows,
  residentsCsv, shapeAmendment, shapeMove, shapeMunicipality, shapeResident, type Municipality, type Resident,
  type ResidentDraft,
} from "./program";

const parlier: Municipality = {
  municipality_id: "parlier", name: "Parlier", timezone: "America/Los_Angeles", latitude: "36.61",
  escrow: { endowment_cents: 100000, share_percent: "5", cap_cents: 250000 },
};

function resident(house: string, municipality = "parlier", rate = "0.23"): Resident {
  return {
    house_id: house, username: `u-${house}`, name: "Luis Martinez", address: "8672 E Young Ave, Parlier, CA 93648",
    municipality_id: municipality,
    contract: { rate_usd_per_kwh: rate, escalator_percent: "2", battery_wh: 10000, reserve_wh: 2000, start_date: "2021-06-27", billing_basis: "delivered" },
  };
}

const draft = (changes: Partial<ResidentDraft> = {}): ResidentDraft => ({
  ...EMPTY_RESIDENT, house_id: "house-s01", username: "maria", name: "Maria Lopez", address: "1 Main St, Sanger, CA",
  municipality_id: "sanger", rate_usd_per_kwh: "0.25", battery_wh: "13500", reserve_wh: "2700", start_date: "2022-07-01",
  ...changes,
});

describe("onboarding a municipality", () => {
  it("shapes the form into billing's body: escrow money in cents, decimals kept as typed", () => {
    const { body, errors } = shapeMunicipality({ ...EMPTY_MUNICIPALITY, municipality_id: " sanger ", name: "Sanger", latitude: "36.70",
      endowment: "1,500.50", cap: "$3000", share_percent: "7.5" });
    expect(errors).toEqual({});
    expect(body).toEqual({
      municipality_id: "sanger", name: "Sanger", timezone: "America/Los_Angeles", latitude: "36.70",
      escrow: { endowment_cents: 150050, share_percent: "7.5", cap_cents: 300000 },
    });
  });
  it("names each bad input by billing's field, so its refusals land beside the same inputs", () => {
    const { body, errors } = shapeMunicipality({ municipality_id: "san ger", name: " ", timezone: "", latitude: "91",
      endowment: "10.005", share_percent: "101", cap: "-1" });
    expect(body).toBeNull();
    expect(Object.keys(errors).sort()).toEqual([...MUNICIPALITY_FIELDS].sort());
    expect(errors.latitude).toMatch(/-90 to 90/);
    expect(errors.share_percent).toMatch(/at most 100/);
    expect(shapeMunicipality({ ...EMPTY_MUNICIPALITY, municipality_id: "s", name: "S", latitude: "-36.5" }).errors).toEqual({});
  });
});

describe("enrolling a resident", () => {
  it("shapes the form into a resident with its contract: the rate a decimal string, energy in integer Wh", () => {
    const { body, errors } = shapeResident(draft({ billing_basis: "all_consumption" }));
    expect(errors).toEqual({});
    expect(body).toEqual({
      house_id: "house-s01", username: "maria", name: "Maria Lopez", address: "1 Main St, Sanger, CA", municipality_id: "sanger",
      contract: { rate_usd_per_kwh: "0.25", escalator_percent: "2", battery_wh: 13500, reserve_wh: 2700, start_date: "2022-07-01",
        billing_basis: "all_consumption" },
    });
  });
  it("mirrors the registry's rules: ids, a lower-case username, a rate above 0 with 6 decimals at most, reserve within battery", () => {
    const { body, errors } = shapeResident(draft({ house_id: "house 1", username: "Maria", rate_usd_per_kwh: "0.1234567",
      escalator_percent: "x", battery_wh: "0", reserve_wh: "1.5", start_date: "2022-02-30", billing_basis: "net", municipality_id: "" }));
    expect(body).toBeNull();
    expect(Object.keys(errors).sort()).toEqual(["battery_wh", "billing_basis", "escalator_percent", "house_id", "municipality_id",
      "rate_usd_per_kwh", "reserve_wh", "start_date", "username"]);
    expect(shapeResident(draft({ rate_usd_per_kwh: "0" })).errors.rate_usd_per_kwh).toMatch(/more than \$0/);
    expect(shapeResident(draft({ rate_usd_per_kwh: "100" })).errors.rate_usd_per_kwh).toMatch(/below \$100/);
    expect(shapeResident(draft({ reserve_wh: "13501" })).errors).toEqual({ reserve_wh: "the reserve must be at most the battery's capacity" });
    expect(shapeResident(draft({ reserve_wh: "13500" })).errors).toEqual({});
  });
  it("says whether an answer registered something now or found it registered alike", () => {
    expect(registeredMessage("resident", { ...resident("house-s01"), event_ids: ["e1"] })).toBe("house-s01 enrolled");
    expect(registeredMessage("resident", { ...resident("house-s01"), event_ids: [] })).toMatch(/already enrolled with these terms/);
    expect(registeredMessage("municipality", { ...parlier, event_ids: ["e2"] })).toBe("parlier onboarded");
  });
});

describe("amending a contract", () => {
  const contract = resident("house-01").contract; // start 2021-06-27, battery 10000 Wh
  it("sends only the terms filled in, with the day they take effect", () => {
    expect(shapeAmendment({ ...EMPTY_AMENDMENT, effective_date: "2021-10-01", rate_usd_per_kwh: " 0.21 " }, contract))
      .toEqual({ body: { effective_date: "2021-10-01", rate_usd_per_kwh: "0.21" }, errors: {} });
    expect(shapeAmendment({ effective_date: "2021-10-01", rate_usd_per_kwh: "", escalator_percent: "1.5", reserve_wh: "3000",
      billing_basis: "all_consumption" }, contract).body)
      .toEqual({ effective_date: "2021-10-01", escalator_percent: "1.5", reserve_wh: 3000, billing_basis: "all_consumption" });
  });
  it("asks for at least one term, and a day after the contract's start", () => {
    const { body, errors } = shapeAmendment({ ...EMPTY_AMENDMENT, effective_date: "2021-06-27" }, contract);
    expect(body).toBeNull();
    expect(errors).toEqual({
      effective_date: "the day must be after the contract's start 2021-06-27",
      rate_usd_per_kwh: "enter at least one term to change: rate, escalator, reserve or basis",
    });
    expect(shapeAmendment({ ...EMPTY_AMENDMENT, effective_date: "2021-02-30", reserve_wh: "1" }).errors)
      .toEqual({ effective_date: "choose the day it takes effect" });
    expect(shapeAmendment({ ...EMPTY_AMENDMENT, effective_date: "2022-01-01", reserve_wh: "1" },
      { ...contract, end_date: "2021-12-31" }).errors).toEqual({ effective_date: "the contract ended on 2021-12-31" });
  });
  it("mirrors the registry's rules for each term filled in, keyed by billing's field names", () => {
    const { body, errors } = shapeAmendment({ effective_date: "2021-10-01", rate_usd_per_kwh: "0", escalator_percent: "101",
      reserve_wh: "10001", billing_basis: "net" }, contract);
    expect(body).toBeNull();
    expect(Object.keys(errors).sort()).toEqual([...AMENDMENT_FIELDS].filter((f) => f !== "effective_date").sort());
    expect(errors.rate_usd_per_kwh).toMatch(/more than \$0/);
    expect(errors.reserve_wh).toBe("the reserve must be at most the battery's capacity (10000 Wh)");
    expect(shapeAmendment({ ...EMPTY_AMENDMENT, effective_date: "2021-10-01", reserve_wh: "10000" }, contract).errors).toEqual({});
    expect(shapeAmendment({ ...EMPTY_AMENDMENT, effective_date: "2021-10-01", reserve_wh: "1.5" }, contract).errors.reserve_wh)
      .toMatch(/whole Wh/);
  });
  it("says whether the amendment was recorded now or already", () => {
    const answer = { house_id: "house-01", effective_date: "2021-10-01", rate_usd_per_kwh: "0.21" };
    expect(changedMessage("amendment", { ...answer, event_ids: ["e1"] })).toBe("house-01 amended from 2021-10-01");
    expect(changedMessage("amendment", { ...answer, event_ids: [] })).toBe("house-01 was already amended alike from 2021-10-01: nothing changed");
  });
  it("shows billing's refusals beside their field: an invoiced period or a later amendment beside the day", () => {
    const invoiced = toApiError(422, { status: 422, field: "effective_date", rule: "effective_date_in_invoiced_period",
      detail: "effective_date: takes effect at 2021-08-01T00:00:00-07:00, inside a period already invoiced (through 2021-08-31); an issued invoice is never rewritten" });
    expect(formRefusal(invoiced, AMENDMENT_FIELDS).fieldErrors.effective_date).toMatch(/^takes effect at .* already invoiced/);
    const later = toApiError(409, { status: 409, field: "effective_date", rule: "amended_from_a_later_date",
      detail: "effective_date: the contract of 'house-01' is amended from 2021-11-01: a later amendment takes a later date" });
    expect(formRefusal(later, AMENDMENT_FIELDS)).toEqual({ notice: null,
      fieldErrors: { effective_date: "the contract of 'house-01' is amended from 2021-11-01: a later amendment takes a later date" } });
    const reserve = toApiError(422, { status: 422, field: "reserve_wh", detail: "reserve_wh: exceeds the battery (10000 Wh)" });
    expect(formRefusal(reserve, AMENDMENT_FIELDS).fieldErrors).toEqual({ reserve_wh: "exceeds the battery (10000 Wh)" });
  });
});

describe("moving a house", () => {
  const contract = resident("house-01").contract;
  it("shapes the form into billing's body, the day after the contract's start and a municipality chosen", () => {
    expect(shapeMove({ effective_date: "2021-10-01", municipality_id: "reedley" }, contract))
      .toEqual({ body: { effective_date: "2021-10-01", municipality_id: "reedley" }, errors: {} });
    const { body, errors } = shapeMove({ ...EMPTY_MOVE, effective_date: "2021-06-01" }, contract);
    expect(body).toBeNull();
    expect(Object.keys(errors).sort()).toEqual([...MOVE_FIELDS].sort());
    expect(errors.effective_date).toBe("the day must be after the contract's start 2021-06-27");
  });
  it("shows billing's refusal of another time zone or the same municipality beside the municipality", () => {
    const zone = toApiError(422, { status: 422, field: "municipality_id", rule: "move_keeps_time_zone",
      detail: "municipality_id: 'nyc' keeps America/New_York, 'parlier' America/Los_Angeles: a move keeps the time zone" });
    expect(formRefusal(zone, MOVE_FIELDS)).toEqual({ notice: null,
      fieldErrors: { municipality_id: "'nyc' keeps America/New_York, 'parlier' America/Los_Angeles: a move keeps the time zone" } });
    const later = toApiError(409, { status: 409, field: "effective_date", rule: "moved_from_a_later_date",
      detail: "effective_date: 'house-01' moved on 2021-11-01: a later move takes a later date" });
    expect(formRefusal(later, MOVE_FIELDS).fieldErrors).toEqual({ effective_date: "'house-01' moved on 2021-11-01: a later move takes a later date" });
  });
  it("says whether the move was recorded now or already", () => {
    const answer = { house_id: "house-01", effective_date: "2021-10-01", municipality_id: "reedley" };
    expect(changedMessage("move", { ...answer, event_ids: ["e1"] })).toBe("house-01 moved to reedley from 2021-10-01");
    expect(changedMessage("move", { ...answer, event_ids: [] })).toBe("house-01 was already moved there from 2021-10-01: nothing changed");
  });
});

describe("refusals beside the form", () => {
  it("puts a second enrolment with other terms (409) beside the house id", () => {
    const error = toApiError(409, { type: "urn:energychain:rule:registered-with-other-terms", status: 409, title: "Conflict",
      detail: "house_id: 'house-01' is enrolled with other terms", field: "house_id", rule: "registered-with-other-terms" });
    expect(formRefusal(error, RESIDENT_FIELDS)).toEqual({ fieldErrors: { house_id: "'house-01' is enrolled with other terms" }, notice: null });
  });
  it("maps a contract field's validation error by its last name, and one without an input to a notice naming it", () => {
    const error = toApiError(422, { status: 422, detail: "contract.rate_usd_per_kwh: Input should be greater than 0; contract: Value error, reserve_wh exceeds battery_wh",
      field: "contract.rate_usd_per_kwh", errors: [
        { field: "contract.rate_usd_per_kwh", location: "body", message: "Input should be greater than 0" },
        { field: "contract", location: "body", message: "Value error, reserve_wh exceeds battery_wh" },
      ] });
    expect(formRefusal(error, RESIDENT_FIELDS)).toEqual({
      fieldErrors: { rate_usd_per_kwh: "Input should be greater than 0" }, notice: "contract: Value error, reserve_wh exceeds battery_wh",
    });
  });
  it("keeps the line and column of a refused bulk row in the notice", () => {
    const error = toApiError(422, { status: 422, detail: "line 5: start_date: Input should be a valid date", field: "line 5: start_date" });
    expect(formRefusal(error, []).notice).toBe("line 5: start_date: Input should be a valid date");
    expect(formRefusal(toApiError(403, null), RESIDENT_FIELDS)).toEqual({ fieldErrors: {}, notice: "not permitted for your role" });
  });
});

describe("bulk enrolment files", () => {
  it("checks the header as billing does: every required column, nothing unknown, escalator and basis optional", () => {
    const header = "house_id,username,name,address,municipality_id,rate_usd_per_kwh,escalator_percent,battery_wh,reserve_wh,start_date,billing_basis";
    expect(csvHeaderProblem(`\uFEFF${header}\r\nh1,u1,N,A,parlier,0.23,,10000,2000,2021-06-27,\r\n`)).toBeNull();
    expect(csvHeaderProblem("house_id,username,name,address,municipality_id,rate_usd_per_kwh,battery_wh,reserve_wh,start_date\n")).toBeNull();
    expect(csvHeaderProblem("house_id,username,colour\n")).toMatch(/^missing columns name, address, .*; unknown columns colour; the columns are house_id,/);
    expect(csvHeaderProblem("  \n")).toMatch(/empty/);
  });
  it("writes residents with billing's header, quoting what needs it, so a file can be read back", () => {
    const csv = residentsCsv([resident("house-01")]);
    expect(csv.split("\n")).toEqual([
      "house_id,username,name,address,municipality_id,rate_usd_per_kwh,escalator_percent,battery_wh,reserve_wh,start_date,billing_basis",
      'house-01,u-house-01,Luis Martinez,"8672 E Young Ave, Parlier, CA 93648",parlier,0.23,2,10000,2000,2021-06-27,delivered',
      "",
    ]);
    expect(csvHeaderProblem(csv)).toBeNull();
  });
  it("sums up an upload", () => {
    expect(bulkMessage({ rows: 1200, enrolled: 1198, unchanged: 2 })).toBe("1,200 rows: 1,198 enrolled, 2 already enrolled alike");
    expect(bulkMessage({ rows: 1, enrolled: 0, unchanged: 1 })).toBe("1 row: 0 enrolled, 1 already enrolled alike");
  });
});

describe("requests", () => {
  afterEach(() => vi.unstubAllGlobals());

  function stubFetch(status: number, body: unknown) {
    const calls: { url: string; init: RequestInit }[] = [];
    vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    });
    return calls;
  }

  it("sends a bulk file as text/csv with the bearer token to billing's /admin/residents/bulk", async () => {
    const calls = stubFetch(201, { enrolled: 1, unchanged: 0, rows: 1 });
    expect(await enrolResidentsCsv("tok", "house_id\n")).toEqual({ enrolled: 1, unchanged: 0, rows: 1 });
    expect(calls[0].url).toBe("/api/billing/admin/residents/bulk");
    expect(calls[0].init.method).toBe("POST");
    expect(calls[0].init.body).toBe("house_id\n");
    expect(calls[0].init.headers).toMatchObject({ "Content-Type": "text/csv", Authorization: "Bearer tok" });
  });
  it("lists residents of one municipality, or all of them", async () => {
    const calls = stubFetch(200, []);
    await fetchResidents("tok", "parlier");
    await fetchResidents("tok", "");
    expect(calls.map((c) => c.url)).toEqual(["/api/billing/admin/residents?municipality_id=parlier", "/api/billing/admin/residents"]);
  });
  it("posts an amendment and a move to the house's own routes, the house id encoded", async () => {
    const calls = stubFetch(201, { house_id: "house 1", effective_date: "2021-10-01", rate_usd_per_kwh: "0.21", event_ids: ["e1"] });
    await amendContract("tok", "house 1", { effective_date: "2021-10-01", rate_usd_per_kwh: "0.21" });
    await moveHouse("tok", "house 1", { effective_date: "2021-10-01", municipality_id: "reedley" });
    expect(calls.map((c) => [c.init.method, c.url])).toEqual([
      ["POST", "/api/billing/admin/residents/house%201/amendments"], ["POST", "/api/billing/admin/residents/house%201/moves"]]);
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ effective_date: "2021-10-01", rate_usd_per_kwh: "0.21" });
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ effective_date: "2021-10-01", municipality_id: "reedley" });
  });
  it("rejects a refused bulk file with the line and column billing names", async () => {
    stubFetch(422, { status: 422, detail: "line 5: start_date: Input should be a valid date", field: "line 5: start_date" });
    const refused = await enrolResidentsCsv("tok", "x").catch((e) => e);
    expect(refused.status).toBe(422);
    expect(formRefusal(refused, []).notice).toBe("line 5: start_date: Input should be a valid date");
  });
});

describe("tables", () => {
  it("shows municipalities in id order with their escrow terms and residents' count", () => {
    const reedley = { ...parlier, municipality_id: "reedley", name: "Reedley", latitude: "36.60" };
    const rows = municipalityRows([reedley, parlier], [resident("house-01"), resident("house-02"), resident("house-r01", "reedley")]);
    expect(rows.map((r) => [r.id, r.residents])).toEqual([["parlier", 2], ["reedley", 1]]);
    expect(rows[0]).toMatchObject({ endowment: "$1,000.00", share: "5 %", cap: "$2,500.00", latitude: "36.61°" });
  });
  it("shows residents in house order (house-2 before house-10), those of one municipality when filtered", () => {
    const all = [resident("house-10"), resident("house-r01", "reedley"), resident("house-2", "parlier", "0.230000")];
    expect(residentRows(all).map((r) => r.house)).toEqual(["house-2", "house-10", "house-r01"]);
    const parlierRows = residentRows(all, "parlier");
    expect(parlierRows.map((r) => r.house)).toEqual(["house-2", "house-10"]);
    expect(parlierRows[0]).toMatchObject({ rate: "$0.23/kWh", escalator: "2 %/yr", battery: "10.000 kWh", reserve: "2.000 kWh",
      start: "2021-06-27", basis: "energy delivered" });
  });
  it("lists a house under a municipality it moved to as well as under the one it was enrolled in", () => {
    const moved = { ...resident("house-05"), moves: [{ effective_date: "2021-10-01", municipality_id: "reedley" }] };
    expect(residentRows([moved, resident("house-r01", "reedley")], "reedley").map((r) => r.house)).toEqual(["house-05", "house-r01"]);
    expect(residentRows([moved], "parlier").map((r) => r.house)).toEqual(["house-05"]);
  });
  it("shows a contract's amendments and a house's moves in date order", () => {
    expect(amendmentRows([
      { effective_date: "2022-01-01", rate_usd_per_kwh: "0.2", escalator_percent: "2", reserve_wh: 3000, billing_basis: "all_consumption" },
      { effective_date: "2021-10-01", rate_usd_per_kwh: "0.210000", escalator_percent: "1.5", reserve_wh: 2000, billing_basis: "delivered" },
    ])).toEqual([
      { from: "2021-10-01", rate: "$0.21/kWh", escalator: "1.5 %/yr", reserve: "2.000 kWh", basis: "energy delivered" },
      { from: "2022-01-01", rate: "$0.20/kWh", escalator: "2 %/yr", reserve: "3.000 kWh", basis: "all consumption" },
    ]);
    expect(amendmentRows(undefined)).toEqual([]);
    expect(moveRows("parlier", [{ effective_date: "2022-01-01", municipality_id: "sanger" }, { effective_date: "2021-10-01", municipality_id: "reedley" }]))
      .toEqual([{ from: "2021-10-01", before: "parlier", municipality: "reedley" }, { from: "2022-01-01", before: "reedley", municipality: "sanger" }]);
  });
  it("shows a resident's history: the seed file's entry, then enrolments with who recorded them and when", () => {
    const rows = historyRows([
      { change: "seeded", source: "data/registry.json" },
      { change: "enrolled", recorded_at: "2026-01-02T18:30:00+00:00", recorded_by: "gsa-operator", event_id: "ev-1" },
      { change: "amended", recorded_at: "2026-01-03T18:30:00+00:00", recorded_by: "gsa-operator", event_id: "ev-2" },
      { change: "moved", recorded_at: "2026-01-04T18:30:00+00:00", recorded_by: "gsa-operator", event_id: "ev-3" },
    ]);
    expect(rows).toEqual([
      { change: "seeded", when: "—", by: "seed file", event: "—", source: "data/registry.json" },
      { change: "enrolled", when: "2026-01-02 10:30", by: "gsa-operator", event: "ev-1", source: "program.registry" },
      { change: "amended", when: "2026-01-03 10:30", by: "gsa-operator", event: "ev-2", source: "program.registry" },
      { change: "moved", when: "2026-01-04 10:30", by: "gsa-operator", event: "ev-3", source: "program.registry" },
    ]);
  });
});
