import type { Kysely } from "kysely";
import type { AuditKind, AuditSource, DB, NewAuditEventRow } from "./schema.ts";
import { isTransientDatabaseError } from "./transient-error.ts";
import { backoffDelayMs } from "./transient-retry.ts";

/**
 * ext-authz decisions: allowed | denied. Router invocations: ok | tool_error | timeout |
 * upstream_error | rejected | cancelled. Task lifecycle: created | completed | failed | cancelled.
 */
export type AuditOutcome =
  | "allowed"
  | "denied"
  | "ok"
  | "tool_error"
  | "timeout"
  | "upstream_error"
  | "rejected"
  | "cancelled"
  | "created"
  | "completed"
  | "failed";

export type AuditEvent = {
  /** Defaults to the time write() was called. */
  time?: Date;
  request_id: string;
  source: AuditSource;
  kind: AuditKind;
  subject?: string | null;
  tenant?: string | null;
  roles?: readonly string[];
  scope?: string | null;
  method?: string | null;
  tool?: string | null;
  outcome: AuditOutcome;
  /** Short snake_case code (same as the log field / metric label), never free error text. */
  reason?: string | null;
  status?: number | null;
  latency_ms?: number | null;
  request_bytes?: number | null;
  response_bytes?: number | null;
  arguments_digest?: string | null;
  /** Already redacted (see captureArguments). */
  arguments?: unknown;
  task_id?: string | null;
};

export type AuditWriterLogger = {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
};

export type AuditWriterOptions = {
  db: Kysely<DB>;
  logger: AuditWriterLogger;
  /** Rows per INSERT; a full batch is written at once (default 100). */
  batchSize?: number;
  /** A partial batch is written at most this long after its first event (default 250). */
  flushIntervalMs?: number;
  /** Events held in memory, including the batch being written (default 10000, env AUDIT_QUEUE_MAX). */
  maxQueue?: number;
  /** How long write() waits for room in a full queue before rejecting (default 1000). */
  enqueueTimeoutMs?: number;
  /** Transient errors (see isTransientDatabaseError) are retried for as long as it takes. */
  retry?: {
    /** Default 100. */
    initialDelayMs?: number;
    /** Default 2000. */
    maxDelayMs?: number;
    isTransient?: (error: unknown) => boolean;
  };
};

export type AuditWriterStats = {
  /** Events accepted and not yet written. */
  queued: number;
  /** Callers waiting for room in the queue. */
  waiting: number;
  written: number;
  /** Retry attempts after transient database errors. */
  retried: number;
  /** Events that could not be stored (rejected by the database, or abandoned by close()); each is logged. */
  failed: number;
  /** write() calls refused with AuditQueueFullError. */
  rejected: number;
};

export type AuditWriter = {
  /** Resolves once the event is queued (not written). Rejects with AuditQueueFullError or AuditWriterClosedError. */
  write(event: AuditEvent): Promise<void>;
  /** Resolves when every event queued before the call has been written (or counted as failed). */
  flush(): Promise<void>;
  /** Refuses new events and flushes the rest; after timeoutMs (default 10000) what is left is counted as failed and logged. */
  close(options?: { timeoutMs?: number }): Promise<void>;
  stats(): AuditWriterStats;
};

/** The audit queue is full: the caller must fail its request closed rather than go unaudited. */
export class AuditQueueFullError extends Error {
  constructor() {
    super("audit queue is full");
    this.name = "AuditQueueFullError";
  }
}

export class AuditWriterClosedError extends Error {
  constructor() {
    super("audit writer is closed");
    this.name = "AuditWriterClosedError";
  }
}

type Entry = { seq: number; row: NewAuditEventRow };
type SpaceWaiter = {
  row: NewAuditEventRow;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
};
type DoneWaiter = { seq: number; resolve: () => void };

const roundOrNull = (value: number | null | undefined): number | null =>
  value === undefined || value === null || !Number.isFinite(value) ? null : Math.round(value);

// PostgreSQL refuses NUL in text and jsonb, and unpaired surrogates in jsonb (\u escapes): a
// client could otherwise keep its own calls out of the audit log by putting them in its input.
// Both become U+FFFD, so the row is always insertable and the tampering stays visible.
const toWellFormed = (value: string): string =>
  (value as string & { toWellFormed(): string }).toWellFormed();

/** `value` with NUL and lone surrogates replaced by U+FFFD. */
export function storableText<T extends string>(value: T): T {
  return toWellFormed(value).replaceAll("\u0000", "\uFFFD") as T;
}

