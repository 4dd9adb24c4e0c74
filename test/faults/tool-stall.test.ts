/**
 * A tool busy on CPU must not stall the gateway when all of it shares one process (`npm start`,
 * the embedded stack). While one user's generate_document renders a large PDF on the docs worker
 * pool, the router's /health, ext-authz's gRPC health and another user's exact_calculate (whose
 * Check passes through ext-authz) keep answering within their normal latency, measured as a
 * baseline in the same test; the busy call then ends with the budget error. Synchronization is on
 * the busy call's own answer: probes run until it arrives, never on sleeps.
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthzClient, type AuthzClient } from "../../contract/src/authz-wire.ts";
import { createLogger } from "../../contract/src/log.ts";
import { startEmbeddedStack, type EmbeddedStack } from "../../dev/embedded-stack.ts";
import { signDevToken } from "../../dev/token-cli.ts";

const CONFIG_DIR = fileURLToPath(new URL("../../config", import.meta.url));
/** Small on purpose: the busy document needs seconds, so it ends by its budget on any machine. */
const BUDGET_MS = 400;
/** Whatever the baseline, a probe may take this long before it counts as stalled. */
const FLOOR_MS = 500;
const PROBE_USERS = 4;

const env: Record<string, string> = {
  NODE_ENV: "test",
  LOG_LEVEL: "silent",
  HOST: "127.0.0.1",
  PORT: "0",
  EXT_AUTHZ_PORT: "0",
  CONFIG_DIR,
  JWT_SECRET_KEY: "stall-jwt-secret-key-0123456789abcdefghijklmn",
  GATEWAY_VERDICT_KEY: "stall-verdict-key-0123456789abcdefghijklmnop",
  TOOL_GATEWAY_SHARED_SECRET: "stall-tool-secret-0123456789abcdefghijklmno",
  DOCS_WORKER_THREADS: "1",
  DOCS_WORKER_BUDGET_MS: String(BUDGET_MS),
};

/** Within every bound, and seconds of PDF layout: 40 columns of table cells, ~5 000 rows. */
function heavyDocument(): string {
  const row = (cell: string) => `|${Array.from({ length: 40 }, () => cell).join("|")}|`;
  const lines = [row("h"), row("-")];
  while (lines.join("\n").length < 190_000) lines.push(row("b"));
  return lines.join("\n");
}

type Invoked = { status: number; body: { is_error?: boolean; result?: { content?: unknown[] } } };

