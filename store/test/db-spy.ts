import type {
  KyselyPlugin,
  QueryId,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from "kysely";
import { RawNode, ValueNode, type OperationNode } from "kysely";

/** The audit_events rows a statement inserts (the writer's `insert into "audit_events" … unnest(…)`), if any. */
function auditEventRows(node: OperationNode): number | undefined {
  if (!RawNode.is(node)) return undefined;
  // The writer's statement is one raw node cut at its parameters: the fragment that opens the
  // audit_events insert is followed by its first column's array.
  const at = node.sqlFragments.findIndex((fragment) =>
    fragment.includes('insert into "audit_events"'),
  );
  if (at >= 0) {
    const column = node.parameters[at];
    return column !== undefined && ValueNode.is(column) && Array.isArray(column.value)
      ? column.value.length
      : undefined;
  }
  for (const parameter of node.parameters) {
    const rows = auditEventRows(parameter);
    if (rows !== undefined) return rows;
  }
  return undefined;
}

/**
 * A Kysely plugin for tests: records the row count of every audit insert, can make every query
 * fail as if the database were unreachable, and lets a test await a condition that is re-checked
 * whenever a query starts or finishes (no sleeping).
 */
export class DbSpy implements KyselyPlugin {
  down = false;
  attempts = 0;
  readonly insertedBatches: number[] = [];
  private waiters: { check: () => boolean; resolve: () => void }[] = [];
  private pendingInserts = new Map<QueryId, number>();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.attempts += 1;
    this.notify();
    if (this.down) {
      throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), {
        code: "ECONNREFUSED",
      });
    }
    const rows = auditEventRows(args.node);
    if (rows !== undefined && rows > 0) this.pendingInserts.set(args.queryId, rows);
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const rows = this.pendingInserts.get(args.queryId);
    if (rows !== undefined) {
      this.pendingInserts.delete(args.queryId);
      this.insertedBatches.push(rows);
    }
    this.notify();
    return args.result;
  }

  /** Resolves when `check` holds; rejects after `timeoutMs` so a broken writer fails the test instead of hanging it. */
  until(check: () => boolean, timeoutMs = 5000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter.check !== check);
        reject(new Error("condition not reached"));
      }, timeoutMs);
      this.waiters.push({
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  notify(): void {
    // Let the writer update its counters before conditions are evaluated.
    queueMicrotask(() => {
      setImmediate(() => {
        const ready = this.waiters.filter((waiter) => waiter.check());
        this.waiters = this.waiters.filter((waiter) => !ready.includes(waiter));
        for (const waiter of ready) waiter.resolve();
      });
    });
  }
}