const storableTextOrNull = (value: string | null | undefined): string | null =>
  value === undefined || value === null ? null : storableText(value);

/** JSON text PostgreSQL's jsonb accepts: every string and object key made storable first. */
export function storableJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === "string") return storableText(item);
    if (item !== null && typeof item === "object" && !Array.isArray(item)) {
      const entries = Object.entries(item);
      if (entries.every(([key]) => storableText(key) === key)) return item;
      return Object.fromEntries(entries.map(([key, nested]) => [storableText(key), nested]));
    }
    return item;
  });
}

export function toAuditRow(event: AuditEvent, now: Date = new Date()): NewAuditEventRow {
  return {
    time: event.time ?? now,
    request_id: storableText(event.request_id),
    source: storableText(event.source),
    kind: storableText(event.kind),
    subject: storableTextOrNull(event.subject),
    tenant: storableTextOrNull(event.tenant),
    roles: (event.roles ?? []).map((role) => storableText(role)),
    scope: storableTextOrNull(event.scope),
    method: storableTextOrNull(event.method),
    tool: storableTextOrNull(event.tool),
    outcome: storableText(event.outcome),
    reason: storableTextOrNull(event.reason),
    status: roundOrNull(event.status),
    latency_ms: roundOrNull(event.latency_ms),
    request_bytes: roundOrNull(event.request_bytes),
    response_bytes: roundOrNull(event.response_bytes),
    arguments_digest: storableTextOrNull(event.arguments_digest),
    arguments: event.arguments === undefined ? null : storableJson(event.arguments),
    task_id: storableTextOrNull(event.task_id),
  };
}

const summary = (row: NewAuditEventRow) => ({
  requestId: row.request_id,
  source: row.source,
  kind: row.kind,
  outcome: row.outcome,
  reason: row.reason,
  tool: row.tool,
});

const errorFields = (error: unknown) => ({
  code: (error as { code?: unknown } | null)?.code,
  error: error instanceof Error ? error.message : String(error),
});

/**
 * Append-only, batched audit writer. Events wait in a bounded in-memory queue and are inserted
 * off the request path; transient database errors are retried with exponential backoff while the
 * events stay queued, so an outage turns into backpressure (and finally AuditQueueFullError),
 * never into a silent drop.
 */
