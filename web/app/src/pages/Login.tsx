// Sign in with the ledger's OAuth2 password flow; the token's role picks the portal.

import { useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router-dom";
import { ApiError, apiRequest } from "../lib/api";
import { homeOf, sessionFromToken, useAuth } from "../lib/auth";
import { ErrorNotice, Field } from "../components/Form";

interface TokenOut {
  access_token: string;
  role: string;
}

export function LoginPage() {
  const { session, signIn } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (session) return <Navigate to={homeOf(session.role)} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    const local: Record<string, string> = {};
    if (!username.trim()) local.username = "enter your username";
    if (!password) local.password = "enter your password";
    setErrors(local);
    setError(null);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      const answer = await apiRequest<TokenOut>("ledger", "/auth/token", {
        form: { username: username.trim(), password },
      });
      const next = sessionFromToken(answer.access_token);
      if (!next) throw new ApiError(500, "the token endpoint answered with a token this app cannot read");
      signIn(next);
      const from = (location.state as { from?: string } | null)?.from;
      navigate(from && from.startsWith(`/${next.role}`) ? from : homeOf(next.role), { replace: true });
    } catch (caught) {
      const apiError = caught instanceof ApiError ? caught : new ApiError(0, String(caught));
      setErrors(apiError.fieldErrors);
      setError(apiError.message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="login-page">
      <form className="login card" onSubmit={submit} noValidate data-testid="login-form">
        <h1>
          <span className="logo">⚡</span> EnergyChain
        </h1>
        <p className="muted">Residents, municipalities and the grid services aggregator sign in here.</p>
        <Field label="Username" name="username" error={errors.username}>
          <input id="username" name="username" autoComplete="username" value={username}
            onChange={(e) => setUsername(e.target.value)} />
        </Field>
        <Field label="Password" name="password" error={errors.password}>
          <input id="password" name="password" type="password" autoComplete="current-password" value={password}
            onChange={(e) => setPassword(e.target.value)} />
        </Field>
        <ErrorNotice error={error} testId="login-error" />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
