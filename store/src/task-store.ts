import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { DB, TaskRow, TaskStatus } from "./schema.ts";
import { isUniqueViolation } from "./transient-error.ts";
import {
  BACKGROUND_RETRY,
  INTERACTIVE_RETRY,
  retryTransient,
  type TransientRetryOptions,
} from "./transient-retry.ts";

export type TaskOwner = { subject: string; tenant?: string | null };

export type NewTask = {
  /** Defaults to a random UUID (unguessable, as MCP requires). */
  id?: string;
  owner: TaskOwner;
  scope: string;
  tool: string;
  ttlMs: number;
  pollIntervalMs?: number | null;
  /** The original tools/call params, kept so a worker can run it. */
  request?: unknown;
  requestId?: string | null;
  statusMessage?: string | null;
  /** Created already leased, so a worker that dies before its first heartbeat still expires. */
  lease?: { owner: string; ms: number };
  now?: Date;
};

export type TaskPage = { tasks: TaskRow[]; nextCursor?: string };

export type CancelResult =
  { ok: true; task: TaskRow } | { ok: false; reason: "not_found" | "terminal" };

export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = ["completed", "failed", "cancelled"];
const ACTIVE_TASK_STATUSES = ["working", "input_required"] as const;
const LEASE_EXPIRED_MESSAGE = "the worker running this task stopped";

export type TaskStoreOptions = {
  /**
   * Timing of the retries after transient database errors (tests shorten it). By default a call a
   * client waits for is retried for a few hundred milliseconds, a sweep or a task's outcome for
   * about ten seconds.
   */
  retry?: TransientRetryOptions;
};

export class InvalidCursorError extends Error {
  constructor() {
    super("invalid cursor");
    this.name = "InvalidCursorError";
  }
}

export type TaskStore = {
  create(input: NewTask): Promise<TaskRow>;
  /** Only the owner (subject and tenant) sees a task. */
  get(id: string, owner: TaskOwner): Promise<TaskRow | undefined>;
  /** For the task runner, which acts for the owner already checked at creation. */
  getById(id: string): Promise<TaskRow | undefined>;
  /** Newest first; `nextCursor` is opaque. Throws InvalidCursorError for a cursor it did not issue. */
  list(
    owner: TaskOwner,
    page?: { cursor?: string; limit?: number; scope?: string },
  ): Promise<TaskPage>;
  /** Changes the status of a non-terminal task (e.g. to input_required and back). */
  updateStatus(
    id: string,
    update: { status: "working" | "input_required"; statusMessage?: string | null; now?: Date },
  ): Promise<TaskRow | undefined>;
  /** Stores the result of a non-terminal task and releases its lease; undefined when it was already terminal (e.g. cancelled). */
  complete(
    id: string,
    outcome: { result: unknown; statusMessage?: string | null; now?: Date },
  ): Promise<TaskRow | undefined>;
  fail(
    id: string,
    outcome: { error: unknown; statusMessage?: string | null; now?: Date },
  ): Promise<TaskRow | undefined>;
  cancel(id: string, owner: TaskOwner, now?: Date): Promise<CancelResult>;
  /** Takes (or renews) the lease of a working task whose lease is free, expired or already ours. */
  claim(id: string, leaseOwner: string, leaseMs: number, now?: Date): Promise<boolean>;
  /** Extends our lease; false when it was lost (expired and taken, or the task ended). */
  heartbeat(id: string, leaseOwner: string, leaseMs: number, now?: Date): Promise<boolean>;
  /**
   * Renews this worker's leases on the given non-terminal tasks in one statement; returns the ids
   * still held (a missing id was cancelled or failed elsewhere).
   */
  heartbeatMany(
    ids: readonly string[],
    leaseOwner: string,
    leaseMs: number,
    now?: Date,
  ): Promise<string[]>;
  /** Fails working tasks whose worker stopped renewing its lease. Returns the tasks it failed. */
  failExpiredLeases(now?: Date, error?: unknown): Promise<TaskRow[]>;
  /** Deletes tasks past their ttl. Returns how many. */
  purgeExpired(now?: Date): Promise<number>;
};

const tenantKey = (owner: TaskOwner): string => owner.tenant ?? "";
const json = (value: unknown): string | null =>
  value === undefined ? null : JSON.stringify(value);

function encodeCursor(row: TaskRow): string {
  return Buffer.from(JSON.stringify([row.created_at.toISOString(), row.id])).toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === "string" &&
      typeof value[1] === "string"
    ) {
      const createdAt = new Date(value[0]);
      if (!Number.isNaN(createdAt.getTime())) return { createdAt, id: value[1] };
    }
  } catch {
    // fall through: any undecodable cursor is the caller's error
  }
  throw new InvalidCursorError();
}

