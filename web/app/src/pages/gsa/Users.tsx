// Users: the GSA creates resident and municipality users, and disables or enables them (the ledger owns users).

import { useState, type FormEvent } from "react";
import { ApiError, apiRequest } from "../../lib/api";
import { useSession } from "../../lib/auth";
import { formatTime } from "../../lib/format";
import { usePoll } from "../../lib/usePoll";
import { Card, ErrorNotice, Field } from "../../components/Form";

interface User { username: string; role: string; municipality_id: string | null; house_id: string | null; disabled_at: string | null; created_at: string }

const EMPTY = { username: "", role: "resident", house_id: "", municipality_id: "", password: "" };

export function GsaUsers() {
  const session = useSession();
  const token = session.token;
  const users = usePoll((signal) => apiRequest<User[]>("ledger", "/admin/users", { token, signal, query: { limit: 1000 } }), [token], 10000);
  const [draft, setDraft] = useState(EMPTY);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<ApiError | null>(null);
  const [done, setDone] = useState("");

  async function create(event: FormEvent) {
    event.preventDefault();
    setErrors({}); setFailure(null); setDone("");
    const resident = draft.role === "resident";
    try {
      const created = await apiRequest<User>("ledger", "/admin/users", { token, json: {
        username: draft.username, role: draft.role, password: draft.password,
        house_id: resident ? draft.house_id || null : null, municipality_id: resident ? null : draft.municipality_id || null,
      } });
      setDone(`created ${created.username} (${created.role}${created.house_id ? `, ${created.house_id}` : ""}, ${created.municipality_id})`);
      setDraft(EMPTY);
      users.reload();
    } catch (caught) {
      const error = caught as ApiError;
      setErrors(error.fieldErrors ?? {});
      setFailure(error);
    }
  }

  async function setEnabled(user: User, enabled: boolean) {
    setFailure(null); setDone("");
    try {
      await apiRequest<User>("ledger", `/admin/users/${encodeURIComponent(user.username)}/${enabled ? "enable" : "disable"}`, { token, method: "POST" });
      setDone(`${user.username} ${enabled ? "enabled" : "disabled"}`);
      users.reload();
    } catch (caught) {
      setFailure(caught as ApiError);
    }
  }

  return (
    <div className="page">
      <Card title="New user" testId="user-create">
        <form onSubmit={create} noValidate>
          <div className="form-row">
            <Field label="Username" name="username" error={errors.username}>
              <input id="username" value={draft.username} onChange={(e) => setDraft({ ...draft, username: e.target.value })} />
            </Field>
            <Field label="Role" name="role" error={errors.role}>
              <select id="role" value={draft.role} onChange={(e) => setDraft({ ...draft, role: e.target.value })}>
                <option value="resident">resident</option>
                <option value="municipality">municipality</option>
              </select>
            </Field>
            {draft.role === "resident" ? (
              <Field label="House" name="house_id" error={errors.house_id}>
                <input id="house_id" placeholder="house-01" value={draft.house_id} onChange={(e) => setDraft({ ...draft, house_id: e.target.value })} />
              </Field>
            ) : (
              <Field label="Municipality" name="municipality_id" error={errors.municipality_id}>
                <input id="municipality_id" placeholder="parlier" value={draft.municipality_id} onChange={(e) => setDraft({ ...draft, municipality_id: e.target.value })} />
              </Field>
            )}
            <Field label="Password (12+ characters)" name="password" error={errors.password}>
              <input id="password" type="password" autoComplete="new-password" value={draft.password} onChange={(e) => setDraft({ ...draft, password: e.target.value })} />
            </Field>
          </div>
          <button type="submit">Create user</button>
        </form>
        {done ? <p className="notice" role="status" data-testid="user-done">{done}</p> : null}
        <ErrorNotice error={failure && Object.keys(errors).length === 0 ? failure : null} />
      </Card>
      <Card title="Users" testId="user-list">
        <ErrorNotice error={users.error} />
        <div className="table-scroll"><table>
          <thead><tr><th>Username</th><th>Role</th><th>Municipality</th><th>House</th><th>Status</th><th>Created</th><th></th></tr></thead>
          <tbody>{(users.data ?? []).map((u) => (
            <tr key={u.username} data-testid="user-row" data-user={u.username}>
              <td>{u.username}</td><td>{u.role}</td><td>{u.municipality_id ?? "—"}</td><td>{u.house_id ?? "—"}</td>
              <td><span className={`badge ${u.disabled_at ? "cancelled" : "settled"}`}>{u.disabled_at ? `disabled ${formatTime(u.disabled_at)}` : "active"}</span></td>
              <td>{formatTime(u.created_at)}</td>
              <td>{u.username === session.username ? null : (
                <button type="button" onClick={() => setEnabled(u, Boolean(u.disabled_at))}>{u.disabled_at ? "Enable" : "Disable"}</button>
              )}</td>
            </tr>
          ))}</tbody>
        </table></div>
      </Card>
    </div>
  );
}
