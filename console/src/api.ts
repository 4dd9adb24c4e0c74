import type { RestErrorJson } from "../../mcp-router/src/admin-wire.ts";

/**
 * The operators' API, `/admin/*`, on the origin that served the page. In development the
 * operator pastes a token (kept in sessionStorage: this tab only, gone when it closes) and it is
 * sent as a Bearer header. In production an ingress in front of the gateway usually signs the
 * operator in and adds the header itself; the page then holds no token at all.
 */

const TOKEN_KEY = "mcp-gateway-console.token";

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;

  constructor(status: number, code: string, message: string, requestId: string | null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }

  /** The token was accepted but has no operator role. */
  get forbidden(): boolean {
    return this.status === 403;
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called whenever the gateway answers 401: no token, or one it no longer accepts. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

async function errorOf(response: Response): Promise<ApiError> {
  const requestId = response.headers.get("x-request-id");
  let code = `HTTP_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as Partial<RestErrorJson>;
    if (typeof body.error?.code === "string") code = body.error.code;
    if (typeof body.error?.message === "string") message = body.error.message;
  } catch {
    // Not the gateway's error shape (a proxy's page): keep the status line.
  }
  return new ApiError(response.status, code, message, requestId);
}

export type RequestOptions = { method?: "GET" | "POST"; body?: unknown; signal?: AbortSignal };

async function send(path: string, accept: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { accept };
  const token = storedToken();
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const method = options.method ?? "GET";
  if (method === "POST") headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    ...(method === "POST" ? { body: JSON.stringify(options.body ?? {}) } : {}),
    credentials: "same-origin",
    cache: "no-store",
    redirect: "error",
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (response.ok) return response;
  const error = await errorOf(response);
  if (response.status === 401) for (const listener of unauthorizedListeners) listener();
  throw error;
}

export async function getJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(path, "application/json", options);
  return (await response.json()) as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const response = await send(path, "application/json", { method: "POST", body });
  return (await response.json()) as T;
}

/** A CSV page of `/admin/audit?format=csv` and the cursor of the next one. */
export async function getCsvPage(
  path: string,
  signal?: AbortSignal,
): Promise<{ text: string; nextCursor: string | null }> {
  const response = await send(path, "text/csv", signal === undefined ? {} : { signal });
  return { text: await response.text(), nextCursor: response.headers.get("x-next-cursor") };
}

/** The message a page shows for a failed request. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403 && error.code === "GW_INSUFFICIENT_SCOPE") {
      return "This token has no operator role: the console needs a role listed in policy.yaml's operator_roles.";
    }
    const id = error.requestId === null ? "" : ` (request ${error.requestId})`;
    return `${error.message}${id}`;
  }
  if (error instanceof DOMException && error.name === "AbortError") return "Cancelled.";
  return error instanceof Error
    ? `The gateway could not be reached: ${error.message}`
    : String(error);
}
