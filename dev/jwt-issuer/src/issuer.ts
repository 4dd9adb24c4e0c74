import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import type { CryptoKey, JWK } from "jose";
import type { Logger } from "pino";
import { z } from "zod";

export const IssuerAlgorithmSchema = z.enum(["HS256", "RS256", "ES256"]);
export type IssuerAlgorithm = z.infer<typeof IssuerAlgorithmSchema>;

export type IssuerOptions = {
  issuer: string;
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

type Reply = { status: number; body: unknown; headers?: Record<string, string> };

function errorReply(status: number, error: string, description: string): Reply {
  return { status, body: { error, error_description: description } };
}

function send(res: http.ServerResponse, reply: Reply): void {
  const payload = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    "content-type": "application/json",
    "cache-control": "no-store",
    "content-length": Buffer.byteLength(payload),
    ...reply.headers,
  });
  res.end(payload);
}

type BodyResult = { ok: true; text: string } | { ok: false; reply: Reply };

async function readBody(req: http.IncomingMessage): Promise<BodyResult> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    return { ok: false, reply: errorReply(413, "invalid_request", "request body is too large") };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) {
      return { ok: false, reply: errorReply(413, "invalid_request", "request body is too large") };
    }
    chunks.push(buffer);
  }
  return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
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

  async function issue(req: http.IncomingMessage): Promise<Reply> {
    if (options.adminToken !== undefined) {
      const presented = req.headers["x-issuer-token"];
      if (!sameSecret(typeof presented === "string" ? presented : undefined, options.adminToken)) {
        return errorReply(401, "unauthorized", "missing or wrong X-Issuer-Token header");
      }
    }
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (contentType !== "application/json") {
      return errorReply(415, "invalid_request", "content-type must be application/json");
    }
    const body = await readBody(req);
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
    const request = parsed.data;
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
      .setIssuer(options.issuer)
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

  async function route(req: http.IncomingMessage): Promise<Reply> {
    const path = new URL(req.url ?? "/", "http://issuer.invalid").pathname;
    if (path === "/token") {
      if (req.method !== "POST")
        return { ...errorReply(405, "method_not_allowed", "use POST"), headers: { allow: "POST" } };
      return issue(req);
    }
    if (path === "/.well-known/jwks.json") {
      if (req.method !== "GET")
        return { ...errorReply(405, "method_not_allowed", "use GET"), headers: { allow: "GET" } };
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
    jwks: signer.jwks,
    listen: (port, host) =>
      new Promise<AddressInfo>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
