import { describe, expect, it } from "vitest";
import { NO_FILTERS, deadLetterQuery, deadLetterSource, deadLetterState, reasonChoices } from "./deadLetters";
import { append, reading } from "./deadLetters.testkit";

describe("the dead-letter filters as a query", () => {
  it("asks for everything (bounded) when nothing is chosen", () => {
    expect(deadLetterQuery(NO_FILTERS)).toEqual({ query: { limit: 200 }, errors: {} });
  });

  it("sends local days as Parlier midnights, the last day included, across a change of offset", () => {
    const { query, errors } = deadLetterQuery({ kind: "reading", reason: "negative_value", from: "2021-11-06", to: "2021-11-07" });
    expect(errors).toEqual({});
    expect(query).toEqual({
      limit: 200, kind: "reading", reason: "negative_value",
      since: "2021-11-06T00:00:00-07:00", until: "2021-11-08T00:00:00-08:00",
    });
  });

  it("takes a start or an end alone", () => {
    expect(deadLetterQuery({ ...NO_FILTERS, from: "2021-07-01" }).query).toEqual({ limit: 200, since: "2021-07-01T00:00:00-07:00" });
    expect(deadLetterQuery({ ...NO_FILTERS, to: "2021-07-01" }).query).toEqual({ limit: 200, until: "2021-07-02T00:00:00-07:00" });
  });

  it("names the field of a reversed range or an impossible day", () => {
    expect(deadLetterQuery({ ...NO_FILTERS, from: "2021-11-08", to: "2021-11-07" }).errors).toEqual({
      to: "the end date must be on or after the start date",
    });
    expect(deadLetterQuery({ ...NO_FILTERS, from: "2021-02-30" }).errors).toEqual({ from: "choose a start date" });
  });
});

describe("a dead letter in the table", () => {
  it("says where it came from: the file and line of a row, the producer and entry of an append", () => {
    expect(deadLetterSource(reading())).toBe("house-01.csv line 4 (house-01)");
    expect(deadLetterSource(append())).toBe("billing · entry invoice-x");
    expect(deadLetterSource(append({ producer: null }))).toBe("unknown producer · entry invoice-x");
  });

  it("is open until re-driven; an append is listed only", () => {
    expect(deadLetterState(reading())).toBe("open");
    const resolution = { reading_event_id: "r-1", raw: "fixed", redriven_by: "gsa-operator", resolved_at: "2026-12-01T11:00:00Z" };
    expect(deadLetterState(reading({ resolution }))).toBe("resolved");
    expect(deadLetterState(append())).toBe("listed");
  });

  it("offers every known reason and any new one met in a listing, once each", () => {
    const choices = reasonChoices({ negative_value: 2, brand_new_reason: 1 });
    expect(choices).toContain("battery_level_out_of_range");
    expect(choices).toContain("conflicting_entry");
    expect(choices.filter((r) => r === "negative_value")).toHaveLength(1);
    expect(choices).toContain("brand_new_reason");
    expect(choices).toEqual([...choices].sort());
  });
});
