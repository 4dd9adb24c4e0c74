import type { Kysely } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../store/src/open-database.ts";
import type { DB } from "../../store/src/schema.ts";
import { CONNECTION_FAULT_SKIP, connectionFaultServer } from "./fault-postgres.ts";
import { startGateway, startLoad, TEST_TIMEOUT_MS, type Gateway } from "./gateway-process.ts";

/**
 * Issue #12, items 1 and 7: the gateway is killed with SIGKILL while clients call tools (no
 * drain, no flush, nothing closed). Write-ahead audit promises that every answer a client received
 * has its outcome row, and that every call the dead process had started is recorded: as a start
 * row until a gateway starts again, then as an `interrupted` row. On PostgreSQL, and on PGlite as
 * `npm start` runs by default.
 */
const KILL_AFTER_SERVED = 120;

type Reconciliation = {
  /** Answers the clients received that have no row with the status they got. */
  answeredWithoutRow: string[];
  /** Request ids of start rows no outcome has closed. */
  openStarts: string[];
  interrupted: string[];
};

async function reconcile(db: Kysely<DB>, answers: Map<string, number>): Promise<Reconciliation> {
  const rows = await db
    .selectFrom("audit_events")
    .select(["request_id", "status"])
    .where("source", "=", "router")
    .where("kind", "=", "invocation")
    .where("request_id", "in", [...answers.keys()])
    .execute();
  const recorded = new Set(rows.map((row) => `${row.request_id} ${row.status}`));
  const open = await db
    .selectFrom("audit_call_starts")
    .select("request_id")
    .orderBy("request_id")
    .execute();
  const interrupted = await db
    .selectFrom("audit_events")
    .select("request_id")
    .where("outcome", "=", "interrupted")
    .orderBy("request_id")
    .execute();
  return {
    answeredWithoutRow: [...answers]
      .filter(([requestId, status]) => !recorded.has(`${requestId} ${status}`))
      .map(([requestId]) => requestId),
    openStarts: open.map((row) => row.request_id),
    interrupted: interrupted.map((row) => row.request_id),
  };
}

type Backend = {
  name: string;
  skip: string | undefined;
  /** A database for the run: where the gateway is pointed, and how the test reads it. */
  prepare(): Promise<{
    start(previous?: Gateway): Promise<Gateway>;
    /** Reads the database while no gateway holds it (PGlite admits one process). */
    read<T>(gateway: Gateway, query: (db: Kysely<DB>) => Promise<T>): Promise<T>;
    close(): Promise<void>;
  }>;
};

const BACKENDS: Backend[] = [
  {
    name: "PostgreSQL",
    skip: CONNECTION_FAULT_SKIP,
    async prepare() {
      const server = await connectionFaultServer();
      const target = await server.createDatabase();
      return {
        start: () => startGateway(target.url),
        async read(_gateway, query) {
          const database = await openDatabase({ databaseUrl: target.url });
          try {
            return await query(database.db);
          } finally {
            await database.close();
          }
        },
        async close() {
          await target.drop();
          await server.close();
        },
      };
    },
  },
  {
    name: "PGlite (the npm start default)",
    skip: undefined,
    async prepare() {
      return {
        start: (previous) =>
          startGateway(undefined, previous === undefined ? {} : { DATA_DIR: previous.dataDir }),
        async read(gateway, query) {
          // The killed process's lock file names a dead pid: it is taken over.
          const database = await openDatabase({ dataDir: gateway.dataDir });
          try {
            return await query(database.db);
          } finally {
            await database.close();
          }
        },
        close: async () => undefined,
      };
    },
  },
];

describe.each(BACKENDS)("gateway killed with SIGKILL under load, on $name", (backend) => {
  const gateways: Gateway[] = [];
  let cleanup: (() => Promise<void>) | undefined;
  afterAll(async () => {
    for (const gateway of gateways.reverse()) await gateway.dispose();
    await cleanup?.();
  });

  it.skipIf(backend.skip !== undefined)(
    `every answer received has its row; the dead process's open calls become interrupted${backend.skip === undefined ? "" : ` (skipped: ${backend.skip})`}`,
    { timeout: TEST_TIMEOUT_MS * 2 },
    async () => {
      const database = await backend.prepare();
      cleanup = () => database.close();
      const first = await database.start();
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

      const afterKill = await database.read(first, (db) => reconcile(db, answers));
      expect(afterKill.answeredWithoutRow).toEqual([]);
      expect(afterKill.interrupted).toEqual([]);
      // The calls in flight: started, never closed, and none a client was answered for.
      expect(afterKill.openStarts.filter((requestId) => answers.has(requestId))).toEqual([]);

      // The next gateway marks them interrupted before it serves.
      const second = await database.start(first);
      gateways.push(second);
      const more = startLoad(second, 2);
      await more.served(10);
      await more.stop();
      expect(await second.stop(), second.output()).toBe(0);

      const afterRestart = await database.read(second, (db) => reconcile(db, answers));
      expect(afterRestart.openStarts).toEqual([]);
      expect(afterRestart.interrupted).toEqual(afterKill.openStarts);
      expect(afterRestart.answeredWithoutRow).toEqual([]);
    },
  );
});
