/**
 * Check benchmark: ext-authz in-process on a loopback port, driven by a real grpc-js client.
 * Compares a token already in the verified-token cache with a fresh token per request.
 *
 *   npx tsx bench/ext-authz-check.ts [--count 5000] [--seconds 10] [--concurrency 16] [--alg HS256|RS256] [--redis URL]
 *
 * Bounded by count and by time, whichever ends first. Prints decisions/s and p50/p99 latency
 * per mode and the uncached/cached ratios. Quota counters are in memory unless `--redis` (or
 * REDIS_URL) names a Redis; every check spends three counters (user+tool, user, tool).
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import {
  createAuthzClient,
  type AuthzClient,
  type CheckRequest,
} from "../contract/src/authz-wire.ts";
import { parseConfigText } from "../config/src/load-config.ts";
import { createLogger } from "../contract/src/log.ts";
import { startExtAuthz } from "../ext-authz/src/main.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "5000" },
    seconds: { type: "string", default: "10" },
    concurrency: { type: "string", default: "16" },
    alg: { type: "string", default: "HS256" },
    redis: { type: "string", default: process.env.REDIS_URL },
  },
});
const COUNT = Math.max(100, Number(values.count));
const SECONDS = Math.max(1, Number(values.seconds));
const CONCURRENCY = Math.max(1, Number(values.concurrency));
const ALG = values.alg === "RS256" ? "RS256" : "HS256";
const REDIS_URL = values.redis === "" ? undefined : values.redis;

const TOOLS_YAML = `
version: 1
scopes:
  calculator:
    backend_url: http://127.0.0.1:1
    tools: [{ name: exact_calculate }, { name: statistics }]
`;
const POLICY_YAML = `
version: 1
roles:
  developer: { allow: ["calculator.*"] }
quotas:
  per_user: { default: { points: 1000000000, duration: 1m } }
  per_tool: { default: { points: 1000000000, duration: 1m } }
  per_user_tool: { default: { points: 1000000000, duration: 1m } }
protected_resource:
  resource_base_url: http://localhost:8000
  authorization_servers: ["http://localhost:8010"]
`;

const SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingKey: Uint8Array | KeyObject =
  ALG === "HS256" ? new TextEncoder().encode(SECRET) : rsa.privateKey;

function sign(subject: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    sub: subject,
    roles: ["developer"],
    iat: now,
    exp: now + 3600,
    jti: randomUUID(),
  })
    .setProtectedHeader({ alg: ALG, typ: "JWT" })
    .setIssuer("http://localhost:8010")
    .setAudience("mcp-gateway")
    .sign(signingKey);
}

function request(token: string, i: number): CheckRequest {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: i,
    method: "tools/call",
    params: { name: "exact_calculate", arguments: { expression: "1/3" } },
  });
  return {
    attributes: {
      request: {
        http: {
          method: "POST",
          path: "/calculator/mcp",
          headers: {
            ":method": "POST",
            ":path": "/calculator/mcp",
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
          },
          body,
        },
      },
      context_extensions: { scope: "calculator" },
    },
  };
}

type Result = { n: number; seconds: number; p50: number; p99: number; rate: number };

async function measure(client: AuthzClient, tokens: (i: number) => string): Promise<Result> {
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  let next = 0;
  const started = performance.now();
  async function worker(): Promise<void> {
    while (next < COUNT && performance.now() < deadline) {
      const i = next++;
      const t0 = performance.now();
      const response = await client.check(request(tokens(i), i), { deadlineMs: 5000 });
      latencies.push(performance.now() - t0);
      if (response.status?.code !== 0)
        throw new Error(`unexpected deny: ${response.status?.message}`);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    n: latencies.length,
    seconds,
    p50: at(0.5),
    p99: at(0.99),
    rate: latencies.length / seconds,
  };
}

async function main(): Promise<void> {
  const config = parseConfigText({ toolsYaml: TOOLS_YAML, policyYaml: POLICY_YAML, env: {} });
  if (!config.ok) throw new Error(config.errors.join("\n"));
  const env: Record<string, string> = {
    NODE_ENV: "test",
    GATEWAY_VERDICT_KEY: "bench-verdict-key-0123456789-abcdefghijklmnop",
    JWT_ALLOWED_ALGORITHMS: ALG,
    JWT_CACHE_SIZE: String(COUNT * 2),
  };
  if (REDIS_URL !== undefined) {
    env.REDIS_URL = REDIS_URL;
    // Counters of this run only; they expire with their one-minute window.
    env.RATE_LIMIT_KEY_PREFIX = `bench:${randomUUID()}`;
  }
  if (ALG === "HS256") env.JWT_SECRET_KEY = SECRET;
  else env.JWT_PUBLIC_KEY = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();

  const server = await startExtAuthz({
    env,
    config: config.config,
    host: "127.0.0.1",
    port: 0,
    metricsPort: null,
    audit: { write: async () => undefined },
    logger: createLogger({ name: "bench", level: "silent" }),
  });
  const client = createAuthzClient(`127.0.0.1:${server.port}`);
  try {
    const cachedToken = await sign("cached-user");
    // Warm-up: connection, JIT, and the cached token's first verification.
    await measure(client, () => cachedToken);

    process.stdout.write(`signing ${COUNT} distinct ${ALG} tokens for the uncached run...\n`);
    const fresh = await Promise.all(Array.from({ length: COUNT }, (_, i) => sign(`user-${i}`)));
    const cached = await measure(client, () => cachedToken);
    const uncached = await measure(client, (i) => fresh[i]!);

    const row = (name: string, r: Result) =>
      `${name.padEnd(10)} ${String(r.n).padStart(7)} ${r.rate.toFixed(0).padStart(12)} ${r.p50.toFixed(3).padStart(9)} ${r.p99.toFixed(3).padStart(9)}`;
    process.stdout.write(
      [
        `ext-authz Check over gRPC loopback: ${ALG}, quotas in ${REDIS_URL === undefined ? "memory" : "Redis"}, concurrency ${CONCURRENCY}, max ${COUNT} checks or ${SECONDS}s per mode`,
        `${"mode".padEnd(10)} ${"checks".padStart(7)} ${"decisions/s".padStart(12)} ${"p50 ms".padStart(9)} ${"p99 ms".padStart(9)}`,
        row("cached", cached),
        row("uncached", uncached),
        `ratio uncached/cached: throughput ${(uncached.rate / cached.rate).toFixed(2)}x, p50 ${(uncached.p50 / cached.p50).toFixed(2)}x, p99 ${(uncached.p99 / cached.p99).toFixed(2)}x`,
        "",
      ].join("\n"),
    );
  } finally {
    client.close();
    await server.close();
  }
}

await main();
