/**
 * tools/call through the gateway (ext-authz + mcp-router in direct mode, each its own process)
 * versus the same call straight to the calculator tool server, in one run.
 *
 *   npx tsx bench/gateway-vs-direct.ts [--duration 10] [--connections 10]
 *
 * The gateway runs twice side by side, one router with the default write-ahead audit and one with
 * AUDIT_MODE=best-effort, so the cost of storing each call's start and outcome before going on is
 * measured in the same run. Prints p50/p99 latency, requests/s, the ratios and the resident memory
 * of the gateway processes. Uses PGlite in a temporary directory (one per router) unless
 * DATABASE_URL is set.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { signGatewayAuth } from "../contract/src/gateway-auth.ts";
import { freePort } from "./free-port.ts";
import { treeRssMb } from "./proc-stats.ts";
import { signDevToken } from "../dev/token-cli.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "10" },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
if (!(duration > 0 && duration <= 50) || !(connections > 0 && connections <= 1000)) {
  // X-Gateway-Auth for the direct run is signed once and is valid for 60 s.
  throw new Error("--duration must be 1..50 seconds and --connections 1..1000");
}

const secrets = {
  GATEWAY_VERDICT_KEY: randomUUID() + randomUUID(),
  TOOL_GATEWAY_SHARED_SECRET: randomUUID() + randomUUID(),
  JWT_SECRET_KEY: randomUUID() + randomUUID(),
};

const children: ChildProcess[] = [];

function start(name: string, script: string, env: Record<string, string>): ChildProcess {
  const child = spawn(TSX, [path.join(ROOT, script)], {
    env: { PATH: process.env.PATH ?? "", NODE_ENV: "development", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  child.on("exit", (code) => {
    if (!stopping) console.error(`${name} exited early (code ${code})`);
  });
  children.push(child);
  return child;
}

async function waitFor(url: string, init: RequestInit = {}, deadlineMs = 30_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const response = await fetch(url, init);
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} did not come up`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The child is tsx's launcher; the service runs in its node child: the whole tree counts. */
async function rssMb(child: ChildProcess): Promise<string> {
  const mb = await treeRssMb(child.pid!);
  return mb === 0 ? "n/a" : `${mb.toFixed(0)} MB`;
}

