/** The configuration, keys and clock every ext-authz test shares. */
import { SignJWT, type JWTPayload } from "jose";
import type { CheckRequest } from "../../contract/src/authz-wire.ts";
import { parseConfigText, type GatewayConfig } from "../../config/src/load-config.ts";
import { createLogger } from "../../contract/src/log.ts";
import type { AuditEvent } from "../../store/src/audit-writer.ts";
import type { DecisionDeps } from "../src/policy/decide.ts";
import { compilePolicy } from "../src/policy/rbac.ts";
import { createTokenVerifier, type TokenKeys, type TokenSettings } from "../src/policy/token.ts";
import { createQuotaLimiter } from "../src/runtime/rate-limit.ts";

export const TOOLS_YAML = `
version: 1
scopes:
  calculator:
    backend_url: http://127.0.0.1:1
    tools:
      - { name: exact_calculate }
      - { name: statistics }
      - { name: retired_tool, enabled: false }
      - { name: shared_tool }
  git:
    backend_url: http://127.0.0.1:2
    tools:
      - { name: git_log }
      - { name: git_read_file }
      - { name: shared_tool }
  docs:
    backend_url: http://127.0.0.1:3
    tools:
      - { name: generate_document, task_support: optional }
`;

export const POLICY_YAML = `
version: 1
roles:
  developer:
    allow: ["calculator.*", "git.*", "docs.*"]
  analyst:
    allow: ["calculator.*", "docs.*"]
  auditor:
    allow: ["git.*"]
    deny: ["git.git_read_file"]
  limited:
    allow: ["calculator.exact_calculate"]
  nobody:
    allow: []
deny: []
quotas:
  per_user:
    default: { points: 1000, duration: 1m }
    roles: { limited: { points: 3, duration: 1m } }
  per_tool:
    default: { points: 1000, duration: 1m }
    tools: { docs.generate_document: { points: 2, duration: 1m } }
  per_user_tool:
    default: { points: 1000, duration: 1m }
    tools: { calculator.statistics: { points: 1, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`;

export function testConfig(): GatewayConfig {
  const result = parseConfigText({ toolsYaml: TOOLS_YAML, policyYaml: POLICY_YAML, env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

export const SECRET = "test-secret-0123456789-abcdefghijklmnop-XYZ";
export const VERDICT_KEY = "verdict-key-0123456789-abcdefghijklmnop-XYZ";
export const ISSUER = "https://issuer.example";
export const AUDIENCE = "mcp-gateway";
/** Environment for startExtAuthz in tests. */
export const TEST_ENV = {
  NODE_ENV: "test",
  JWT_SECRET_KEY: SECRET,
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
  GATEWAY_VERDICT_KEY: VERDICT_KEY,
  MAX_REQUEST_BYTES: "65536",
};
/** 2026-01-01T00:00:00Z: every test runs at this instant unless it moves the clock. */
export const NOW_MS = Date.UTC(2026, 0, 1);
export const NOW_S = NOW_MS / 1000;

export const TOKEN_SETTINGS: TokenSettings = {
  issuer: ISSUER,
  audience: AUDIENCE,
  algorithms: ["HS256"],
  clockSkewSeconds: 30,
  maxTokenAgeMinutes: 1440,
  maxTokenBytes: 8192,
  claims: {
    userId: "sub",
    roles: "roles",
    tenant: "tenant",
    apiVersion: "api_version",
    exp: "exp",
    iat: "iat",
  },
  allowedApiVersions: [],
  cacheSize: 100,
};

export const SECRET_KEYS: TokenKeys = { kind: "secret", secret: new TextEncoder().encode(SECRET) };

/** An HS256 token valid at NOW_MS; `claims` override or (with undefined) remove defaults. */
export async function makeToken(
  claims: Record<string, unknown> = {},
  options: { secret?: string; alg?: string; header?: Record<string, unknown> } = {},
): Promise<string> {
  const payload: JWTPayload = {
    sub: "alice",
    roles: ["developer"],
    iss: ISSUER,
    aud: AUDIENCE,
    iat: NOW_S - 60,
    exp: NOW_S + 3600,
    ...claims,
  };
  for (const [key, value] of Object.entries(payload)) if (value === undefined) delete payload[key];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: options.alg ?? "HS256", typ: "JWT", ...options.header })
    .sign(new TextEncoder().encode(options.secret ?? SECRET));
}

export const silentLogger = createLogger({ name: "ext-authz-test", level: "silent" });

export function recordingAudit(): {
  events: AuditEvent[];
  write(event: AuditEvent): Promise<void>;
} {
  const events: AuditEvent[] = [];
  return {
    events,
    write: async (event) => {
      events.push(event);
    },
  };
}

export function decisionDeps(overrides: Partial<DecisionDeps> = {}): DecisionDeps {
  const config = testConfig();
  let counter = 0;
  return {
    policy: compilePolicy(config.tools, config.policy),
    tokens: createTokenVerifier({ settings: TOKEN_SETTINGS, keys: SECRET_KEYS, now: () => NOW_MS }),
    limiter: createQuotaLimiter({ keyPrefix: `test:${Math.random()}` }),
    resourceServer: { resourceBaseUrl: "https://gw.example", authorizationServers: [ISSUER] },
    limits: { maxBodyBytes: 1_048_576, maxJsonDepth: 64 },
    verdictTtlSeconds: 30,
    now: () => NOW_MS,
    newRequestId: () => `generated-${++counter}`,
    ...overrides,
  };
}

/** An Envoy-shaped CheckRequest for an HTTP request. */
export function checkRequest(input: {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  scope?: string;
}): CheckRequest {
  const method = input.method ?? "POST";
  return {
    attributes: {
      request: {
        http: {
          id: "17",
          method,
          path: input.path,
          host: "gw.example",
          scheme: "https",
          protocol: "HTTP/1.1",
          headers: {
            ":method": method,
            ":path": input.path,
            ":authority": "gw.example",
            ...input.headers,
          },
          body: input.body ?? "",
          size: String(Buffer.byteLength(input.body ?? "")),
        },
      },
      context_extensions: input.scope === undefined ? {} : { scope: input.scope },
    },
  };
}
