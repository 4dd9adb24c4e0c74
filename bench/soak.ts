/**
 * Soak: the gateway as `npm start` runs it (ext-authz, router and tool servers in one process)
 * under a steady mixed load for a long time, to see whether memory settles and whether every
 * answered call is audited.
 *
 *   npx tsx bench/soak.ts [--minutes 30] [--rate 40] [--interval 30]
 *
 * Every `--interval` seconds it prints the process's resident memory and V8 heap (from the
 * router's /metrics), the calls answered and the audit queue. At the end the gateway is stopped
 * with SIGTERM and every answer a client received is looked up in audit_events (the row with the
 * status the client got). PostgreSQL when DATABASE_URL is set, else PGlite in a scratch directory.
 */
import { parseArgs } from "node:util";
import { sql } from "kysely";
import { openDatabase } from "../store/src/open-database.ts";
import { startGateway, type Gateway } from "../test/faults/gateway-process.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    rate: { type: "string", default: "40" },
    interval: { type: "string", default: "30" },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const intervalS = Number(values.interval);
if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error("--minutes must be in (0, 1440]");
if (!(rate > 0 && rate <= 500)) throw new Error("--rate must be in (0, 500] calls/s");
if (!(intervalS >= 1 && intervalS <= 3600)) throw new Error("--interval must be 1..3600 s");

/** What the load sends, round robin: cheap calls mostly, a document and a git read now and then. */
const CALLS: { tool: string; arguments: (n: number) => Record<string, unknown> }[] = [
  {
    tool: "calculator.exact_calculate",
    arguments: (n) => ({ operator: "add", operands: ["0.1", String(n)] }),
  },
  {
    tool: "calculator.exact_calculate",
    arguments: (n) => ({ operator: "multiply", operands: ["1.25", String(n % 97)] }),
  },
  { tool: "calculator.list_units", arguments: () => ({}) },
  {
    tool: "calculator.exact_calculate",
    arguments: (n) => ({ operator: "divide", operands: [String(n), "7"] }),
  },
  {
    tool: "docs.generate_document",
    arguments: (n) => ({
      format: "html",
      title: `Soak ${n}`,
      content: `# Report ${n}\n\n- item one\n- item *two*\n\n| a | b |\n|---|---|\n| ${n} | x |`,
    }),
  },
  { tool: "git.git_list_repositories", arguments: () => ({}) },
];

type Metrics = { rssMb: number; heapMb: number; queued: number };

async function metrics(gateway: Gateway): Promise<Metrics> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
  return {
    rssMb: read("mcp_router_process_resident_memory_bytes") / 2 ** 20,
    heapMb: read("mcp_router_nodejs_heap_size_used_bytes") / 2 ** 20,
    queued: read("mcp_router_audit_queue_events"),
  };
}

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const gateway = await startGateway(databaseUrl, { LOG_LEVEL: "error" });
  const answers = new Map<string, number>();
  const statuses = new Map<number, number>();
  let failures = 0;
  const refusals = new Set<string>();
  try {
    // Dev tokens live 10 minutes: a fresh one every 5, as a client refreshes its own.
    let token = await gateway.token("soak");
    const refresh = setInterval(() => {
      void gateway.token("soak").then((fresh) => (token = fresh));
    }, 300_000);
    refresh.unref();
    const started = performance.now();
    const endAt = started + minutes * 60_000;
    const spacingMs = 1000 / rate;
    const inFlight = new Set<Promise<void>>();

    const one = async (n: number) => {
      const call = CALLS[n % CALLS.length]!;
      try {
        const response = await fetch(`${gateway.url}/mcp/invoke`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ tool_name: call.tool, arguments: call.arguments(n) }),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await response.text();
        if (response.status !== 200 && refusals.size < 5)
          refusals.add(`${response.status} ${text.slice(0, 200)}`);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const requestId = response.headers.get("x-request-id");
        if (requestId !== null) answers.set(requestId, response.status);
      } catch {
        failures += 1;
      }
    };

    const report = async () => {
      const seconds = (performance.now() - started) / 1000;
      const m = await metrics(gateway);
      console.log(
        `${(seconds / 60).toFixed(1).padStart(6)} min  answered ${String(answers.size).padStart(7)}` +
          `  rss ${m.rssMb.toFixed(0).padStart(4)} MB  heap ${m.heapMb.toFixed(0).padStart(4)} MB` +
          `  audit queue ${m.queued}  no answer ${failures}`,
      );
    };

    console.log(
      `soak: ${minutes} min at ${rate} calls/s, ${databaseUrl ? "PostgreSQL" : "PGlite"}, node ${process.version}`,
    );
    await report();
    let nextReport = started + intervalS * 1000;
    // Calls are sent on a fixed schedule (open loop): a slow gateway gets more calls in flight,
    // not fewer calls, as it would from real clients.
    for (let n = 0; performance.now() < endAt; n += 1) {
      const due = started + n * spacingMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const promise = one(n).finally(() => inFlight.delete(promise));
      inFlight.add(promise);
      if (performance.now() >= nextReport) {
        nextReport += intervalS * 1000;
        await report();
      }
    }
    await Promise.all(inFlight);
    await report();
  } finally {
    const code = await gateway.stop();
    if (code !== 0) console.error(`gateway exited with ${code}:\n${gateway.output().slice(-2000)}`);
  }

  const missing = await reconcile(databaseUrl, gateway.dataDir, answers);
  await gateway.dispose();
  console.log(
    `statuses: ${[...statuses].map(([status, count]) => `${status}×${count}`).join(", ")}; ` +
      `no answer: ${failures}`,
  );
  console.log(
    `audit reconciliation: ${answers.size} answers received, ${answers.size - missing.length} ` +
      `with their row, ${missing.length} missing${missing.length > 0 ? ` (e.g. ${missing.slice(0, 5).join(", ")})` : ""}`,
  );
  for (const refusal of refusals) console.log(`refusal: ${refusal}`);
  if (missing.length > 0) process.exitCode = 1;
}

/**
 * Request ids without their row: a 200 needs the router's invocation row with status 200; a
 * refusal needs a row of the request from whoever refused it (ext-authz's decision or the
 * router's row with that status).
 */
async function reconcile(
  databaseUrl: string | undefined,
  dataDir: string,
  answers: Map<string, number>,
): Promise<string[]> {
  const database = await openDatabase(databaseUrl === undefined ? { dataDir } : { databaseUrl });
  try {
    const ids = [...answers.keys()];
    const recorded = new Set<string>();
    for (let offset = 0; offset < ids.length; offset += 5_000) {
      const { rows } = await sql<{ request_id: string; status: number | null; source: string }>`
        select request_id, status, source from audit_events
        where (source = 'ext-authz' or kind = 'invocation')
          and request_id = any(${ids.slice(offset, offset + 5_000)})
      `.execute(database.db);
      for (const row of rows) {
        recorded.add(`${row.request_id} ${row.source === "router" ? row.status : "refused"}`);
      }
    }
    return ids.filter((id) => {
      const status = answers.get(id)!;
      return status === 200
        ? !recorded.has(`${id} 200`)
        : !recorded.has(`${id} ${status}`) && !recorded.has(`${id} refused`);
    });
  } finally {
    await database.close();
  }
}

await main();