/**
 * Typed queries for MCP tasks. Timestamps are always written from JS Dates (millisecond
 * precision) so keyset cursors compare exactly.
 *
 * Every call is retried after transient database errors (connection terminated, server restart,
 * serialization failure). A write whose earlier attempt committed but lost its answer is
 * recognised on the retry by its exact timestamp (`now` is fixed before the first attempt), so a
 * retried completion or cancellation reports success, not "already terminal".
 */
export function createTaskStore(db: Kysely<DB>, options: TaskStoreOptions = {}): TaskStore {
  /** A client is waiting. */
  const interactive = <T>(operation: (attempt: number) => Promise<T>): Promise<T> =>
    retryTransient(operation, { ...INTERACTIVE_RETRY, ...options.retry });
  /** Nobody is waiting, and losing the write loses a task's outcome. */
  const background = <T>(operation: (attempt: number) => Promise<T>): Promise<T> =>
    retryTransient(operation, { ...BACKGROUND_RETRY, ...options.retry });

  const readById = (id: string) =>
    db.selectFrom("tasks").selectAll().where("id", "=", id).executeTakeFirst();

  /** The task, when an earlier attempt of this very write (same status, same `now`) committed. */
  const committedEarlier = async (id: string, status: TaskStatus, now: Date) => {
    const row = await readById(id);
    return row?.status === status && row.updated_at.getTime() === now.getTime() ? row : undefined;
  };

  const finish = (
    id: string,
    values: {
      status: "completed" | "failed";
      result?: string | null;
      error?: string | null;
      status_message: string | null;
    },
    now: Date,
  ) =>
    background(async (attempt) => {
      const row = await db
        .updateTable("tasks")
        .set({ ...values, updated_at: now, lease_owner: null, lease_expires_at: null })
        .where("id", "=", id)
        .where("status", "in", ACTIVE_TASK_STATUSES)
        .returningAll()
        .executeTakeFirst();
      return row ?? (attempt > 0 ? committedEarlier(id, values.status, now) : undefined);
    });

  const getOwned = (id: string, owner: TaskOwner) =>
    db
      .selectFrom("tasks")
      .selectAll()
      .where("id", "=", id)
      .where("owner_subject", "=", owner.subject)
      .where("owner_tenant", "=", tenantKey(owner))
      .executeTakeFirst();

  const store: TaskStore = {
    async create(input) {
      const now = input.now ?? new Date();
      const values = {
        id: input.id ?? randomUUID(),
        owner_subject: input.owner.subject,
        owner_tenant: tenantKey(input.owner),
        scope: input.scope,
        tool: input.tool,
        status: "working" as const,
        status_message: input.statusMessage ?? null,
        created_at: now,
        updated_at: now,
        ttl_ms: input.ttlMs,
        expires_at: new Date(now.getTime() + input.ttlMs),
        poll_interval_ms: input.pollIntervalMs ?? null,
        request: json(input.request),
        result: null,
        error: null,
        lease_owner: input.lease?.owner ?? null,
        lease_expires_at:
          input.lease === undefined ? null : new Date(now.getTime() + input.lease.ms),
        request_id: input.requestId ?? null,
      };
      return interactive(async (attempt) => {
        try {
          return await db
            .insertInto("tasks")
            .values(values)
            .returningAll()
            .executeTakeFirstOrThrow();
        } catch (error) {
          if (attempt > 0 && isUniqueViolation(error)) {
            // The row is ours when the lost attempt wrote it: same owner, same creation time.
            const row = await readById(values.id);
            if (
              row?.owner_subject === values.owner_subject &&
              row.owner_tenant === values.owner_tenant &&
              row.created_at.getTime() === now.getTime()
            ) {
              return row;
            }
          }
          throw error;
        }
      });
    },

    async get(id, owner) {
      return interactive(() => getOwned(id, owner));
    },

    async getById(id) {
      return interactive(() => readById(id));
    },

    async list(owner, page = {}) {
      const limit = Math.min(Math.max(1, Math.trunc(page.limit ?? 50)), 500);
      let query = db
        .selectFrom("tasks")
        .selectAll()
        .where("owner_subject", "=", owner.subject)
        .where("owner_tenant", "=", tenantKey(owner));
      if (page.scope !== undefined) query = query.where("scope", "=", page.scope);
      if (page.cursor !== undefined) {
        const after = decodeCursor(page.cursor);
        query = query.where((eb) =>
          eb.or([
            eb("created_at", "<", after.createdAt),
            eb.and([eb("created_at", "=", after.createdAt), eb("id", "<", after.id)]),
          ]),
        );
      }
      const ordered = query
        .orderBy("created_at", "desc")
        .orderBy("id", "desc")
        .limit(limit + 1);
      const rows = await interactive(() => ordered.execute());
      const tasks = rows.slice(0, limit);
      const last = tasks.at(-1);
      return rows.length > limit && last ? { tasks, nextCursor: encodeCursor(last) } : { tasks };
    },

    async updateStatus(id, update) {
      const now = update.now ?? new Date();
      // Idempotent: a retry after a lost commit finds the task still active and sets it again.
      return interactive(() =>
        db
          .updateTable("tasks")
          .set({
            status: update.status,
            status_message: update.statusMessage ?? null,
            updated_at: now,
          })
          .where("id", "=", id)
          .where("status", "in", ACTIVE_TASK_STATUSES)
          .returningAll()
          .executeTakeFirst(),
      );
    },

    async complete(id, outcome) {
      return finish(
        id,
        {
          status: "completed",
          result: json(outcome.result) ?? "null",
          status_message: outcome.statusMessage ?? null,
        },
        outcome.now ?? new Date(),
      );
    },

    async fail(id, outcome) {
      return finish(
        id,
        {
          status: "failed",
          error: json(outcome.error) ?? "null",
          status_message: outcome.statusMessage ?? null,
        },
        outcome.now ?? new Date(),
      );
    },

    async cancel(id, owner, now = new Date()) {
      return interactive(async (attempt): Promise<CancelResult> => {
        const row = await db
          .updateTable("tasks")
          .set({ status: "cancelled", updated_at: now, lease_owner: null, lease_expires_at: null })
          .where("id", "=", id)
          .where("owner_subject", "=", owner.subject)
          .where("owner_tenant", "=", tenantKey(owner))
          .where("status", "in", ACTIVE_TASK_STATUSES)
          .returningAll()
          .executeTakeFirst();
        if (row) return { ok: true, task: row };
        const existing = await getOwned(id, owner);
        if (
          attempt > 0 &&
          existing?.status === "cancelled" &&
          existing.updated_at.getTime() === now.getTime()
        ) {
          return { ok: true, task: existing };
        }
        return { ok: false, reason: existing ? "terminal" : "not_found" };
      });
    },

    // Lease renewals need no recognition of an earlier attempt: the lease they set is the one
    // they require, so a retry after a lost commit matches its own write.
    async claim(id, leaseOwner, leaseMs, now = new Date()) {
      const row = await interactive(() =>
        db
          .updateTable("tasks")
          .set({
            lease_owner: leaseOwner,
            lease_expires_at: new Date(now.getTime() + leaseMs),
            updated_at: now,
          })
          .where("id", "=", id)
          .where("status", "=", "working")
          .where((eb) =>
            eb.or([
              eb("lease_owner", "is", null),
              eb("lease_owner", "=", leaseOwner),
              eb("lease_expires_at", "<", now),
            ]),
          )
          .returning("id")
          .executeTakeFirst(),
      );
      return row !== undefined;
    },

    async heartbeat(id, leaseOwner, leaseMs, now = new Date()) {
      const row = await interactive(() =>
        db
          .updateTable("tasks")
          .set({ lease_expires_at: new Date(now.getTime() + leaseMs) })
          .where("id", "=", id)
          .where("status", "in", ACTIVE_TASK_STATUSES)
          .where("lease_owner", "=", leaseOwner)
          .where("lease_expires_at", ">=", now)
          .returning("id")
          .executeTakeFirst(),
      );
      return row !== undefined;
    },

    async heartbeatMany(ids, leaseOwner, leaseMs, now = new Date()) {
      const held: string[] = [];
      // Bounded statements: PostgreSQL caps bind parameters per query.
      for (let start = 0; start < ids.length; start += 1000) {
        // No expiry condition: only the sweeper takes a lease away, by failing the task.
        const rows = await interactive(() =>
          db
            .updateTable("tasks")
            .set({ lease_expires_at: new Date(now.getTime() + leaseMs) })
            .where("id", "in", ids.slice(start, start + 1000))
            .where("lease_owner", "=", leaseOwner)
            .where("status", "in", ACTIVE_TASK_STATUSES)
            .returning("id")
            .execute(),
        );
        held.push(...rows.map((row) => row.id));
      }
      return held;
    },

    async failExpiredLeases(now = new Date(), error: unknown = { code: "lease_expired" }) {
      return background(async (attempt) => {
        const rows = await db
          .updateTable("tasks")
          .set({
            status: "failed",
            status_message: LEASE_EXPIRED_MESSAGE,
            error: json(error) ?? "null",
            updated_at: now,
            lease_owner: null,
            lease_expires_at: null,
          })
          .where("status", "in", ACTIVE_TASK_STATUSES)
          .where("lease_expires_at", "<", now)
          .returningAll()
          .execute();
        if (attempt === 0) return rows;
        // A lost earlier attempt may have failed some already: they carry this sweep's timestamp.
        return db
          .selectFrom("tasks")
          .selectAll()
          .where("status", "=", "failed")
          .where("status_message", "=", LEASE_EXPIRED_MESSAGE)
          .where("updated_at", "=", now)
          .execute();
      });
    },

    async purgeExpired(now = new Date()) {
      const rows = await background(() =>
        db.deleteFrom("tasks").where("expires_at", "<", now).returning("id").execute(),
      );
      return rows.length;
    },
  };
  return store;
}
