import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryId,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from "kysely";

type QueryKind = RootOperationNode["kind"];

/**
 * A Kysely plugin for tests that fails chosen queries as a dying connection does: `before` the
 * statement reaches the database, or `after` it ran (and, outside a transaction, committed) with
 * its answer lost on the way back.
 */
export class FaultPlugin implements KyselyPlugin {
  /** Every query seen, by kind, in order. */
  readonly seen: QueryKind[] = [];
  private planned: { kind: QueryKind; timing: "before" | "after"; error: () => unknown }[] = [];
  private answersToLose = new Map<QueryId, unknown>();

  /** The next `times` queries of `kind` fail with a fresh `error()`. */
  fail(kind: QueryKind, timing: "before" | "after", error: () => unknown, times = 1): void {
    for (let n = 0; n < times; n += 1) this.planned.push({ kind, timing, error });
  }

  count(kind: QueryKind): number {
    return this.seen.filter((seen) => seen === kind).length;
  }

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.seen.push(args.node.kind);
    const index = this.planned.findIndex((fault) => fault.kind === args.node.kind);
    const fault = index >= 0 ? this.planned.splice(index, 1)[0] : undefined;
    if (fault?.timing === "before") throw fault.error();
    if (fault?.timing === "after") this.answersToLose.set(args.queryId, fault.error());
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.answersToLose.has(args.queryId)) {
      const error = this.answersToLose.get(args.queryId);
      this.answersToLose.delete(args.queryId);
      throw error;
    }
    return args.result;
  }
}

/** What pg reports when the server terminates the backend (pg_terminate_backend, shutdown). */
export const adminShutdown = (): Error =>
  Object.assign(new Error("terminating connection due to administrator command"), {
    code: "57P01",
    severity: "FATAL",
  });

/** What pg reports when the socket closes under a query. */
export const connectionLost = (): Error => new Error("Connection terminated unexpectedly");

/** A constraint violation: retrying cannot help. */
export const checkViolation = (): Error =>
  Object.assign(new Error('new row violates check constraint "x"'), {
    code: "23514",
    severity: "ERROR",
  });
