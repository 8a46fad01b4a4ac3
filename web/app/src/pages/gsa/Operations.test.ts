import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { channelVerdict, type Verification, type VerifyReport } from "../../lib/ledgerOps";
import { VerificationResult } from "./Operations";

const report = (overrides: Partial<VerifyReport> = {}): VerifyReport => ({
  channel: "resident:house-01", ok: true, entries_checked: 40, size: 40, root: "AAAA", checkpoint: 12,
  cosigned_by: ["witness-parlier"], failure: null, problems: [], ...overrides,
});

const render = (v: Verification) => renderToStaticMarkup(createElement("div", null, createElement(VerificationResult, { v, verdict: channelVerdict })));

describe("a channel's verification on the Operations page", () => {
  it("shows nothing until asked, then verifying, then the verdict", () => {
    expect(render({ state: "idle" })).toBe("<div></div>");
    expect(render({ state: "verifying" })).toContain("verifying…");
    expect(render({ state: "done", report: report() })).toContain("✓ 40 entries verify, proved in checkpoint 12 cosigned by witness-parlier");
    expect(render({ state: "error", message: "the service failed (500)" })).toContain("✗ could not verify: the service failed (500)");
  });

  it("lists every problem with where it is and what differs", () => {
    const leaf = { problem: "leaf mismatch", detail: "the bytes do not hash to the leaf", seq: 3, entry_id: "e-3" };
    const posting = { problem: "posting missing", detail: "not in the postings table", posting: "e-9/0/gsa:revenue" };
    const html = render({ state: "done", report: report({ ok: false, failure: leaf, problems: [leaf, posting] }) });
    expect(html).toContain('data-problem="leaf mismatch"');
    expect(html).toContain("seq 3 · entry e-3");
    expect(html).toContain("the bytes do not hash to the leaf");
    expect(html).toContain('data-problem="posting missing"');
    expect(html).toContain("posting e-9/0/gsa:revenue");
    expect(html).not.toContain("entries verify");
  });
});
