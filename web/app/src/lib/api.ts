// The one way the app talks to the services: /api/<service>/<path> on this origin,
// with the caller's bearer token, and every refusal (RFC 9457 problem details) turned into messages per field.

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

/** A service's refusal: RFC 9457 problem details, with the inputs to blame in `field` and `errors`. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  field?: string | null;
  rule?: string | null;
  errors?: { field?: string | null; location?: string | null; message?: string }[] | null;
}

function isProblem(body: unknown): body is Problem {
  return !!body && typeof body === "object" && typeof (body as Problem).detail === "string";
}

// "lines.0.amount" is the form's "amount": the last part that is a name, not an index.
function formField(path: string): string {
  const named = path.split(".").filter((part) => part && !/^\d+$/.test(part));
  return named.length > 0 ? named[named.length - 1] : path;
}

/** Turn a service's refusal (problem details; anything else by its status) into an ApiError. */
export function toApiError(status: number, body: unknown, fallback = "request failed"): ApiError {
  if (!isProblem(body)) {
    return new ApiError(status, (typeof body === "string" && body.length < 200 && body) || statusText(status) || fallback);
  }
  const fields: Record<string, string> = {};
  for (const error of body.errors ?? []) {
    if (error?.field && error.message && !(formField(error.field) in fields)) fields[formField(error.field)] = error.message;
  }
  const detail = body.detail || body.title || statusText(status) || fallback;
  if (body.field && !(formField(body.field) in fields)) {
    fields[formField(body.field)] = detail.startsWith(`${body.field}: `) ? detail.slice(body.field.length + 2) : detail;
  }
  // One field to blame: its message alone reads best beside the form; several: the whole detail.
  const named = Object.keys(fields);
  const message = named.length === 1 && body.field && (body.errors ?? []).length <= 1 ? fields[formField(body.field)] : detail;
  return new ApiError(status, message, fields);
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
  /** A body sent as it is, with its media type (e.g. a CSV file as "text/csv"). */
  raw?: { content: string | Blob; contentType: string };
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
  const headers: Record<string, string> = { Accept: "application/json, application/problem+json", ...(options.headers ?? {}) };
  let body: BodyInit | undefined;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(options.form).toString();
  } else if (options.raw) {
    headers["Content-Type"] = options.raw.contentType;
    body = options.raw.content;
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
  const headers: Record<string, string> = { Accept: `${options.accept ?? "*/*"}, application/problem+json;q=0.5` };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  const response = await send(apiUrl(service, path, options.query), { method: "GET", headers, signal: options.signal });
  if (!response.ok) throw refusal(response, await readBody(response), options.token);
  return response.blob();
}
