import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { errorReply, type Reply } from "./reply.ts";

/**
 * The OAuth authorization-code flow with PKCE (OAuth 2.1) and dynamic client registration (RFC
 * 7591): what MCP clients such as mcp-remote run on their own after a 401, so they work against
 * the development gateway without a token pasted in. "Signing in" is a form where the developer
 * picks the user id, roles and workspace of the token: there are no accounts in development.
 *
 * Only loopback redirect URIs are registered (RFC 8252 native clients): a page of another site
 * cannot have a code sent to itself. State lives in memory, bounded, and codes are single-use.
 */

export type Grant = { user_id: string; roles: string[]; workspace: string };

export type AuthorizationCodeFlow = {
  /** POST /register with a JSON body. */
  register(body: unknown): Reply;
  /** GET /authorize: the sign-in form, or an error. */
  authorizationPage(query: URLSearchParams): Reply;
  /** POST /authorize from the form: back to the client with a code (or access_denied). */
  decide(form: URLSearchParams): Reply;
  /** POST /token with grant_type=authorization_code: the grant the code stands for. */
  redeem(form: URLSearchParams): { ok: true; grant: Grant } | { ok: false; reply: Reply };
};

export type AuthorizationCodeOptions = {
  /** The issuer identifier, sent back as `iss` (RFC 9207). */
  issuer: () => string;
  /** Checks what the developer typed into the form. */
  parseGrant: (input: Grant) => { ok: true; grant: Grant } | { ok: false; description: string };
  /** When set, the form asks for it (the same secret POST /token's X-Issuer-Token carries). */
  checkAdminToken?: (presented: string | undefined) => boolean;
  now?: () => number;
};

const MAX_CLIENTS = 1000;
const MAX_PENDING = 1000;
const MAX_CODES = 1000;
const PENDING_TTL_MS = 10 * 60_000;
const CODE_TTL_MS = 60_000;
// RFC 7636 §4.1: 43–128 characters of the unreserved set (a challenge has the same shape).
const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/;
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

const RegistrationSchema = z.looseObject({
  redirect_uris: z
    .array(z.string(), { error: "redirect_uris must be a list of URLs" })
    .min(1, "redirect_uris must not be empty")
    .max(10, "at most 10 redirect_uris"),
  client_name: z.string().max(200, "client_name is longer than 200 characters").optional(),
});

type Client = { redirectUris: readonly string[]; name: string | undefined };
type Pending = { clientId: string; redirectUri: string; challenge: string; state?: string };
type Code = { clientId: string; redirectUri: string; challenge: string; grant: Grant };
type Expiring<T> = T & { expiresAt: number };

function loopbackRedirect(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname) && url.hash === "";
  } catch {
    return false;
  }
}

function token(): string {
  return randomBytes(32).toString("base64url");
}

