// Who is signed in: the bearer token from the ledger's token endpoint and the claims it carries.
// The claims only steer the browser (which portal to show); every service checks the token itself.

import { createContext, useContext } from "react";

export type Role = "resident" | "municipality" | "gsa";

export interface Session {
  token: string;
  role: Role;
  username: string;
  municipality: string | null;
  house: string | null;
  expiresAt: number; // epoch seconds
}

const ROLES: readonly Role[] = ["resident", "municipality", "gsa"];
const STORAGE_KEY = "energychain.session";

function base64UrlDecode(part: string): string {
  const padded = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Read a token's claims (no signature check: the services do that); null when it is not one of ours. */
export function sessionFromToken(token: string): Session | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1])) as Record<string, unknown>;
    const role = claims.role as Role;
    if (!ROLES.includes(role) || typeof claims.sub !== "string" || typeof claims.exp !== "number") return null;
    return {
      token,
      role,
      username: claims.sub,
      municipality: typeof claims.municipality === "string" ? claims.municipality : null,
      house: typeof claims.house === "string" ? claims.house : null,
      expiresAt: claims.exp,
    };
  } catch {
    return null;
  }
}

/** True while the session's token has not expired. */
export function isLive(session: Session | null, nowMs = Date.now()): session is Session {
  return session !== null && session.expiresAt * 1000 > nowMs;
}

/** The landing page of each role's portal. */
export function homeOf(role: Role): string {
  return { resident: "/resident/billing", municipality: "/municipality/escrow", gsa: "/gsa/dashboard" }[role];
}

export function loadSession(): Session | null {
  const token = sessionStorage.getItem(STORAGE_KEY);
  const session = token ? sessionFromToken(token) : null;
  return isLive(session) ? session : null;
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(STORAGE_KEY, session.token);
  else sessionStorage.removeItem(STORAGE_KEY);
}

export interface AuthState {
  session: Session | null;
  signIn: (session: Session) => void;
  signOut: () => void;
}

export const AuthContext = createContext<AuthState>({ session: null, signIn: () => {}, signOut: () => {} });

export function useAuth(): AuthState {
  return useContext(AuthContext);
}

/** The signed-in session; only called inside a role guard, which guarantees one. */
export function useSession(): Session {
  const { session } = useAuth();
  if (!session) throw new Error("useSession outside a signed-in route");
  return session;
}
