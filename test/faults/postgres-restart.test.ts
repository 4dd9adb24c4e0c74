import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  auditCounters,
  readiness,
  startGateway,
  startLoad,
  TEST_TIMEOUT_MS,
  unaudited,
  type Gateway,
  type Load,
} from "./gateway-process.ts";
import {
  NO_POSTGRES_REASON,
  POSTGRES_BIN,
  startPrivateServer,
  type PrivateServer,
  type TestDatabase,
} from "./postgres-server.ts";

/**
 * Issue #12, item 2: the gateway's PostgreSQL server stops and comes back (an upgrade, a
 * failover, a crash) while clients call tools. A private server, never the shared one: stopping
 * it is the test. The process must live, report the database on /ready while it is away (quickly),
 * recover by itself, answer every client 200 or a fail-closed 503, and lose no audit row.
 */
const QUICK_RESTARTS = 3;

describe.skipIf(POSTGRES_BIN === undefined)(
  `gateway across a PostgreSQL restart${POSTGRES_BIN === undefined ? ` (skipped: ${NO_POSTGRES_REASON})` : ""}`,
  () => {
    let server: PrivateServer;
    let target: TestDatabase;
    let gateway: Gateway;

    beforeAll(async () => {
      server = await startPrivateServer(POSTGRES_BIN!);
      target = await server.createDatabase();
      gateway = await startGateway(target.url);
    });
    afterAll(async () => {
      await gateway?.dispose();
      await server?.close();
    });

    /** Answers keep arriving until /ready says ready again (no fixed wait). */
    async function untilReady(load: Load): Promise<void> {
      while ((await readiness(gateway)).status !== 200) await load.answered(5);
    }

    it(
      "stays up, reports the database on /ready, recovers, and audits every answered call",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const load = startLoad(gateway, 6);
        try {
          await load.served(30);

          // A fast shutdown under load: every backend gets 57P01, then the port closes.
          await server.stop();
          await load.answered(30);
          expect(gateway.exitCode(), gateway.output()).toBeNull();
          const down = await readiness(gateway);
          expect(down.status).toBe(503);
          expect(["failing", "timeout"]).toContain(down.checks.database);
          expect(down.ms).toBeLessThan(1_500);
          // A job read needs the task store: a clear, retryable 503, not an internal error.
          const job = await fetch(`${gateway.url}/mcp/jobs/${"a".repeat(32)}`, {
            headers: { authorization: `Bearer ${await gateway.token("job-reader")}` },
          });
          expect(job.status).toBe(503);
          expect(await job.json()).toMatchObject({ error: { code: "GW_DATABASE_UNAVAILABLE" } });

          await server.start();
          await untilReady(load);
          await load.served(30);

          // And restarts in one go, with nothing waiting in between: each a new chance for a
          // termination to meet a connection the pool has just handed out.
          for (let restart = 0; restart < QUICK_RESTARTS; restart += 1) {
            await server.stop();
            await server.start();
            await untilReady(load);
            await load.served(20);
            expect(gateway.exitCode(), gateway.output()).toBeNull();
          }
        } finally {
          await load.stop();
        }
        expect(gateway.exitCode(), gateway.output()).toBeNull();

        const statuses = new Set(load.answers.map((answer) => answer.status));
        expect([...statuses].filter((status) => status !== 200 && status !== 503)).toEqual([]);
        expect((await auditCounters(gateway)).events_failed_total).toBe(0);

        // SIGTERM flushes the audit queue (rows queued while the database was away) before exit.
        expect(await gateway.stop(), gateway.output()).toBe(0);
        const served = load.answers.filter((answer) => answer.status === 200);
        expect(served.every((answer) => answer.requestId !== null)).toBe(true);
        expect(
          await unaudited(
            target.url,
            served.map((answer) => answer.requestId!),
          ),
        ).toEqual([]);
      },
    );
  },
);
