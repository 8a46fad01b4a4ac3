// The escrow service's APIs, typed as the escrow contract names their fields. A municipality reads
// its own escrow; the GSA reads any municipality's under /gsa/escrow/{municipality_id}.

import { apiRequest } from "./api";
import { formatCents, formatMonth } from "./format";

export interface EscrowSummary {
  municipality_id: string;
  balance_cents: number;
  cap_cents: number;
  share_percent: string;
  endowment_cents: number;
  treasury_total_cents: number;
  processed_until: string | null;
}

export interface EscrowMonth {
  month: string; // YYYY-MM
  opening_cents: number;
  payment_share_cents: number;
  repayment_cents: number;
  past_due_cover_cents: number;
  treasury_rollover_cents: number;
  endowment_cents: number;
  closing_cents: number;
  cover_event: boolean;
}

export interface EscrowMovement {
  movement_id: string;
  occurred_at: string;
  kind: string;
  amount_cents: number; // signed: + into escrow, - out
  balance_after_cents: number;
  house_id: string | null;
  invoice_id: string | null;
}

export interface Rollover {
  month: string;
  occurred_at: string;
  amount_cents: number;
}

export interface PastDueCover {
  house_id: string;
  invoice_id: string;
  due_at: string;
  unpaid_cents: number;
  covered_cents: number;
  shortfall_cents: number;
  escrow_debt_cents: number;
}

/** Whose escrow: the caller's own municipality, or (GSA) a named one. */
export type EscrowScope = { own: true } | { municipality: string };

/** The path prefix of a scope's escrow routes. */
export function escrowBase(scope: EscrowScope): string {
  return "own" in scope ? "/municipality/escrow" : `/gsa/escrow/${encodeURIComponent(scope.municipality)}`;
}

type Signal = AbortSignal | undefined;

export const fetchEscrow = (token: string, scope: EscrowScope, signal?: Signal) =>
  apiRequest<EscrowSummary>("escrow", escrowBase(scope), { token, signal });

export const fetchEscrowMonthly = (token: string, scope: EscrowScope, signal?: Signal) =>
  apiRequest<EscrowMonth[]>("escrow", `${escrowBase(scope)}/monthly`, { token, signal });

export const fetchMovements = (token: string, scope: EscrowScope, range: { from?: string; to?: string }, signal?: Signal) =>
  apiRequest<EscrowMovement[]>("escrow", `${escrowBase(scope)}/movements`, { token, signal, query: range });

export const fetchRollovers = (token: string, scope: EscrowScope, signal?: Signal) =>
  apiRequest<Rollover[]>("escrow", `${escrowBase(scope)}/rollovers`, { token, signal });

export const fetchPastDue = (token: string, scope: EscrowScope, signal?: Signal) =>
  apiRequest<PastDueCover[]>("escrow", `${escrowBase(scope)}/past-due`, { token, signal });

export const fetchEveryEscrow = (token: string, signal?: Signal) =>
  apiRequest<EscrowSummary[]>("escrow", "/gsa/escrow", { token, signal });

const KIND_LABELS: Record<string, string> = {
  endowment: "endowment",
  payment_share: "payment share",
  repayment: "repayment of cover",
  past_due_cover: "past-due cover",
  treasury_rollover: "rollover to treasury",
};

/** A movement kind as a person reads it ("past_due_cover" -> "past-due cover"). */
export function movementLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind.replace(/_/g, " ");
}

/** The escrow chart: closing balance per month, marked in months when escrow covered a past-due bill. */
export function escrowBars(months: EscrowMonth[]) {
  return [...months]
    .sort((a, b) => a.month.localeCompare(b.month))
    .map((m) => {
      const parts = [
        `${formatMonth(m.month)}: opened ${formatCents(m.opening_cents)}`,
        m.endowment_cents ? `endowment ${formatCents(m.endowment_cents)}` : "",
        m.payment_share_cents ? `payment shares ${formatCents(m.payment_share_cents)}` : "",
        m.repayment_cents ? `repayments ${formatCents(m.repayment_cents)}` : "",
        m.past_due_cover_cents ? `past-due cover ${formatCents(m.past_due_cover_cents)}` : "",
        m.treasury_rollover_cents ? `rolled over ${formatCents(m.treasury_rollover_cents)}` : "",
        `closed ${formatCents(m.closing_cents)}`,
      ];
      return {
        label: formatMonth(m.month),
        value: m.closing_cents,
        marked: m.cover_event,
        title: parts.filter(Boolean).join("; "),
      };
    });
}