async function invoke(
  stack: EmbeddedStack,
  token: string,
  tool: string,
  args: Record<string, unknown>,
): Promise<Invoked> {
  const response = await fetch(`${stack.url}/mcp/invoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ tool_name: tool, arguments: args }),
  });
  return { status: response.status, body: (await response.json()) as Invoked["body"] };
}

function firstText(invoked: Invoked): string {
  const [first] = (invoked.body.result?.content ?? []) as { type?: string; text?: string }[];
  return first?.type === "text" ? (first.text ?? "") : "";
}

type Probe = "router /health" | "ext-authz health" | "exact_calculate";
type Sample = { probe: Probe; ms: number; at: number };

describe("a CPU-bound tool call does not stall the embedded gateway", () => {
  let stack: EmbeddedStack;
  let authz: AuthzClient;
  let author: string;
  const probers: string[] = [];
  let calls = 0;

  beforeAll(async () => {
    stack = await startEmbeddedStack({
      env,
      inMemoryDatabase: true,
      logger: createLogger({ name: "tool-stall", level: "silent" }),
    });
    authz = createAuthzClient(stack.extAuthzAddress);
    author = await signDevToken({ user: "author", roles: ["analyst"], ttlSeconds: 600 }, env);
    // exact_calculate has a per-user quota; spreading the probes keeps them far below it.
    for (let index = 0; index < PROBE_USERS; index += 1) {
      probers.push(
        await signDevToken({ user: `prober-${index}`, roles: ["analyst"], ttlSeconds: 600 }, env),
      );
    }
  });
  afterAll(async () => {
    authz?.close();
    await stack?.close();
  });

  /** One round of the three probes, one after the other, each timed on its own. */
  async function probeRound(samples: Sample[]): Promise<void> {
    const timed = async (probe: Probe, run: () => Promise<void>): Promise<void> => {
      const started = performance.now();
      await run();
      samples.push({ probe, ms: performance.now() - started, at: started });
    };
    await timed("router /health", async () => {
      const response = await fetch(`${stack.url}/health`);
      await response.arrayBuffer();
      expect(response.status).toBe(200);
    });
    await timed("ext-authz health", async () => {
      expect(await authz.health(undefined, { deadlineMs: 5_000 })).toEqual({ status: "SERVING" });
    });
    await timed("exact_calculate", async () => {
      const token = probers[calls++ % PROBE_USERS] as string;
      const answer = await invoke(stack, token, "calculator.exact_calculate", {
        operator: "add",
        operands: ["0.1", "0.2"],
      });
      expect(answer.status).toBe(200);
      expect(answer.body.result).toMatchObject({ structuredContent: { result: "0.3" } });
    });
  }

  it("keeps health and other users' calls at baseline latency; the busy call ends by its budget", async () => {
    // Warm up: the docs worker thread starts and loads its modules; every path is compiled. On a
    // busy machine the first render of a cold worker can overrun the small budget: a warm one
    // renders this document well inside it.
    let small: Awaited<ReturnType<typeof invoke>> | undefined;
    for (let attempt = 0; attempt < 3 && small?.body.is_error !== false; attempt += 1) {
      small = await invoke(stack, author, "docs.generate_document", {
        format: "pdf",
        title: "warm-up",
        content: "# warm\n\nup",
      });
    }
    expect(small?.body.is_error).toBe(false);
    const warmUp: Sample[] = [];
    for (let round = 0; round < 5; round += 1) await probeRound(warmUp);

    const baseline: Sample[] = [];
    for (let round = 0; round < 10; round += 1) await probeRound(baseline);
    const worstBaseline = Math.max(...baseline.map((sample) => sample.ms));
    const limit = Math.max(FLOOR_MS, worstBaseline * 5);

    const busyStarted = performance.now();
    const busyState: { endedAt?: number } = {};
    const busy = invoke(stack, author, "docs.generate_document", {
      format: "pdf",
      title: "A table far too wide and long",
      content: heavyDocument(),
    }).finally(() => {
      busyState.endedAt = performance.now();
    });
    const during: Sample[] = [];
    while (busyState.endedAt === undefined) await probeRound(during);
    const answer = await busy;
    const busyEnded = busyState.endedAt;

    expect(answer.status).toBe(200);
    expect(answer.body.is_error).toBe(true);
    expect(firstText(answer)).toBe(
      `Tool generate_document exceeded its time budget of ${BUDGET_MS} ms and was stopped; shorten or simplify the input`,
    );
    // The busy call ran at least its budget on the worker; the probes covered that time.
    const busyMs = busyEnded - busyStarted;
    expect(busyMs).toBeGreaterThanOrEqual(BUDGET_MS);
    const overlapping = during.filter((sample) => sample.at < busyEnded);
    expect(overlapping.length).toBeGreaterThanOrEqual(3 * 3);

    const worstDuring = Math.max(...during.map((sample) => sample.ms));
    const report = (samples: Sample[]) =>
      Object.fromEntries(
        (["router /health", "ext-authz health", "exact_calculate"] as const).map((probe) => {
          const times = samples.filter((s) => s.probe === probe).map((s) => s.ms);
          return [probe, `max ${Math.max(...times).toFixed(1)} ms over ${times.length}`];
        }),
      );
    console.info("tool-stall latencies", {
      busyMs: Math.round(busyMs),
      limitMs: Math.round(limit),
      baseline: report(baseline),
      during: report(during),
    });
    expect(worstDuring).toBeLessThan(limit);

    // The worker was replaced: the next document renders normally.
    const after = await invoke(stack, author, "docs.generate_document", {
      format: "html",
      title: "after",
      content: "still *fine*",
    });
    expect(after.body.is_error).toBe(false);
  });
});
