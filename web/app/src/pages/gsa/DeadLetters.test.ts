import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import type { DeadLetter } from "../../lib/deadLetters";
import { append, reading } from "../../lib/deadLetters.testkit";
import { DeadLetterTable } from "./DeadLetters";

const render = (letters: DeadLetter[]) =>
  renderToStaticMarkup(createElement(DeadLetterTable, { letters, token: "t", onRedriven: () => undefined }));

describe("the dead-letter table on the Operations page", () => {
  it("gives an open reading its row to correct, labelled by file and line, and its reason and detail", () => {
    const html = render([reading()]);
    expect(html).toContain('data-state="open"');
    expect(html).toContain('data-reason="negative_value"');
    expect(html).toContain('data-testid="redrive-form"');
    expect(html).toContain('aria-label="Corrected row of house-01.csv line 4 (house-01)"');
    expect(html).toContain('value="2021-11-07T01:00:00,0,0,0,-0.60,0,0.60,40"');
    expect(html).toContain("-0.60 kWh is negative");
    expect(html).toContain("2021-11-07 02:00"); // the end of the second 01:00 (PST), in Parlier
  });

  it("shows how a resolved reading was resolved, and an append without a form", () => {
    const resolution = { reading_event_id: "r-1", raw: "fixed", redriven_by: "gsa-operator", resolved_at: "2026-12-01T11:00:00Z" };
    const html = render([reading({ resolution }), append()]);
    expect(html).not.toContain('data-testid="redrive-form"');
    expect(html).toContain("re-driven by gsa-operator");
    expect(html).toContain(">r-1<");
    expect(html).toContain('data-state="listed"');
    expect(html).toContain("billing · entry invoice-x");
    expect(html).toContain("listed only");
  });

  it("has column headers and says when nothing matches", () => {
    const html = render([]);
    expect(html.match(/<th scope="col">/g)).toHaveLength(6);
    expect(html).toContain("No dead letters match.");
  });
});
