import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../store/src/open-database.ts";
import {
  CONNECTION_FAULT_SKIP,
  connectionFaultServer,
  type ConnectionFaultServer,
} from "./fault-postgres.ts";
import type { TestDatabase } from "./postgres-server.ts";

/**
 * The store's pg pool when PostgreSQL terminates its connections (pg_terminate_backend, as an
 * operator or a failover does): connections idle in the pool and connections checked out between
 * two statements of a transaction. An 'error' event nobody listens to would kill this test
 * worker; instead each is reported once and the pool connects anew.
 */
describe.skipIf(CONNECTION_FAULT_SKIP !== undefined)(
  `pg pool under pg_terminate_backend${CONNECTION_FAULT_SKIP === undefined ? "" : ` (skipped: ${CONNECTION_FAULT_SKIP})`}`,
  () => {
    let server: ConnectionFaultServer;
    let target: TestDatabase;
    let database: Database;
    const reported: Error[] = [];

    beforeAll(async () => {
      server = await connectionFaultServer();
      target = await server.createDatabase();
      database = await openDatabase({
        databaseUrl: target.url,
        poolMax: 4,
        onPoolError: (error) => reported.push(error),
      });
    });
    afterAll(async () => {
      await database?.close();
      await target?.drop();
      await server?.close();
    });

    const backendPid = async () =>
      (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(database.db)).rows[0]!
        .pid;

    it("survives the termination of idle and checked-out connections and reconnects", async () => {
      const before = await backendPid();

      // One connection held in a transaction between two statements, the others idle.
      let terminated = 0;
      const transaction = database.db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        terminated = await target.terminateOtherBackends();
        // pg delivers the termination as an 'error' event on the checked-out client; the next
        // statement then fails instead of the process dying.
        await sql`select 2`.execute(trx);
      });
      await expect(transaction).rejects.toThrow();
      expect(terminated).toBeGreaterThanOrEqual(1);

      const after = await backendPid();
      expect(after).not.toBe(before);
      // 57P01 itself, or the closed socket when the next statement was already on its way.
      expect(reported.length).toBeGreaterThanOrEqual(1);
    });
  },
);
