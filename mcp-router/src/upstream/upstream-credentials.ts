import type { ConfigValue, OAuthClientCredentials } from "../../../config/src/tools-schema.ts";

/**
 * The credentials the gateway itself presents to an MCP server: static values (headers, a stdio
 * server's environment) and OAuth 2.0 client-credentials tokens. The client's own token never
 * goes upstream. Secrets come from the router's environment when they are needed, so a rotated
 * secret is picked up without a restart and none is ever part of the loaded configuration.
 */

export type Env = Readonly<Record<string, string | undefined>>;

/** A credential the configuration names is missing: the message names the variable only. */
export class MissingCredentialError extends Error {
  override readonly name = "MissingCredentialError";
}

export function resolveConfigValue(value: ConfigValue, env: Env, where: string): string {
  if (typeof value === "string") return value;
  const secret = env[value.from_env];
  if (secret === undefined || secret === "") {
    throw new MissingCredentialError(`${where}: environment variable ${value.from_env} is not set`);
  }
  return secret;
}

export function resolveConfigValues(
  values: Readonly<Record<string, ConfigValue>>,
  env: Env,
  where: string,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [
      name,
      resolveConfigValue(value, env, `${where}.${name}`),
    ]),
  );
}

export type TokenSource = {
  /** A valid access token, fetched or refreshed when the cached one is (nearly) expired. */
  token(): Promise<string>;
  /** The server refused the token (401): the next token() fetches a new one. */
  invalidate(token: string): void;
};

/** Refreshed this long before the token's stated expiry. */
const EXPIRY_MARGIN_MS = 60_000;
/** Kept this long when the token endpoint gives no expires_in. */
const DEFAULT_LIFETIME_MS = 300_000;
const TOKEN_TIMEOUT_MS = 10_000;
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

export class TokenRequestError extends Error {
  override readonly name = "TokenRequestError";
}

/**
 * RFC 6749 §4.4: POST grant_type=client_credentials to the token endpoint, the client
 * authenticated with HTTP Basic (§2.3.1). One request at a time; its result is shared.
 */
export function clientCredentialsTokenSource(
  auth: OAuthClientCredentials,
  env: Env,
  options: { fetch?: typeof fetch; now?: () => number } = {},
): TokenSource {
  const fetchImpl = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  let cached: { token: string; refreshAt: number } | undefined;
  let inFlight: Promise<string> | undefined;

  async function fetchToken(): Promise<string> {
    const secret = resolveConfigValue(auth.client_secret, env, "auth.client_secret");
    const form = new URLSearchParams({ grant_type: "client_credentials" });
    if (auth.scope !== undefined) form.set("scope", auth.scope);
    if (auth.resource !== undefined) form.set("resource", auth.resource);
    // §2.3.1: client id and secret are form-urlencoded before they are joined.
    const basic = Buffer.from(
      `${encodeURIComponent(auth.client_id)}:${encodeURIComponent(secret)}`,
    ).toString("base64");
    const started = now();
    const response = await fetchImpl(auth.token_url, {
      method: "POST",
      headers: {
        authorization: `Basic ${basic}`,
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: form.toString(),
      redirect: "error",
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
    }).catch((error: unknown) => {
      throw new TokenRequestError(
        `token endpoint unreachable: ${error instanceof Error ? error.name : "error"}`,
      );
    });
    const text = await response.text();
    if (text.length > MAX_TOKEN_RESPONSE_BYTES) {
      throw new TokenRequestError("token endpoint answer too large");
    }
    if (!response.ok) {
      // The error code of RFC 6749 §5.2 only; the description may echo what was sent.
      const code = safeJson(text)?.error;
      throw new TokenRequestError(
        `token endpoint answered ${response.status}${typeof code === "string" ? ` (${code.slice(0, 64)})` : ""}`,
      );
    }
    const body = safeJson(text);
    const token = body?.access_token;
    if (typeof token !== "string" || token === "") {
      throw new TokenRequestError("token endpoint answer has no access_token");
    }
    const type = body?.token_type;
    if (typeof type === "string" && type.toLowerCase() !== "bearer") {
      throw new TokenRequestError(`token endpoint issued a ${type.slice(0, 32)} token, not Bearer`);
    }
    const expiresIn = body?.expires_in;
    const lifetime =
      typeof expiresIn === "number" && Number.isFinite(expiresIn) && expiresIn > 0
        ? expiresIn * 1000
        : DEFAULT_LIFETIME_MS;
    cached = {
      token,
      refreshAt: started + Math.max(lifetime - EXPIRY_MARGIN_MS, lifetime / 2),
    };
    return token;
  }

  return {
    token() {
      if (cached !== undefined && now() < cached.refreshAt) return Promise.resolve(cached.token);
      inFlight ??= fetchToken().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    },
    invalidate(token) {
      if (cached?.token === token) cached = undefined;
    },
  };
}

function safeJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A fetch for the SDK's Streamable HTTP transport that adds the backend's static headers and, if
 * configured, a client-credentials bearer token (fetched again once if the server answers 401).
 */
export function credentialedFetch(options: {
  headers: Readonly<Record<string, ConfigValue>>;
  tokens: TokenSource | undefined;
  env: Env;
  fetch?: typeof fetch;
}): typeof fetch {
  const fetchImpl = options.fetch ?? fetch;
  return async (input, init) => {
    const send = async () => {
      const headers = new Headers(init?.headers);
      for (const [name, value] of Object.entries(
        resolveConfigValues(options.headers, options.env, "headers"),
      )) {
        headers.set(name, value);
      }
      const token = await options.tokens?.token();
      if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
      return { response: await fetchImpl(input, { ...init, headers }), token };
    };
    const first = await send();
    if (first.response.status !== 401 || first.token === undefined) return first.response;
    await first.response.body?.cancel().catch(() => undefined);
    options.tokens!.invalidate(first.token);
    return (await send()).response;
  };
}
