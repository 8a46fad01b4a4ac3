// The one way the app talks to the services: /api/<service>/<path> on this origin,
// with the caller's bearer token, and every refusal turned into messages per field.

export type Service = "ledger" | "billing" | "escrow" | "market" | "meter-ingest";

/** A refusal from a service: its status, one readable message, and messages by form field. */
export class ApiError extends Error {
  readonly status: number;
  readonly fieldErrors: Record<string, string>;

  constructor(status: number, message: string, fieldErrors: Record<string, string> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fieldErrors = fieldErrors;
  }
}

// Parts of a FastAPI `loc` that name where the value came from, not which value it was.
const LOCATION_PARTS = new Set(["body", "query", "path", "header", "form"]);

function fieldOfLoc(loc: unknown): string | null {
  if (!Array.isArray(loc)) return null;
  const named = loc.filter((part) => typeof part === "string" && !LOCATION_PARTS.has(part));
  return named.length > 0 ? String(named[named.length - 1]) : null;
}

// "end: must be on or after start" names its field before the colon.
const FIELD_PREFIX = /^([a-z_][a-z0-9_]*): (.+)$/;

/** Turn a service's error body into an ApiError (FastAPI 422 lists, `detail` strings, rule objects). */
export function toApiError(status: number, body: unknown, fallback = "request failed"): ApiError {
  const detail = body && typeof body === "object" && "detail" in body ? (body as { detail: unknown }).detail : body;
  if (Array.isArray(detail)) {
    const fields: Record<string, string> = {};
    const lines: string[] = [];
    for (const item of detail) {
      if (!item || typeof item !== "object") continue;
      const { loc, msg } = item as { loc?: unknown; msg?: unknown };
      const field = fieldOfLoc(loc);
      const text = String(msg ?? "invalid value");
      if (field && !(field in fields)) fields[field] = text;
      lines.push(field ? `${field}: ${text}` : text);
    }
    return new ApiError(status, lines.join("; ") || fallback, fields);
  }
  if (detail && typeof detail === "object") {
    const { field, message, msg } = detail as { field?: unknown; message?: unknown; msg?: unknown };
    const text = String(message ?? msg ?? fallback);
    return new ApiError(status, text, typeof field === "string" && field ? { [field]: text } : {});
  }
  if (typeof detail === "string" && detail) {
    const match = FIELD_PREFIX.exec(detail);
    return new ApiError(status, detail, match ? { [match[1]]: match[2] } : {});
  }
  return new ApiError(status, statusText(status) || fallback);
}

function statusText(status: number): string {
  switch (status) {
    case 401: return "your session has expired: sign in again";
    case 403: return "not permitted for your role";
    case 404: return "not found";
    case 502: case 503: case 504: return "the service is not reachable right now";
    default: return status >= 500 ? `the service failed (${status})` : "";
  }
}

type Query = Record<string, string | number | boolean | null | undefined | string[]>;

export interface RequestOptions {
  method?: string;
  query?: Query;
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  token?: string | null;
  signal?: AbortSignal;
}

/** Build "/api/<service><path>?query" (arrays repeat the key, empty values are left out). */
export function apiUrl(service: Service, path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
    else params.append(key, String(value));
  }
  const qs = params.toString();
  return `/api/${service}${path}${qs ? `?${qs}` : ""}`;
}

let unauthorizedHandler: (() => void) | null = null;

/** Called when a service answers 401 for a token we sent (expired): the app signs out. */
export function onUnauthorized(handler: (() => void) | null): void {
  unauthorizedHandler = handler;
}

/** Call a service; resolve with its JSON, or reject with an ApiError carrying its message. */
export async function apiRequest<T>(service: Service, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...(options.headers ?? {}) };
  let body: BodyInit | undefined;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(options.form).toString();
  }
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  const response = await send(apiUrl(service, path, options.query), {
    method: options.method ?? (body ? "POST" : "GET"),
    headers,
    body,
    signal: options.signal,
  });
  const parsed = await readBody(response);
  if (!response.ok) throw refusal(response, parsed, options.token);
  return parsed as T;
}

/** fetch, with a network failure (not an abort) turned into an ApiError. */
async function send(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    if ((error as Error).name === "AbortError") throw error;
    throw new ApiError(0, "the server is not reachable: check your connection");
  }
}

/** A response body as JSON when it is JSON, else as text (null when empty). */
async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

/** The ApiError of a refused call; a 401 for a token we sent signs the app out. */
function refusal(response: Response, parsed: unknown, token: string | null | undefined): ApiError {
  if (response.status === 401 && token && unauthorizedHandler) unauthorizedHandler();
  return toApiError(response.status, parsed);
}

export interface FileRequestOptions {
  query?: Query;
  token?: string | null;
  signal?: AbortSignal;
  /** The file's media type, e.g. "application/pdf" (a refusal still comes as JSON). */
  accept?: string;
}

/**
 * GET a file from a service (a PDF, a CSV) with the caller's bearer token: resolve with its bytes as a
 * Blob, or reject with an ApiError carrying the service's message. A plain link cannot send the token,
 * so downloads go through here and are saved from an object URL (see download.ts).
 */
export async function apiFile(service: Service, path: string, options: FileRequestOptions = {}): Promise<Blob> {
  const headers: Record<string, string> = { Accept: `${options.accept ?? "*/*"}, application/json;q=0.5` };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  const response = await send(apiUrl(service, path, options.query), { method: "GET", headers, signal: options.signal });
  if (!response.ok) throw refusal(response, await readBody(response), options.token);
  return response.blob();
}
