import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./api";
import { fetchUsageExport, usageExportFilename, usageExportQuery } from "./usageExport";

const FEED = '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"></feed>\n';

afterEach(() => {
  vi.unstubAllGlobals();
});

function answering(response: Response) {
  const fetch = vi.fn(async (_url: string, _init: RequestInit) => response);
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

describe("usage export (Green Button XML, CSV)", () => {
  it("sends the form's inclusive last day as the day after it, in local days", () => {
    expect(usageExportQuery("2021-11-01", "2021-11-30", "xml")).toEqual({ from: "2021-11-01", to: "2021-12-01", format: "xml" });
    expect(usageExportQuery("2021-07-01", "2022-06-30", "csv")).toEqual({ from: "2021-07-01", to: "2022-07-01", format: "csv" });
  });

  it("asks billing through the proxy with the bearer token and the format's media type, and resolves with the bytes", async () => {
    const fetch = answering(new Response(FEED, { status: 200, headers: { "Content-Type": "application/atom+xml" } }));
    const blob = await fetchUsageExport("tok-1", usageExportQuery("2021-11-01", "2021-11-30", "xml"));
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/api/billing/resident/usage/greenbutton?from=2021-11-01&to=2021-12-01&format=xml");
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer tok-1");
    expect((init.headers as Record<string, string>).Accept).toMatch(/^application\/atom\+xml/);
    expect(await blob.text()).toBe(FEED);
  });

  it("asks for text/csv when the format is csv", async () => {
    const fetch = answering(new Response("local_start,utc_start\r\n", { status: 200, headers: { "Content-Type": "text/csv" } }));
    await fetchUsageExport("tok-1", usageExportQuery("2022-03-13", "2022-03-13", "csv"));
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/api/billing/resident/usage/greenbutton?from=2022-03-13&to=2022-03-14&format=csv");
    expect((init.headers as Record<string, string>).Accept).toMatch(/^text\/csv/);
  });

  it("maps billing's refusal to the field it names", async () => {
    answering(new Response(JSON.stringify({ type: "about:blank", title: "Unprocessable Content", status: 422, detail: "to: the range is limited to 366 days", field: "to" }),
      { status: 422, headers: { "Content-Type": "application/problem+json" } }));
    const error = await fetchUsageExport("tok-1", usageExportQuery("2021-01-01", "2022-06-30", "xml")).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.fieldErrors).toEqual({ to: "the range is limited to 366 days" });
  });

  it("names the file as billing does, after the house and the inclusive local days", () => {
    expect(usageExportFilename("house-01", "2021-11-01", "2021-11-30", "xml")).toBe("usage-house-01-2021-11-01-to-2021-11-30.xml");
    expect(usageExportFilename("a/b", "2021-11-01", "2021-11-30", "csv")).toBe("usage-a_b-2021-11-01-to-2021-11-30.csv");
    expect(usageExportFilename(null, "2021-11-01", "2021-11-01", "csv")).toBe("usage-house-2021-11-01-to-2021-11-01.csv");
  });
});
