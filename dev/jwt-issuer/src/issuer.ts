import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import type { CryptoKey, JWK } from "jose";
import type { Logger } from "pino";
import { z } from "zod";
import { createAuthorizationCodeFlow, type Grant } from "./authorization-code.ts";
import { errorReply, mediaType, methodNotAllowed, readBody, send, type Reply } from "./reply.ts";

export const IssuerAlgorithmSchema = z.enum(["HS256", "RS256", "ES256"]);
export type IssuerAlgorithm = z.infer<typeof IssuerAlgorithmSchema>;

export type IssuerOptions = {
  /** The `iss` of its tokens; a function derives it from the bound address (port 0). */
  issuer: string | ((address: AddressInfo) => string);
  audience: string;
  algorithm: IssuerAlgorithm;
  /** Required for HS256: the key ext-authz shares (JWT_SECRET_KEY). */
  secretKey?: string;
  /** When set, POST /token requires a matching X-Issuer-Token header. */
  adminToken?: string;
  maxExpiresInSeconds: number;
  defaultExpiresInSeconds?: number;
  /** Epoch milliseconds; injected so tests control iat/exp. */
  now?: () => number;
  logger?: Pick<Logger, "info" | "warn">;
};

export type Issuer = {
  server: http.Server;
  /** The issuer identifier; throws before listen() when it is derived from the address. */
  identifier: () => string;
  /** Public keys for RS256/ES256; undefined for HS256 (a symmetric key is never published). */
  jwks: { keys: JWK[] } | undefined;
  listen: (port: number, host: string) => Promise<AddressInfo>;
  close: () => Promise<void>;
};

const MAX_BODY_BYTES = 16 * 1024;
const MIN_HS256_KEY_LENGTH = 32;
const NAME = /^[A-Za-z0-9_.:@-]+$/;

export function tokenRequestSchema(maxExpiresInSeconds: number, defaultExpiresInSeconds: number) {
  return z.strictObject({
    user_id: z
      .string()
      .min(1, "user_id must not be empty")
      .max(128, "user_id is longer than 128 characters")
      .regex(NAME, "user_id may only contain letters, digits and _ . : @ -"),
    roles: z
      .array(
        z
          .string()
          .min(1, "a role must not be empty")
          .max(64, "a role is longer than 64 characters")
          .regex(NAME, "a role may only contain letters, digits and _ . : @ -"),
      )
      .max(32, "at most 32 roles")
      .default([]),
    workspace: z
      .string()
      .min(1, "workspace must not be empty")
      .max(128, "workspace is longer than 128 characters")
      .regex(NAME, "workspace may only contain letters, digits and _ . : @ -")
      .default("default"),
    api_version: z
      .string()
      .min(1, "api_version must not be empty")
      .max(32, "api_version is longer than 32 characters")
      .optional(),
    expires_in_seconds: z
      .number()
      .int("expires_in_seconds must be an integer")
      .min(1, "expires_in_seconds must be at least 1")
      .max(maxExpiresInSeconds, `expires_in_seconds must be at most ${maxExpiresInSeconds}`)
      .default(defaultExpiresInSeconds),
  });
}
export type TokenRequest = z.infer<ReturnType<typeof tokenRequestSchema>>;

export const TokenResponseSchema = z.object({
  access_token: z.string(),
  token_type: z.literal("Bearer"),
  expires_in: z.number().int().positive(),
});
export type TokenResponse = z.infer<typeof TokenResponseSchema>;

type Signer = {
  key: CryptoKey | Uint8Array;
  kid: string | undefined;
  jwks: { keys: JWK[] } | undefined;
};

