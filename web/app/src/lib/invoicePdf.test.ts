import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, apiFile, onUnauthorized } from "./api";
import { fetchInvoicePdf, invoicePdfFilename, invoicePdfLabel } from "./billing";
import { REVOKE_AFTER_MS, saveBlob } from "./download";

const PDF_BYTES = new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x2e, 0x37, 0x0a, 0x00, 0xff]);

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
  onUnauthorized(null);
});

function answering(response: Response) {
  const fetch = vi.fn(async (_url: string, _init: RequestInit) => response);
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

describe("invoice PDF download", () => {
  it("asks billing through the proxy for the invoice's PDF with the bearer token and resolves with its bytes", async () => {
    const fetch = answering(new Response(PDF_BYTES, { status: 200, headers: { "Content-Type": "application/pdf" } }));
    const blob = await fetchInvoicePdf("tok-1", "house-01.2021-09");
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/api/billing/resident/invoices/house-01.2021-09/pdf");
    expect(init.method).toBe("GET");
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer tok-1");
    expect((init.headers as Record<string, string>).Accept).toMatch(/^application\/pdf/);
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(PDF_BYTES);
    expect(blob.type).toBe("application/pdf");
  });

  it("sends an invoice id as one path segment", async () => {
    const fetch = answering(new Response(PDF_BYTES));
    await fetchInvoicePdf("tok-1", "../account");
    expect(fetch.mock.calls[0][0]).toBe("/api/billing/resident/invoices/..%2Faccount/pdf");
  });

  it("turns billing's refusal into an ApiError with its message and field", async () => {
    answering(new Response(JSON.stringify({ type: "about:blank", title: "Not Found", status: 404, detail: "invoice_id: no invoice 'x' on this account", field: "invoice_id" }),
      { status: 404, headers: { "Content-Type": "application/problem+json" } }));
    const error = await fetchInvoicePdf("tok-1", "x").catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(404);
    expect(error.message).toBe("no invoice 'x' on this account");
    expect(error.fieldErrors).toEqual({ invoice_id: "no invoice 'x' on this account" });
  });

  it("signs out on 401 and explains an unreachable server", async () => {
    const signedOut = vi.fn();
    onUnauthorized(signedOut);
    answering(new Response("", { status: 401 }));
    expect((await apiFile("billing", "/resident/invoices/x/pdf", { token: "old" }).catch((e) => e)).status).toBe(401);
    expect(signedOut).toHaveBeenCalledOnce();
    vi.stubGlobal("fetch", vi.fn(async () => { throw new TypeError("Failed to fetch"); }));
    expect((await apiFile("billing", "/x", { token: "t" }).catch((e) => e)).message).toMatch(/not reachable/);
  });

  it("names the file after the invoice, as billing does, with only safe characters", () => {
    expect(invoicePdfFilename("house-01.2021-09")).toBe("invoice-house-01.2021-09.pdf");
    expect(invoicePdfFilename('a"b/c;d é')).toBe("invoice-a_b_c_d__.pdf");
  });

  it("gives each PDF button an accessible name with the bill's period in full and the visible word PDF", () => {
    expect(invoicePdfLabel("2021-09")).toBe("Download the bill for September 2021 as a PDF");
    expect(invoicePdfLabel("2022-12")).toBe("Download the bill for December 2022 as a PDF");
    expect(invoicePdfLabel("bad")).toBe("Download the bill for bad as a PDF");
  });
});

describe("saving a fetched file", () => {
  it("clicks a temporary link to an object URL with the file name, removes it, and releases the URL later", () => {
    vi.useFakeTimers();
    const link = { href: "", download: "", rel: "", style: { display: "" }, click: vi.fn(), remove: vi.fn() };
    const appended: unknown[] = [];
    const doc = { createElement: vi.fn(() => link), body: { appendChild: (node: unknown) => appended.push(node) } };
    const urls = { createObjectURL: vi.fn(() => "blob:invoice"), revokeObjectURL: vi.fn() };
    const blob = new Blob([PDF_BYTES], { type: "application/pdf" });

    saveBlob(blob, "invoice-house-01.2021-09.pdf", doc as unknown as Document, urls);

    expect(urls.createObjectURL).toHaveBeenCalledWith(blob);
    expect(doc.createElement).toHaveBeenCalledWith("a");
    expect(appended).toEqual([link]);
    expect([link.href, link.download]).toEqual(["blob:invoice", "invoice-house-01.2021-09.pdf"]);
    expect(link.click).toHaveBeenCalledOnce();
    expect(link.remove).toHaveBeenCalledOnce();
    expect(urls.revokeObjectURL).not.toHaveBeenCalled();
    vi.advanceTimersByTime(REVOKE_AFTER_MS);
    expect(urls.revokeObjectURL).toHaveBeenCalledWith("blob:invoice");
  });
});
