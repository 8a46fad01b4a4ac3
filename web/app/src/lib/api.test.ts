import { describe, expect, it } from "vitest";
import { apiUrl, toApiError } from "./api";
import { sessionFromToken } from "./auth";

describe("API error mapping", () => {
  it("maps a FastAPI 422 list to messages on the named fields, leaving out where the value came from", () => {
    const error = toApiError(422, {
      detail: [
        { loc: ["body", "reserve_percent"], msg: "Input should be a valid integer", type: "int_parsing" },
        { loc: ["query", "from"], msg: "'from' must be before 'to'" },
      ],
    });
    expect(error.status).toBe(422);
    expect(error.fieldErrors).toEqual({ reserve_percent: "Input should be a valid integer", from: "'from' must be before 'to'" });
    expect(error.message).toContain("reserve_percent: Input should be a valid integer");
  });
  it("maps the billing and escrow refusal object {field, message} to its field", () => {
    const error = toApiError(422, { detail: { field: "amount", message: "at most 2 decimal places" } });
    expect(error.fieldErrors).toEqual({ amount: "at most 2 decimal places" });
    expect(error.message).toBe("at most 2 decimal places");
  });
  it("maps a market refusal object to its field", () => {
    const error = toApiError(422, { detail: { rule: "min_price_at_least_ppa_rate", field: "min_price_usd_per_kwh", message: "must be at least 0.23" } });
    expect(error.fieldErrors).toEqual({ min_price_usd_per_kwh: "must be at least 0.23" });
    expect(error.message).toBe("must be at least 0.23");
  });
  it("reads a field named before the colon of a detail string, and keeps other strings whole", () => {
    expect(toApiError(422, { detail: "end: must be on or after start" }).fieldErrors).toEqual({ end: "must be on or after start" });
    const plain = toApiError(409, { detail: "replay already running: pause, resume or change speed" });
    expect(plain.fieldErrors).toEqual({});
    expect(plain.message).toBe("replay already running: pause, resume or change speed");
  });
  it("explains a refusal without a body by its status", () => {
    expect(toApiError(403, null).message).toMatch(/not permitted/);
    expect(toApiError(502, "").message).toMatch(/not reachable/);
  });
});

describe("requests and sessions", () => {
  it("keeps a refusal object without a field as a message for the whole form", () => {
    const error = toApiError(409, { detail: { rule: "clock_started", field: null, message: "the simulated clock has not started yet" } });
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