async function createSigner(options: IssuerOptions): Promise<Signer> {
  if (options.algorithm === "HS256") {
    const secret = options.secretKey ?? "";
    if (secret.length < MIN_HS256_KEY_LENGTH) {
      throw new Error(`HS256 needs a secret key of at least ${MIN_HS256_KEY_LENGTH} characters`);
    }
    return { key: new TextEncoder().encode(secret), kid: undefined, jwks: undefined };
  }
  const pair = await generateKeyPair(options.algorithm);
  const publicJwk = await exportJWK(pair.publicKey);
  // A fresh key per process start: the kid lets verifiers notice a rotation and refetch the set.
  const kid = `dev-${options.algorithm.toLowerCase()}-${randomUUID().slice(0, 8)}`;
  return {
    key: pair.privateKey,
    kid,
    jwks: { keys: [{ ...publicJwk, kid, alg: options.algorithm, use: "sig" }] },
  };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

// Compare digests, not raw strings: equal lengths for timingSafeEqual and no length leak.
function sameSecret(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(presented), digest(expected));
}

export const AUTHORIZATION_SERVER_METADATA_PATH = "/.well-known/oauth-authorization-server";

/**
 * RFC 8414 metadata, so a client that follows the gateway's RFC 9728 `authorization_servers`
 * finds how to get a token: the authorization-code flow with PKCE and dynamic registration (what
 * MCP clients run by themselves), and the keys. The JSON form of POST /token is this issuer's own
 * shortcut for scripts and the stdio bridge, not an OAuth grant, so it is not listed.
 */