export function createAuditWriter(options: AuditWriterOptions): AuditWriter {
  const { db, logger } = options;
  const batchSize = Math.max(1, options.batchSize ?? 100);
  const flushIntervalMs = options.flushIntervalMs ?? 250;
  const maxQueue = Math.max(1, options.maxQueue ?? 10_000);
  const enqueueTimeoutMs = options.enqueueTimeoutMs ?? 1000;
  const initialDelayMs = options.retry?.initialDelayMs ?? 100;
  // Short enough that the queue drains within a couple of seconds of the database coming back.
  const maxDelayMs = options.retry?.maxDelayMs ?? 2000;
  const isTransient = options.retry?.isTransient ?? isTransientDatabaseError;

  const queue: Entry[] = [];
  const spaceWaiters: SpaceWaiter[] = [];
  const doneWaiters: DoneWaiter[] = [];
  const counters = { written: 0, retried: 0, failed: 0, rejected: 0 };
  let lastSeq = 0;
  let doneSeq = 0;
  let flushTarget = 0;
  let timer: NodeJS.Timeout | undefined;
  let draining: Promise<void> | undefined;
  let closing = false;
  let abandoned = false;
  let wakeBackoff: (() => void) | undefined;

  function enqueue(row: NewAuditEventRow): void {
    lastSeq += 1;
    queue.push({ seq: lastSeq, row });
    if (closing) flushTarget = lastSeq;
    if (queue.length >= batchSize || closing) {
      kick();
    } else if (timer === undefined) {
      timer = setTimeout(() => {
        timer = undefined;
        flushTarget = Math.max(flushTarget, lastSeq);
        kick();
      }, flushIntervalMs);
      timer.unref();
    }
  }

  function kick(): void {
    draining ??= drain().finally(() => {
      draining = undefined;
      // Events may have arrived while the last insert was finishing.
      if (shouldWrite()) kick();
    });
  }

  function shouldWrite(): boolean {
    const head = queue[0];
    return head !== undefined && (queue.length >= batchSize || head.seq <= flushTarget);
  }

  function settle(count: number): void {
    const removed = queue.splice(0, count);
    const last = removed.at(-1);
    if (last) doneSeq = last.seq;
    while (doneWaiters[0] && doneWaiters[0].seq <= doneSeq) doneWaiters.shift()?.resolve();
    while (spaceWaiters.length > 0 && queue.length < maxQueue) {
      const waiter = spaceWaiters.shift();
      if (!waiter) break;
      clearTimeout(waiter.timer);
      enqueue(waiter.row);
      waiter.resolve();
    }
  }

  async function backoff(attempt: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const handle = setTimeout(resolve, backoffDelayMs(attempt, initialDelayMs, maxDelayMs));
      wakeBackoff = () => {
        clearTimeout(handle);
        resolve();
      };
    });
    wakeBackoff = undefined;
  }

  function abandonAll(): void {
    const count = queue.length;
    if (count === 0) return;
    counters.failed += count;
    logger.error(
      { lost: count, requestIds: queue.slice(0, 20).map((entry) => entry.row.request_id) },
      "audit writer closed before the database accepted these events",
    );
    settle(count);
  }

  /** Writes rows one by one after a permanent batch failure so one bad row cannot block the rest. */
  async function isolate(batch: Entry[]): Promise<"done" | "transient"> {
    for (const entry of batch) {
      if (abandoned) return "done";
      try {
        await db.insertInto("audit_events").values(entry.row).execute();
        counters.written += 1;
      } catch (error) {
        if (isTransient(error)) return "transient";
        counters.failed += 1;
        logger.error(
          { event: summary(entry.row), ...errorFields(error) },
          "audit event rejected by the database",
        );
      }
      settle(1);
    }
    return "done";
  }

  async function drain(): Promise<void> {
    let attempt = 0;
    while (shouldWrite()) {
      if (abandoned) {
        abandonAll();
        return;
      }
      const batch = queue.slice(0, batchSize);
      try {
        await db
          .insertInto("audit_events")
          .values(batch.map((entry) => entry.row))
          .execute();
        // After close() gave up these rows were already counted as failed: over-reporting loss is the safe side.
        if (abandoned) return;
        counters.written += batch.length;
        settle(batch.length);
        attempt = 0;
        continue;
      } catch (error) {
        if (!isTransient(error)) {
          if ((await isolate(batch)) === "done") continue;
        } else {
          logger.warn(
            { queued: queue.length, attempt, ...errorFields(error) },
            "audit insert failed; will retry",
          );
        }
      }
      counters.retried += 1;
      await backoff(attempt);
      attempt += 1;
    }
  }

  function flush(): Promise<void> {
    if (queue.length === 0) return Promise.resolve();
    const target = lastSeq;
    flushTarget = Math.max(flushTarget, target);
    const done = new Promise<void>((resolve) => doneWaiters.push({ seq: target, resolve }));
    kick();
    return done;
  }

  return {
    write(event) {
      if (closing) return Promise.reject(new AuditWriterClosedError());
      const row = toAuditRow(event);
      if (queue.length < maxQueue && spaceWaiters.length === 0) {
        enqueue(row);
        return Promise.resolve();
      }
      // Full: make sure everything queued is being written, then wait for room.
      flushTarget = Math.max(flushTarget, lastSeq);
      kick();
      return new Promise<void>((resolve, reject) => {
        const waiter: SpaceWaiter = {
          row,
          resolve,
          reject,
          timer: setTimeout(() => {
            const index = spaceWaiters.indexOf(waiter);
            if (index >= 0) spaceWaiters.splice(index, 1);
            counters.rejected += 1;
            logger.error(
              { event: summary(row), queued: queue.length },
              "audit queue full; request must fail closed",
            );
            reject(new AuditQueueFullError());
          }, enqueueTimeoutMs),
        };
        spaceWaiters.push(waiter);
      });
    },

    flush,

    async close(closeOptions = {}) {
      closing = true;
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      let expire: () => void = () => undefined;
      const expired = new Promise<"expired">((resolve) => {
        expire = () => resolve("expired");
      });
      const deadline = setTimeout(expire, closeOptions.timeoutMs ?? 10_000);
      const drained = (async () => {
        while (queue.length > 0) await flush();
        await draining;
        return "drained" as const;
      })();
      try {
        if ((await Promise.race([drained, expired])) === "expired") {
          abandoned = true;
          for (const waiter of spaceWaiters.splice(0)) {
            clearTimeout(waiter.timer);
            counters.rejected += 1;
            waiter.reject(new AuditWriterClosedError());
          }
          wakeBackoff?.();
          abandonAll();
        }
      } finally {
        clearTimeout(deadline);
      }
    },

    stats() {
      return { queued: queue.length, waiting: spaceWaiters.length, ...counters };
    },
  };
}
