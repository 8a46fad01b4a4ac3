import { describe, expect, it } from "vitest";
import { apiUrl, toApiError } from "./api";
import { sessionFromToken } from "./auth";

describe("API error mapping (RFC 9457 problem details)", () => {
  const problem = (status: number, members: Record<string, unknown>) =>
    ({ type: "about:blank", title: "Unprocessable Content", status, ...members });

  it("maps every invalid input of a validation problem to its form field, by the last name of its path", () => {
    const error = toApiError(422, problem(422, {
      detail: "reserve_percent: Input should be a valid integer; from: 'from' must be before 'to'",
      field: "reserve_percent",
      errors: [
        { field: "reserve_percent", location: "body", message: "Input should be a valid integer" },
        { field: "lines.0.from", location: "body", message: "'from' must be before 'to'" },
      ],
    }));
    expect(error.status).toBe(422);
    expect(error.fieldErrors).toEqual({ reserve_percent: "Input should be a valid integer", from: "'from' must be before 'to'" });
    expect(error.message).toContain("reserve_percent: Input should be a valid integer");
  });
  it("shows a refusal naming one field by its message alone, beside that field", () => {
    const error = toApiError(422, problem(422, { detail: "amount: at most 2 decimal places", field: "amount" }));
    expect(error.fieldErrors).toEqual({ amount: "at most 2 decimal places" });
    expect(error.message).toBe("at most 2 decimal places");
  });
  it("maps a business rule's problem to its field", () => {
    const error = toApiError(422, problem(422, {
      type: "urn:energychain:rule:min_price_at_least_ppa_rate", rule: "min_price_at_least_ppa_rate",
      field: "min_price_usd_per_kwh", detail: "min_price_usd_per_kwh: must be at least 0.23",
    }));
    expect(error.fieldErrors).toEqual({ min_price_usd_per_kwh: "must be at least 0.23" });
    expect(error.message).toBe("must be at least 0.23");
  });
  it("keeps a problem without a field as one message for the whole form", () => {
    const plain = toApiError(409, problem(409, { detail: "replay already running: pause, resume or change speed" }));
    expect(plain.fieldErrors).toEqual({});
    expect(plain.message).toBe("replay already running: pause, resume or change speed");
  });
  it("explains a refusal without a problem body by its status", () => {
    expect(toApiError(403, null).message).toMatch(/not permitted/);
    expect(toApiError(502, "").message).toMatch(/not reachable/);
    expect(toApiError(500, { unexpected: true }).message).toMatch(/failed \(500\)/);
  });
});

describe("requests and sessions", () => {
  it("keeps a rule's problem without a field as a message for the whole form", () => {
    const error = toApiError(409, { type: "urn:energychain:rule:clock_started", title: "Conflict", status: 409,
      detail: "the simulated clock has not started yet", rule: "clock_started", field: null });
    expect(error.fieldErrors).toEqual({});
    expect(error.message).toBe("the simulated clock has not started yet");
  });
  it("builds same-origin URLs under /api/<service>, repeating array parameters and dropping empty ones", () => {
    expect(apiUrl("market", "/gsa/usage/hourly", { start: "2022-01-01", house_id: ["house-01", "house-02"], kind: undefined }))
      .toBe("/api/market/gsa/usage/hourly?start=2022-01-01&house_id=house-01&house_id=house-02");
  });
  it("reads role, house and municipality from a token's claims", () => {
    const claims = btoa(JSON.stringify({ sub: "luis", role: "resident", house: "house-01", municipality: "parlier", exp: 2_000_000_000 }))
      .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
    const session = sessionFromToken(`xx.${claims}.sig`);
    expect(session).toMatchObject({ role: "resident", username: "luis", house: "house-01", municipality: "parlier" });
    expect(sessionFromToken("not-a-token")).toBeNull();
  });
});