export function authorizationServerMetadata(
  issuer: string,
  publishesKeys: boolean,
): Record<string, unknown> {
  const base = issuer.replace(/\/+$/, "");
  return {
    issuer,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    registration_endpoint: `${base}/register`,
    ...(publishesKeys ? { jwks_uri: `${base}/.well-known/jwks.json` } : {}),
    response_types_supported: ["code"],
    grant_types_supported: ["authorization_code"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["none"],
    authorization_response_iss_parameter_supported: true,
  };
}

function singleHeader(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" ? value : undefined;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join(".");
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
}

export async function createIssuer(options: IssuerOptions): Promise<Issuer> {
  const signer = await createSigner(options);
  const now = options.now ?? Date.now;
  const defaultExpires = Math.min(
    options.defaultExpiresInSeconds ?? 900,
    options.maxExpiresInSeconds,
  );
  const requestSchema = tokenRequestSchema(options.maxExpiresInSeconds, defaultExpires);
  let issuerId = typeof options.issuer === "string" ? options.issuer : undefined;
  const identifier = (): string => {
    if (issuerId === undefined) throw new Error("the issuer identifier is known once listening");
    return issuerId;
  };

  async function mint(request: TokenRequest): Promise<Reply> {
    const issuedAt = Math.floor(now() / 1000);
    const claims: Record<string, unknown> = { tenant: request.workspace, roles: request.roles };
    if (request.api_version !== undefined) claims["api_version"] = request.api_version;
    const jwt = new SignJWT(claims)
      .setProtectedHeader(
        signer.kid === undefined
          ? { alg: options.algorithm, typ: "JWT" }
          : { alg: options.algorithm, typ: "JWT", kid: signer.kid },
      )
      .setSubject(request.user_id)
      .setIssuer(identifier())
      .setAudience(options.audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + request.expires_in_seconds)
      .setJti(randomUUID());
    const accessToken = await jwt.sign(signer.key);
    options.logger?.info(
      {
        sub: request.user_id,
        tenant: request.workspace,
        roles: request.roles,
        expiresIn: request.expires_in_seconds,
      },
      "token issued",
    );
    const response: TokenResponse = {
      access_token: accessToken,
      token_type: "Bearer",
      expires_in: request.expires_in_seconds,
    };
    return { status: 200, body: response };
  }

  const adminTokenMatches = (presented: string | undefined): boolean =>
    options.adminToken === undefined || sameSecret(presented, options.adminToken);

  const flow = createAuthorizationCodeFlow({
    issuer: identifier,
    now,
    ...(options.adminToken === undefined ? {} : { checkAdminToken: adminTokenMatches }),
    parseGrant(input: Grant) {
      const parsed = requestSchema.safeParse(input);
      return parsed.success
        ? {
            ok: true,
            grant: {
              user_id: parsed.data.user_id,
              roles: parsed.data.roles,
              workspace: parsed.data.workspace,
            },
          }
        : { ok: false, description: describeIssues(parsed.error) };
    },
  });

  /** POST /token: this issuer's JSON request, or the OAuth code exchange (form-encoded). */
  async function token(req: http.IncomingMessage): Promise<Reply> {
    const type = mediaType(req);
    if (type === "application/x-www-form-urlencoded") {
      const body = await readBody(req, MAX_BODY_BYTES);
      if (!body.ok) return body.reply;
      const form = new URLSearchParams(body.text);
      if (form.get("grant_type") !== "authorization_code") {
        return errorReply(400, "unsupported_grant_type", "only grant_type=authorization_code");
      }
      const redeemed = flow.redeem(form);
      if (!redeemed.ok) return redeemed.reply;
      return mint(requestSchema.parse(redeemed.grant));
    }
    if (!adminTokenMatches(singleHeader(req, "x-issuer-token"))) {
      return errorReply(401, "unauthorized", "missing or wrong X-Issuer-Token header");
    }
    if (type !== "application/json") {
      return errorReply(415, "invalid_request", "content-type must be application/json");
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (!body.ok) return body.reply;
    let json: unknown;
    try {
      json = JSON.parse(body.text);
    } catch {
      return errorReply(400, "invalid_request", "request body is not valid JSON");
    }
    const parsed = requestSchema.safeParse(json);
    if (!parsed.success) {
      return errorReply(400, "invalid_request", describeIssues(parsed.error));
    }
    return mint(parsed.data);
  }

  async function register(req: http.IncomingMessage): Promise<Reply> {
    if (mediaType(req) !== "application/json") {
      return errorReply(415, "invalid_request", "content-type must be application/json");
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (!body.ok) return body.reply;
    try {
      return flow.register(JSON.parse(body.text));
    } catch {
      return errorReply(400, "invalid_client_metadata", "request body is not valid JSON");
    }
  }

  async function authorize(req: http.IncomingMessage, query: URLSearchParams): Promise<Reply> {
    if (req.method === "GET") return flow.authorizationPage(query);
    if (mediaType(req) !== "application/x-www-form-urlencoded") {
      return errorReply(415, "invalid_request", "the sign-in form posts form-encoded data");
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (!body.ok) return body.reply;
    return flow.decide(new URLSearchParams(body.text));
  }

  async function route(req: http.IncomingMessage): Promise<Reply> {
    const url = new URL(req.url ?? "/", "http://issuer.invalid");
    const path = url.pathname;
    if (path === AUTHORIZATION_SERVER_METADATA_PATH) {
      if (req.method !== "GET") return methodNotAllowed("GET");
      return {
        status: 200,
        body: authorizationServerMetadata(identifier(), signer.jwks !== undefined),
      };
    }
    if (path === "/token") {
      if (req.method !== "POST") return methodNotAllowed("POST");
      return token(req);
    }
    if (path === "/authorize") {
      if (req.method !== "GET" && req.method !== "POST") return methodNotAllowed("GET, POST");
      return authorize(req, url.searchParams);
    }
    if (path === "/register") {
      if (req.method !== "POST") return methodNotAllowed("POST");
      return register(req);
    }
    if (path === "/.well-known/jwks.json") {
      if (req.method !== "GET") return methodNotAllowed("GET");
      if (signer.jwks === undefined) {
        return errorReply(404, "not_found", "HS256 issuer: there are no public keys to publish");
      }
      return { status: 200, body: signer.jwks };
    }
    if (path === "/health") {
      return { status: 200, body: { status: "ok" } };
    }
    return errorReply(404, "not_found", "no such endpoint");
  }

  const server = http.createServer((req, res) => {
    route(req).then(
      (reply) => send(res, reply),
      (error: unknown) => {
        options.logger?.warn(
          { err: error instanceof Error ? error.message : String(error) },
          "issuer request failed",
        );
        if (!res.headersSent) send(res, errorReply(500, "server_error", "internal error"));
        else res.destroy();
      },
    );
  });

  return {
    server,
    identifier,
    jwks: signer.jwks,
    listen: (port, host) =>
      new Promise<AddressInfo>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          const address = server.address() as AddressInfo;
          if (typeof options.issuer === "function") issuerId = options.issuer(address);
          resolve(address);
        });
      }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
