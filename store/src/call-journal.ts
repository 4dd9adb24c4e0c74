import { randomBytes } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Database } from "./open-database.ts";
import type { DB } from "./schema.ts";
import { BACKGROUND_RETRY, backoffDelayMs, retryTransient } from "./transient-retry.ts";

/**
 * Which router processes are alive, and what happens to the start rows (audit_call_starts) of the
 * ones that are not. A router names itself with a random instance id and, on PostgreSQL, holds a
 * session advisory lock on that id for its whole life on one dedicated pooled connection. The lock
 * goes when the process does, however it dies (the kernel closes its socket, the server ends the
 * session), so "the lock is free" means "the router is gone": its start rows are calls that never
 * got an outcome, and any replica turns them into `interrupted` audit rows. On PGlite the data
 * directory admits one process at a time, so every other instance is gone by construction.
 */

export type CallJournalLogger = {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
};

export type CallJournal = {
  /** This process's id, stored with each of its start rows. */
  readonly instance: string;
  /** Turns the start rows of routers that are gone into `interrupted` rows; returns how many. */
  reconcile(): Promise<number>;
  /**
   * Releases the liveness lock, then reconciles this process's own leftovers (calls that never
   * got an outcome). Call it after the audit writer has flushed.
   */
  close(): Promise<void>;
};

export type CallJournalOptions = {
  logger: CallJournalLogger;
  /** PostgreSQL: how often dead replicas are looked for (default 30000; 0 turns it off). */
  reconcileIntervalMs?: number;
  /** PostgreSQL: how often the lock's connection is checked, and retried after it broke (default 5000). */
  livenessCheckMs?: number;
};

/** Advisory lock namespace (first key): "MCPG". */
const LOCK_NAMESPACE = 0x4d435047;

const newInstanceId = () => `router-${randomBytes(9).toString("base64url")}`;

export async function openCallJournal(
  database: Pick<Database, "db" | "dialect">,
  options: CallJournalOptions,
): Promise<CallJournal> {
  const { db, dialect } = database;
  const { logger } = options;
  if (dialect === "pglite") {
    const instance = newInstanceId();
    const journal = {
      instance,
      // The data-directory lock makes this the only process: every other instance is gone.
      reconcile: () => reconcileOthers(db, instance, false, logger),
      async close() {
        await reconcileInstance(db, instance, false);
      },
    };
    await journal.reconcile();
    return journal;
  }

  const liveness = await holdLiveness(db, options);
  const journal: CallJournal = {
    instance: liveness.instance,
    reconcile: () => reconcileOthers(db, liveness.instance, true, logger),
    async close() {
      if (timer !== undefined) clearInterval(timer);
      await liveness.release();
      const count = await reconcileInstance(db, liveness.instance, true);
      if (count > 0) logger.warn({ calls: count }, "calls without an outcome marked interrupted");
    },
  };
  await journal.reconcile();
  const intervalMs = options.reconcileIntervalMs ?? 30_000;
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          journal.reconcile().catch((error: unknown) => {
            logger.warn({ err: error }, "could not reconcile interrupted calls; will retry");
          });
        }, intervalMs)
      : undefined;
  timer?.unref();
  return journal;
}

async function reconcileOthers(
  db: Kysely<DB>,
  self: string,
  locked: boolean,
  logger: CallJournalLogger,
): Promise<number> {
  const instances = await db
    .selectFrom("audit_call_starts")
    .select("instance")
    .distinct()
    .where("instance", "<>", self)
    .execute();
  let total = 0;
  for (const { instance } of instances) {
    const count = await reconcileInstance(db, instance, locked);
    if (count > 0) {
      logger.warn({ instance, calls: count }, "calls of a stopped router marked interrupted");
    }
    total += count;
  }
  return total;
}

/**
 * One statement moves the instance's start rows into audit_events as `interrupted`; under the
 * instance's transaction lock, which is free only when no live process holds it, so a live
 * replica's calls are never touched and two replicas never reconcile the same one at once.
 */
async function reconcileInstance(
  db: Kysely<DB>,
  instance: string,
  locked: boolean,
): Promise<number> {
  return retryTransient(
    () =>
      db.transaction().execute(async (trx) => {
        if (locked) {
          const { rows } = await sql<{ free: boolean }>`
            select pg_try_advisory_xact_lock(${LOCK_NAMESPACE}, hashtext(${instance})) as free
          `.execute(trx);
          if (rows[0]?.free !== true) return 0;
        }
        const moved = await sql`
          with gone as (
            delete from audit_call_starts where instance = ${instance} returning *
          )
          insert into audit_events
            (time, request_id, source, kind, subject, tenant, roles, scope, method, tool,
             outcome, reason, arguments_digest, arguments, task_id)
          select now(), request_id, source, kind, subject, tenant, roles, scope, method, tool,
                 'interrupted', 'interrupted', arguments_digest, arguments, task_id
          from gone
          order by time
        `.execute(trx);
        return Number(moved.numAffectedRows ?? 0n);
      }),
    BACKGROUND_RETRY,
  );
}

/**
 * Holds the instance's session lock on one pooled connection until release(). The connection is
 * checked every livenessCheckMs; when it broke (server restart, pg_terminate_backend) a new one
 * takes the lock again. In between, another replica may find the lock free and mark this
 * process's calls in progress interrupted; their outcome rows are still written afterwards.
 */
async function holdLiveness(
  db: Kysely<DB>,
  options: CallJournalOptions,
): Promise<{ instance: string; release(): Promise<void> }> {
  const checkMs = options.livenessCheckMs ?? 5_000;
  let instance = newInstanceId();
  let released = false;
  let wake: () => void = () => undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const handle = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(handle);
        resolve();
      };
    });

  let everHeld = false;
  let failures = 0;
  let signalHeld: () => void = () => undefined;
  let startupFailed: (error: unknown) => void = () => undefined;
  const held = new Promise<void>((resolve, reject) => {
    signalHeld = resolve;
    startupFailed = reject;
  });

  const session = () =>
    db.connection().execute(async (connection) => {
      for (;;) {
        const { rows } = await sql<{ locked: boolean }>`
          select pg_try_advisory_lock(${LOCK_NAMESPACE}, hashtext(${instance})) as locked
        `.execute(connection);
        if (rows[0]?.locked === true) break;
        // Before any start row exists a colliding key just means another name; after, the name
        // must stay, and the lock is tried again once the other holder is gone.
        if (!everHeld) instance = newInstanceId();
        else await pause(checkMs);
        if (released) return;
      }
      everHeld = true;
      failures = 0;
      signalHeld();
      try {
        while (!released) {
          await pause(checkMs);
          if (!released) await sql`select 1`.execute(connection);
        }
      } finally {
        if (released) {
          await sql`
            select pg_advisory_unlock(${LOCK_NAMESPACE}, hashtext(${instance}))
          `.execute(connection);
        }
      }
    });

  const holder = (async () => {
    while (!released) {
      try {
        await session();
      } catch (error) {
        failures += 1;
        // The first hold is part of startup: it rides out a database restart, then fails it.
        if (!everHeld && failures >= BACKGROUND_RETRY.attempts) {
          startupFailed(error);
          return;
        }
        options.logger.warn({ err: error }, "router liveness lock lost; taking it again");
        await pause(
          backoffDelayMs(failures, BACKGROUND_RETRY.initialDelayMs, BACKGROUND_RETRY.maxDelayMs),
        );
      }
    }
  })();
  await held;

  return {
    get instance() {
      return instance;
    },
    async release() {
      released = true;
      wake();
      await holder.catch(() => undefined);
    },
  };
}