let stopping = false;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "mcp-bench-"));
  const [calculatorPort, authzPort, metricsPort, routerPort, bestEffortPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  await writeFile(
    path.join(dir, "tools.yaml"),
    `version: 1
scopes:
  calculator:
    backend_url: http://127.0.0.1:${calculatorPort}
    tools:
      - { name: exact_calculate }
`,
  );
  await writeFile(
    path.join(dir, "policy.yaml"),
    `version: 1
roles:
  developer: { allow: ["calculator.*"] }
quotas:
  per_user: { default: { points: 100000000, duration: 1m } }
  per_tool: { default: { points: 100000000, duration: 1m } }
  per_user_tool: { default: { points: 100000000, duration: 1m } }
protected_resource:
  resource_base_url: http://127.0.0.1:${routerPort}
  authorization_servers: ["http://localhost:8010"]
`,
  );
  const common = {
    ...secrets,
    CONFIG_DIR: dir,
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
  };
  start("calculator", "tools/calculator/src/main.ts", {
    ...common,
    PORT: String(calculatorPort),
    HOST: "127.0.0.1",
  });
  const authz = start("ext-authz", "ext-authz/src/main.ts", {
    ...common,
    EXT_AUTHZ_HOST: "127.0.0.1",
    EXT_AUTHZ_PORT: String(authzPort),
    EXT_AUTHZ_METRICS_PORT: String(metricsPort),
  });
  const router = start("mcp-router", "mcp-router/src/main.ts", {
    ...common,
    AUTHZ_MODE: "direct",
    EXT_AUTHZ_ADDRESS: `127.0.0.1:${authzPort}`,
    PORT: String(routerPort),
    HOST: "127.0.0.1",
    DATA_DIR: path.join(dir, "data"),
  });
  start("mcp-router (best-effort)", "mcp-router/src/main.ts", {
    ...common,
    AUDIT_MODE: "best-effort",
    AUTHZ_MODE: "direct",
    EXT_AUTHZ_ADDRESS: `127.0.0.1:${authzPort}`,
    PORT: String(bestEffortPort),
    HOST: "127.0.0.1",
    DATA_DIR: path.join(dir, "data-best-effort"),
  });
  const directUrl = `http://127.0.0.1:${calculatorPort}/mcp`;
  const gatewayUrl = `http://127.0.0.1:${routerPort}/calculator/mcp`;
  await waitFor(`http://127.0.0.1:${calculatorPort}/health`);
  await waitFor(`http://127.0.0.1:${routerPort}/ready`);
  await waitFor(`http://127.0.0.1:${bestEffortPort}/ready`);

  const token = await signDevToken(
    { user: "bench", roles: ["developer"], ttlSeconds: 3600 },
    { ...secrets, NODE_ENV: "development" },
  );
  const accept = "application/json, text/event-stream";
  const openSession = async (url: string): Promise<string> => {
    const init = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: {
          protocolVersion: "2025-11-25",
          capabilities: {},
          clientInfo: { name: "bench", version: "1" },
        },
      }),
    });
    const sessionId = init.headers.get("mcp-session-id");
    if (init.status !== 200 || sessionId === null)
      throw new Error(`initialize through the gateway failed: ${init.status}`);
    return sessionId;
  };
  const bestEffortUrl = `http://127.0.0.1:${bestEffortPort}/calculator/mcp`;
  const sessionId = await openSession(gatewayUrl);
  const bestEffortSession = await openSession(bestEffortUrl);

  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: {
      name: "exact_calculate",
      arguments: { operator: "multiply", operands: ["1.25", "3.5", "2"] },
    },
  });
  const check = await fetch(gatewayUrl, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept,
      "mcp-session-id": sessionId,
      "mcp-protocol-version": "2025-11-25",
    },
    body,
  });
  if (check.status !== 200)
    throw new Error(`tools/call through the gateway failed: ${check.status} ${await check.text()}`);

  const directHeaders = {
    "content-type": "application/json",
    accept,
    "mcp-protocol-version": "2025-11-25",
    "x-user-id": "bench",
  };
  // X-Gateway-Auth is single-use: every direct request carries one of its own, as from the router.
  const signDirect = (request: autocannon.Request): autocannon.Request => {
    const requestId = randomUUID();
    return {
      ...request,
      headers: {
        ...request.headers,
        "x-request-id": requestId,
        "x-gateway-auth": signGatewayAuth({
          secret: secrets.TOOL_GATEWAY_SHARED_SECRET,
          audience: "calculator",
          userId: "bench",
          requestId,
          body,
        }),
      },
    };
  };
  const perRequest = (url: string) =>
    url === directUrl ? [{ setupRequest: signDirect }] : undefined;
  const gatewayHeaders = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    accept,
    "mcp-session-id": sessionId,
    "mcp-protocol-version": "2025-11-25",
  };
  const bestEffortHeaders = { ...gatewayHeaders, "mcp-session-id": bestEffortSession };

  const run = async (url: string, headers: Record<string, string>) => {
    const result = await autocannon({
      url,
      method: "POST",
      headers,
      body,
      connections,
      duration,
      requests: perRequest(url),
    });
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${url}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
    }
    return { p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average };
  };
  // Warm both paths (JIT, pools) before measuring.
  await autocannon({
    url: directUrl,
    method: "POST",
    headers: directHeaders,
    body,
    connections,
    duration: 2,
    requests: perRequest(directUrl),
  });
  for (const [url, headers] of [
    [gatewayUrl, gatewayHeaders],
    [bestEffortUrl, bestEffortHeaders],
  ] as const) {
    await autocannon({ url, method: "POST", headers, body, connections, duration: 2 });
  }
  const direct = await run(directUrl, directHeaders);
  const bestEffort = await run(bestEffortUrl, bestEffortHeaders);
  const gateway = await run(gatewayUrl, gatewayHeaders);
  const memory = { router: await rssMb(router), extAuthz: await rssMb(authz) };

  const rows = [
    ["", "direct", "gateway", "gateway/direct"],
    [
      "p50 latency (ms)",
      direct.p50,
      gateway.p50,
      (gateway.p50 / Math.max(direct.p50, 0.001)).toFixed(2),
    ],
    [
      "p99 latency (ms)",
      direct.p99,
      gateway.p99,
      (gateway.p99 / Math.max(direct.p99, 0.001)).toFixed(2),
    ],
    [
      "requests/s",
      direct.rps.toFixed(0),
      gateway.rps.toFixed(0),
      (gateway.rps / direct.rps).toFixed(2),
    ],
  ];
  console.log(
    `tools/call exact_calculate, ${connections} connections, ${duration} s each (node ${process.version})`,
  );
  for (const row of rows)
    console.log(row.map((cell, i) => String(cell).padEnd(i === 0 ? 18 : 10)).join(" "));
  console.log(
    `write-ahead audit vs best-effort: p50 ${bestEffort.p50} -> ${gateway.p50} ms, ` +
      `p99 ${bestEffort.p99} -> ${gateway.p99} ms, ` +
      `requests/s ${bestEffort.rps.toFixed(0)} -> ${gateway.rps.toFixed(0)} ` +
      `(×${(gateway.rps / bestEffort.rps).toFixed(2)})`,
  );
  console.log(
    `resident memory after the run: mcp-router ${memory.router}, ext-authz ${memory.extAuthz}`,
  );
  await rm(dir, { recursive: true, force: true });
}

try {
  await main();
} finally {
  stopping = true;
  for (const child of children) child.kill("SIGTERM");
}