/** A bounded map: the oldest entry goes when it is full. */
function remember<T>(map: Map<string, T>, key: string, value: T, max: number): void {
  if (map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

function take<T>(map: Map<string, Expiring<T>>, key: string, now: number): T | undefined {
  const entry = map.get(key);
  map.delete(key);
  return entry !== undefined && entry.expiresAt > now ? entry : undefined;
}

function pkceMatches(verifier: string, challenge: string): boolean {
  const computed = Buffer.from(createHash("sha256").update(verifier).digest("base64url"));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const PAGE_HEADERS = {
  // The form must not be framed by another page that could trick a click onto it.
  "x-frame-options": "DENY",
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
};

function page(status: number, title: string, content: string): Reply {
  return {
    status,
    headers: PAGE_HEADERS,
    html: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box}
button{margin:1.2rem .6rem 0 0;padding:.5rem 1.2rem}.note{color:#555;font-size:.9rem}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${content}
</body></html>
`,
  };
}

function errorPage(status: number, message: string): Reply {
  return page(status, "Development token issuer", `<p>${escapeHtml(message)}</p>`);
}

export function createAuthorizationCodeFlow(
  options: AuthorizationCodeOptions,
): AuthorizationCodeFlow {
  const now = options.now ?? Date.now;
  const clients = new Map<string, Client>();
  const pending = new Map<string, Expiring<Pending>>();
  const codes = new Map<string, Expiring<Code>>();

  function back(redirectUri: string, params: Record<string, string | undefined>): Reply {
    const url = new URL(redirectUri);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    url.searchParams.set("iss", options.issuer());
    return { status: 302, headers: { location: url.href } };
  }

  function form(requestId: string, client: Client, redirectUri: string, problem?: string): Reply {
    const admin =
      options.checkAdminToken === undefined
        ? ""
        : `
<label for="issuer_token">Issuer token (JWT_ISSUER_ADMIN_TOKEN)</label>
<input id="issuer_token" name="issuer_token" type="password" required>`;
    return page(
      200,
      "Development sign-in",
      `<p><strong>${escapeHtml(client.name ?? "An MCP client")}</strong> asks for a gateway token; it
will be sent to <code>${escapeHtml(new URL(redirectUri).origin)}</code>.</p>
${problem === undefined ? "" : `<p><strong>${escapeHtml(problem)}</strong></p>`}
<form method="post" action="authorize">
<input type="hidden" name="request" value="${escapeHtml(requestId)}">
<label for="user_id">User id</label><input id="user_id" name="user_id" value="demo" required>
<label for="roles">Roles (comma-separated)</label><input id="roles" name="roles" value="developer">
<label for="workspace">Workspace</label><input id="workspace" name="workspace" value="default">
${admin}
<button type="submit" name="action" value="approve">Issue token</button>
<button type="submit" name="action" value="deny">Cancel</button>
</form>
<p class="note">Development only: no password, the token carries what you enter here.</p>`,
    );
  }

  return {
    register(body) {
      const parsed = RegistrationSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return errorReply(400, "invalid_client_metadata", issue?.message ?? "invalid metadata");
      }
      const bad = parsed.data.redirect_uris.find((uri) => !loopbackRedirect(uri));
      if (bad !== undefined) {
        return errorReply(
          400,
          "invalid_redirect_uri",
          "redirect_uris must be http://localhost, http://127.0.0.1 or http://[::1] URLs without a fragment",
        );
      }
      const clientId = token();
      const client: Client = {
        redirectUris: parsed.data.redirect_uris,
        name: parsed.data.client_name,
      };
      remember(clients, clientId, client, MAX_CLIENTS);
      return {
        status: 201,
        body: {
          client_id: clientId,
          client_id_issued_at: Math.floor(now() / 1000),
          redirect_uris: client.redirectUris,
          ...(client.name === undefined ? {} : { client_name: client.name }),
          // A public client: PKCE, not a secret, protects its codes.
          token_endpoint_auth_method: "none",
          grant_types: ["authorization_code"],
          response_types: ["code"],
        },
      };
    },

    authorizationPage(query) {
      const clientId = query.get("client_id") ?? "";
      const client = clients.get(clientId);
      if (client === undefined) {
        return errorPage(400, "Unknown client_id: register the client first (POST /register).");
      }
      const requested = query.get("redirect_uri");
      const redirectUri =
        requested ?? (client.redirectUris.length === 1 ? client.redirectUris[0] : undefined);
      if (redirectUri === undefined || !client.redirectUris.includes(redirectUri)) {
        return errorPage(400, "redirect_uri is not one the client registered.");
      }
      // From here on errors go back to the client (RFC 6749 §4.1.2.1).
      const state = query.get("state") ?? undefined;
      if (query.get("response_type") !== "code") {
        return back(redirectUri, { error: "unsupported_response_type", state });
      }
      const challenge = query.get("code_challenge") ?? "";
      if (query.get("code_challenge_method") !== "S256" || !PKCE_VALUE.test(challenge)) {
        return back(redirectUri, {
          error: "invalid_request",
          error_description: "PKCE is required: code_challenge with code_challenge_method=S256",
          state,
        });
      }
      const requestId = token();
      remember(
        pending,
        requestId,
        { clientId, redirectUri, challenge, state, expiresAt: now() + PENDING_TTL_MS },
        MAX_PENDING,
      );
      return form(requestId, client, redirectUri);
    },

    decide(formData) {
      const requestId = formData.get("request") ?? "";
      const request = pending.get(requestId);
      const client = request === undefined ? undefined : clients.get(request.clientId);
      if (request === undefined || client === undefined || request.expiresAt <= now()) {
        pending.delete(requestId);
        return errorPage(
          400,
          "This sign-in request expired or was used: start again from the client.",
        );
      }
      if (formData.get("action") === "deny") {
        pending.delete(requestId);
        return back(request.redirectUri, { error: "access_denied", state: request.state });
      }
      if (options.checkAdminToken?.(formData.get("issuer_token") ?? undefined) === false) {
        return form(requestId, client, request.redirectUri, "Wrong issuer token.");
      }
      const parsed = options.parseGrant({
        user_id: (formData.get("user_id") ?? "").trim(),
        roles: (formData.get("roles") ?? "").split(/[\s,]+/).filter((role) => role !== ""),
        workspace: (formData.get("workspace") ?? "").trim() || "default",
      });
      if (!parsed.ok) return form(requestId, client, request.redirectUri, parsed.description);
      pending.delete(requestId);
      const code = token();
      remember(
        codes,
        code,
        {
          clientId: request.clientId,
          redirectUri: request.redirectUri,
          challenge: request.challenge,
          grant: parsed.grant,
          expiresAt: now() + CODE_TTL_MS,
        },
        MAX_CODES,
      );
      return back(request.redirectUri, { code, state: request.state });
    },

    redeem(formData) {
      const invalidGrant = (description: string) => ({
        ok: false as const,
        reply: errorReply(400, "invalid_grant", description),
      });
      const code = take(codes, formData.get("code") ?? "", now());
      if (code === undefined) return invalidGrant("unknown, used or expired code");
      if (formData.get("client_id") !== code.clientId) {
        return invalidGrant("the code was issued to another client");
      }
      const redirectUri = formData.get("redirect_uri");
      if (redirectUri !== null && redirectUri !== code.redirectUri) {
        return invalidGrant("redirect_uri differs from the authorization request");
      }
      const verifier = formData.get("code_verifier") ?? "";
      if (!PKCE_VALUE.test(verifier) || !pkceMatches(verifier, code.challenge)) {
        return invalidGrant("code_verifier does not match the code_challenge");
      }
      return { ok: true, grant: code.grant };
    },
  };
}
