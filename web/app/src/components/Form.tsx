// Form pieces: a labelled field with its error beside it, and a page-level error notice.

import type { ReactNode } from "react";
import type { ApiError } from "../lib/api";

// ``name`` is the field the checks and the service name (its error is `error-<name>`); ``inputId`` the id of the
// control the label is for, when it is not ``name`` (two forms on one page with a field of the same name).
export function Field({ label, name, inputId, error, children }: {
  label: string; name: string; inputId?: string; error?: string; children: ReactNode;
}) {
  return (
    <div className={`field${error ? " has-error" : ""}`}>
      <label className="field-label" htmlFor={inputId ?? name}>{label}</label>
      {children}
      {error ? (
        <span className="field-error" role="alert" data-testid={`error-${name}`}>
          {error}
        </span>
      ) : null}
    </div>
  );
}

export function ErrorNotice({ error, testId }: { error: ApiError | string | null | undefined; testId?: string }) {
  if (!error) return null;
  const message = typeof error === "string" ? error : error.message;
  return (
    <div className="notice error" role="alert" data-testid={testId ?? "error-notice"}>
      {message}
    </div>
  );
}

// ``state``: a stable data-state beside the test id (e.g. loading | live), for browser tests to wait on.
export function Card({ title, children, actions, testId, state }: {
  title: string; children: ReactNode; actions?: ReactNode; testId?: string; state?: string;
}) {
  return (
    <section className="card" data-testid={testId} data-state={state}>
      <header className="card-header">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}
