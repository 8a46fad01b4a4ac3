// Routes and guards: the token's role decides the portal; another role's pages show "not permitted".
// (The services refuse the other role's data on their own; this only keeps the browser honest.)

import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { BrowserRouter, Link, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { onUnauthorized } from "./lib/api";
import { AuthContext, homeOf, loadSession, saveSession, useAuth, type Role, type Session } from "./lib/auth";
import { Layout } from "./components/Layout";
import { LoginPage } from "./pages/Login";
import { ResidentBilling } from "./pages/resident/Billing";
import { ResidentTrade } from "./pages/resident/Trade";
import { ResidentTransactions } from "./pages/resident/Transactions";
import { ResidentUsage } from "./pages/resident/Usage";
import { MunicipalEscrow } from "./pages/municipality/Escrow";
import { MunicipalOverview } from "./pages/municipality/Overview";
import { MunicipalTransactions } from "./pages/municipality/Transactions";
import { GsaDashboard } from "./pages/gsa/Dashboard";
import { GsaMarket } from "./pages/gsa/Market";
import { GsaOperations } from "./pages/gsa/Operations";
import { GsaProgram } from "./pages/gsa/Program";
import { GsaUsers } from "./pages/gsa/Users";
import { GsaAccounts } from "./pages/gsa/Accounts";

function RequireRole({ role, children }: { role: Role; children: ReactNode }) {
  const { session } = useAuth();
  const location = useLocation();
  if (!session) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  if (session.role !== role) {
    return (
      <div className="forbidden" data-testid="forbidden">
        <h1>Not permitted</h1>
        <p>
          You are signed in as <strong>{session.username}</strong> ({session.role}); this page belongs to the {role}{" "}
          portal.
        </p>
        <Link to={homeOf(session.role)}>Go to your portal</Link>
      </div>
    );
  }
  return <>{children}</>;
}

function Home() {
  const { session } = useAuth();
  return <Navigate to={session ? homeOf(session.role) : "/login"} replace />;
}

export function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const signIn = useCallback((next: Session) => {
    saveSession(next);
    setSession(next);
  }, []);
  const signOut = useCallback(() => {
    saveSession(null);
    setSession(null);
  }, []);
  useEffect(() => {
    onUnauthorized(signOut);
    return () => onUnauthorized(null);
  }, [signOut]);
  const auth = useMemo(() => ({ session, signIn, signOut }), [session, signIn, signOut]);

  return (
    <AuthContext.Provider value={auth}>
      <BrowserRouter>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route path="/resident" element={<RequireRole role="resident"><Layout role="resident" /></RequireRole>}>
            <Route index element={<Navigate to="billing" replace />} />
            <Route path="billing" element={<ResidentBilling />} />
            <Route path="trade" element={<ResidentTrade />} />
            <Route path="transactions" element={<ResidentTransactions />} />
            <Route path="usage" element={<ResidentUsage />} />
          </Route>
          <Route
            path="/municipality"
            element={<RequireRole role="municipality"><Layout role="municipality" /></RequireRole>}
          >
            <Route index element={<Navigate to="escrow" replace />} />
            <Route path="escrow" element={<MunicipalEscrow />} />
            <Route path="overview" element={<MunicipalOverview />} />
            <Route path="transactions" element={<MunicipalTransactions />} />
          </Route>
          <Route path="/gsa" element={<RequireRole role="gsa"><Layout role="gsa" /></RequireRole>}>
            <Route index element={<Navigate to="dashboard" replace />} />
            <Route path="dashboard" element={<GsaDashboard />} />
            <Route path="market" element={<GsaMarket />} />
            <Route path="accounts" element={<GsaAccounts />} />
            <Route path="operations" element={<GsaOperations />} />
            <Route path="program" element={<GsaProgram />} />
            <Route path="users" element={<GsaUsers />} />
          </Route>
          <Route path="*" element={<Home />} />
        </Routes>
      </BrowserRouter>
    </AuthContext.Provider>
  );
}
