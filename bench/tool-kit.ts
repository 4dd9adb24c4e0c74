/**
 * The tool kit's own cost: the calculator tool server alone, in its own process, driven with
 * router-style signed `tools/call exact_calculate` requests (a fresh request id and X-Gateway-Auth
 * per request, as the router sends them).
 *
 *   npx tsx bench/tool-kit.ts [--requests 20000] [--connections 8] [--log-level info]
 *                             [--threads 1] [--idle-timeout-ms 2000] [--cpu-prof DIR]
 *
 * Prints the server's CPU time per call (user + system of the whole process, from /proc, so
 * Linux only), requests/s, and its resident memory: idle after start, after its worker pool
 * (`--threads` threads, CALCULATOR_WORKER_THREADS) ran one call, and after the pool's idle timeout.
 * `--cpu-prof DIR` writes a V8 CPU profile of the server there (`node --cpu-prof`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { signGatewayAuth } from "../contract/src/gateway-auth.ts";
import { freePort } from "./free-port.ts";
import { cpuTimes, rssMb, threadCount } from "./proc-stats.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = path.join(ROOT, "tools", "calculator", "src", "main.ts");
const SECRET = `${randomUUID()}${randomUUID()}`;
const USER = "bench";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "20000" },
    connections: { type: "string", default: "8" },
    "log-level": { type: "string", default: "info" },
    threads: { type: "string", default: "1" },
    "idle-timeout-ms": { type: "string", default: "2000" },
    "cpu-prof": { type: "string" },
  },
});
const requests = Number(values.requests);
const connections = Number(values.connections);
const idleTimeoutMs = Number(values["idle-timeout-ms"]);
if (!(requests >= 100 && requests <= 1_000_000) || !(connections > 0 && connections <= 256)) {
  throw new Error("--requests must be 100..1000000 and --connections 1..256");
}

async function waitForHealth(url: string, deadlineMs = 30_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} did not come up`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function signedHeaders(body: string): Record<string, string> {
  const requestId = randomUUID();
  return {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
    "x-user-id": USER,
    "x-request-id": requestId,
    "x-gateway-auth": signGatewayAuth({
      secret: SECRET,
      audience: "calculator",
      userId: USER,
      requestId,
      body,
    }),
  };
}

const CALL_BODY = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: {
    name: "exact_calculate",
    arguments: { operator: "multiply", operands: ["1.25", "3.5", "2"] },
  },
});

async function load(url: string, amount: number): Promise<{ rps: number; p50: number }> {
  const result = await autocannon({
    url: `${url}/mcp`,
    method: "POST",
    connections,
    amount,
    requests: [
      {
        setupRequest: (request) => ({
          ...request,
          body: CALL_BODY,
          headers: signedHeaders(CALL_BODY),
        }),
      },
    ],
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${result.non2xx} non-2xx responses, ${result.errors} errors`);
  }
  return { rps: result.requests.average, p50: result.latency.p50 };
}

async function callOnWorker(url: string): Promise<void> {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 2,
    method: "tools/call",
    params: { name: "evaluate_expression", arguments: { expression: "2^10" } },
  });
  const response = await fetch(`${url}/mcp`, {
    method: "POST",
    headers: signedHeaders(body),
    body,
  });
  const text = await response.text();
  if (!response.ok || !text.includes("1024")) throw new Error(`worker call failed: ${text}`);
}

async function main(child: ChildProcess, url: string): Promise<void> {
  const pid = child.pid!;
  await waitForHealth(url);
  // Let startup work (module loading, JIT of the first paths) settle before reading memory.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const idleRss = await rssMb(pid);
  const idleThreads = await threadCount(pid);

  const check = await fetch(`${url}/mcp`, {
    method: "POST",
    headers: signedHeaders(CALL_BODY),
    body: CALL_BODY,
  });
  const answer = await check.text();
  if (!check.ok || !answer.includes('"result":"8.75"')) throw new Error(`bad answer: ${answer}`);
  // Warm-up: JIT, keep-alive sockets.
  await load(url, Math.min(2_000, requests));
  const before = await cpuTimes(pid);
  const started = performance.now();
  const run = await load(url, requests);
  const wallMs = performance.now() - started;
  const after = await cpuTimes(pid);
  const user = after.user - before.user;
  const system = after.system - before.system;
  const used = user + system;
  const afterLoadRss = await rssMb(pid);

  await callOnWorker(url);
  const workerRss = await rssMb(pid);
  const workerThreads = await threadCount(pid);
  await new Promise((resolve) => setTimeout(resolve, idleTimeoutMs + 1_500));
  const afterIdleRss = await rssMb(pid);
  const afterIdleThreads = await threadCount(pid);

  console.log(
    `calculator tools/call exact_calculate: ${requests} calls, ${connections} connections, LOG_LEVEL=${values["log-level"]} (node ${process.version})`,
  );
  console.log(
    `  server CPU ${(used / requests).toFixed(3)} ms per call ` +
      `(user ${(user / requests).toFixed(3)}, system ${(system / requests).toFixed(3)}; ` +
      `${used.toFixed(0)} ms over ${(wallMs / 1000).toFixed(1)} s), ` +
      `${run.rps.toFixed(0)} requests/s, p50 ${run.p50} ms`,
  );
  console.log(
    `  RSS: idle after start ${idleRss.toFixed(0)} MB (${idleThreads} threads), after the load ${afterLoadRss.toFixed(0)} MB, ` +
      `after a worker call ${workerRss.toFixed(0)} MB (${workerThreads} threads), ` +
      `${((idleTimeoutMs + 1_500) / 1000).toFixed(1)} s later ${afterIdleRss.toFixed(0)} MB (${afterIdleThreads} threads)`,
  );
}

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const profileFlags =
  values["cpu-prof"] === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", values["cpu-prof"]];
const child = spawn(process.execPath, [...profileFlags, "--import", "tsx", MAIN], {
  cwd: ROOT,
  env: {
    PATH: process.env.PATH ?? "",
    NODE_ENV: "production",
    PORT: String(port),
    TOOL_GATEWAY_SHARED_SECRET: SECRET,
    LOG_LEVEL: values["log-level"],
    CALCULATOR_WORKER_THREADS: values.threads,
    CALCULATOR_WORKER_IDLE_TIMEOUT_MS: String(idleTimeoutMs),
  },
  // Log lines are part of the server's cost; the bench just discards them.
  stdio: ["ignore", "ignore", "inherit"],
});
try {
  await main(child, url);
} finally {
  child.kill("SIGTERM");
  await once(child, "exit");
}
