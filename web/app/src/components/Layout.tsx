// The portal frame: title, the role's navigation, who is signed in, sign out.

import { NavLink, Outlet } from "react-router-dom";
import { useAuth, type Role } from "../lib/auth";

const NAV: Record<Role, { to: string; label: string }[]> = {
  resident: [
    { to: "/resident/billing", label: "Billing" },
    { to: "/resident/trade", label: "Trade" },
    { to: "/resident/transactions", label: "Transactions" },
    { to: "/resident/usage", label: "Usage" },
  ],
  municipality: [
    { to: "/municipality/escrow", label: "Escrow" },
    { to: "/municipality/overview", label: "Overview" },
    { to: "/municipality/transactions", label: "Transactions" },
  ],
  gsa: [
    { to: "/gsa/dashboard", label: "Dashboard" },
    { to: "/gsa/market", label: "Market" },
    { to: "/gsa/accounts", label: "Accounts & escrow" },
    { to: "/gsa/operations", label: "Operations" },
    { to: "/gsa/program", label: "Program" },
    { to: "/gsa/users", label: "Users" },
  ],
};

const TITLE: Record<Role, string> = {
  resident: "Resident portal",
  municipality: "Municipal portal",
  gsa: "GSA dashboard",
};

export function Layout({ role }: { role: Role }) {
  const { session, signOut } = useAuth();
  return (
    <div className="app" data-role={role}>
      <header className="topbar">
        <div className="brand">
          <span className="logo">⚡</span> EnergyChain <span className="portal">{TITLE[role]}</span>
        </div>
        <nav>
          {NAV[role].map((item) => (
            <NavLink key={item.to} to={item.to} className={({ isActive }) => (isActive ? "active" : "")}>
              {item.label}
            </NavLink>
          ))}
        </nav>
        <div className="who">
          <span data-testid="signed-in-as">
            {session?.username}
            {session?.house ? ` · ${session.house}` : ""}
            {session?.municipality && role !== "resident" ? ` · ${session.municipality}` : ""}
          </span>
          <button type="button" className="link" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>
        <Outlet />
      </main>
    </div>
  );
}
