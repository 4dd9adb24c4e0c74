import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CONNECTION_FAULT_SKIP,
  connectionFaultServer,
  type ConnectionFaultServer,
} from "./fault-postgres.ts";
import { startGateway, startLoad, TEST_TIMEOUT_MS, type Gateway } from "./gateway-process.ts";
import type { TestDatabase } from "./postgres-server.ts";

/**
 * Issue #12, items 1 and 7: the gateway is killed with SIGKILL while clients call tools (no
 * drain, no flush, nothing closed). Write-ahead audit promises that every answer a client received
 * has its outcome row, and that every call the dead process had started is recorded: as a start
 * row until a gateway starts again, then as an `interrupted` row.
 */
const KILL_AFTER_SERVED = 120;

type Reconciliation = {
  /** Answers the clients received that have no row with the same status. */
  answeredWithoutRow: string[];
  /** Request ids of start rows no outcome has closed. */
  openStarts: string[];
  interrupted: string[];
};

async function reconcile(
  databaseUrl: string,
  answers: Map<string, number>,
): Promise<Reconciliation> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const rows = await client.query<{ request_id: string; status: number | null; outcome: string }>(
      `select request_id, status, outcome from audit_events
       where source = 'router' and kind = 'invocation' and request_id = any($1)`,
      [[...answers.keys()]],
    );
    const recorded = new Set(rows.rows.map((row) => `${row.request_id} ${row.status}`));
    const open = await client.query<{ request_id: string }>(
      "select request_id from audit_call_starts order by request_id",
    );
    const interrupted = await client.query<{ request_id: string }>(
      "select request_id from audit_events where outcome = 'interrupted' order by request_id",
    );
    return {
      answeredWithoutRow: [...answers]
        .filter(([requestId, status]) => !recorded.has(`${requestId} ${status}`))
        .map(([requestId]) => requestId),
      openStarts: open.rows.map((row) => row.request_id),
      interrupted: interrupted.rows.map((row) => row.request_id),
    };
  } finally {
    await client.end();
  }
}

describe.skipIf(CONNECTION_FAULT_SKIP !== undefined)(
  `gateway killed with SIGKILL under load${CONNECTION_FAULT_SKIP === undefined ? "" : ` (skipped: ${CONNECTION_FAULT_SKIP})`}`,
  () => {
    let server: ConnectionFaultServer;
    let target: TestDatabase;
    const gateways: Gateway[] = [];

    beforeAll(async () => {
      server = await connectionFaultServer();
      target = await server.createDatabase();
    });
    afterAll(async () => {
      for (const gateway of gateways) await gateway.dispose();
      await target?.drop();
      await server?.close();
    });

    it(
      "every answer received has its row; the dead process's open calls become interrupted",
      { timeout: TEST_TIMEOUT_MS * 2 },
      async () => {
        const first = await startGateway(target.url);
        gateways.push(first);
        const load = startLoad(first, 8);
        await load.served(KILL_AFTER_SERVED);
        await first.kill();
        await load.stop();

        const answers = new Map(
          load.answers
            .filter((answer) => answer.status !== 0 && answer.requestId !== null)
            .map((answer) => [answer.requestId!, answer.status] as const),
        );
        expect(answers.size).toBeGreaterThanOrEqual(KILL_AFTER_SERVED);
        expect([...new Set(answers.values())]).toEqual([200]);

        const afterKill = await reconcile(target.url, answers);
        expect(afterKill.answeredWithoutRow).toEqual([]);
        expect(afterKill.interrupted).toEqual([]);
        // Calls the clients never got an answer for: started, never closed. None of them is one
        // a client was answered for.
        expect(afterKill.openStarts.filter((requestId) => answers.has(requestId))).toEqual([]);

        // The next gateway marks them interrupted before it serves.
        const second = await startGateway(target.url);
        gateways.push(second);
        const afterRestart = await reconcile(target.url, answers);
        expect(afterRestart.openStarts).toEqual([]);
        expect(afterRestart.interrupted).toEqual(afterKill.openStarts);
        expect(afterRestart.answeredWithoutRow).toEqual([]);

        // And it serves, with the same guarantees.
        const more = startLoad(second, 2);
        await more.served(10);
        await more.stop();
        expect(await second.stop(), second.output()).toBe(0);
      },
    );
  },
);
