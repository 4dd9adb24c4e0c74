import { sql, type Kysely, type Transaction } from "kysely";
import type {
  DB,
  RegistryEvent,
  TaskSupport,
  ToolRegistryHistoryRow,
  ToolRegistryRow,
} from "./schema.ts";
import {
  BACKGROUND_RETRY,
  INTERACTIVE_RETRY,
  retryTransient,
  type TransientRetryOptions,
} from "./transient-retry.ts";

/** The part of tools.yaml the registry needs; config's ToolsConfig satisfies it. */
export type RegistrySource = {
  readonly scopes: Readonly<
    Record<
      string,
      {
        /** `tools: discover`: the tools the server lists are recorded by recordDiscoveredTools. */
        readonly discover?: boolean | undefined;
        readonly tools: readonly {
          readonly name: string;
          readonly enabled: boolean;
          readonly task_support?: TaskSupport | undefined;
          readonly timeout_ms?: number | undefined;
        }[];
      }
    >
  >;
};

/** Qualified names `scope.tool`, sorted. */
export type SyncResult = {
  added: string[];
  deactivated: string[];
  reactivated: string[];
  unchanged: string[];
};

export type DefinitionCheck = "approved" | "first_seen" | "changed" | "unknown";

/**
 * Transient database errors (see isTransientDatabaseError) make the whole transaction run again.
 * That is safe: each transaction first reads the rows it changes, so a retry after an attempt that
 * committed but lost its answer finds that commit and writes nothing twice.
 */
export type RegistryWriteOptions = { retry?: TransientRetryOptions };

// Arbitrary constant shared by every replica: serializes concurrent syncs of the registry.
const REGISTRY_LOCK_KEY = 7_242_017_001;

const keyOf = (scope: string, name: string): string => `${scope}.${name}`;

/**
 * Upserts tools.yaml into the registry in one transaction under an advisory lock, so two replicas
 * starting together apply it one after the other and the second finds nothing to do. Tools no
 * longer listed are marked inactive (never deleted); listing them again re-activates them. A
 * discovering scope's discovered tools are its server's to list (recordDiscoveredTools), so they
 * stay as they are while the scope still discovers.
 */
export async function syncRegistry(
  db: Kysely<DB>,
  source: RegistrySource,
  now: Date = new Date(),
  options: RegistryWriteOptions = {},
): Promise<SyncResult> {
  // Once, at startup, where nobody waits: long enough to ride out a database restart.
  return retryTransient(() => syncOnce(db, source, now), { ...BACKGROUND_RETRY, ...options.retry });
}

function syncOnce(db: Kysely<DB>, source: RegistrySource, now: Date): Promise<SyncResult> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${REGISTRY_LOCK_KEY})`.execute(trx);
    const rows = await trx.selectFrom("tool_registry").selectAll().execute();
    const existing = new Map(rows.map((row) => [keyOf(row.scope, row.name), row]));
    const result: SyncResult = { added: [], deactivated: [], reactivated: [], unchanged: [] };
    const history: { scope: string; name: string; event: RegistryEvent }[] = [];
    const listed = new Set<string>();

    for (const [scope, scopeConfig] of Object.entries(source.scopes)) {
      for (const tool of scopeConfig.tools) {
        const key = keyOf(scope, tool.name);
        listed.add(key);
        const attributes = {
          enabled: tool.enabled,
          task_support: tool.task_support ?? null,
          timeout_ms: tool.timeout_ms ?? null,
          last_seen_at: now,
          source: "config" as const,
        };
        const row = existing.get(key);
        if (!row) {
          await trx
            .insertInto("tool_registry")
            .values({ scope, name: tool.name, active: true, first_seen_at: now, ...attributes })
            .execute();
          result.added.push(key);
          history.push({ scope, name: tool.name, event: "added" });
          continue;
        }
        await trx
          .updateTable("tool_registry")
          .set({ ...attributes, active: true, deactivated_at: null })
          .where("scope", "=", scope)
          .where("name", "=", tool.name)
          .execute();
        if (row.active) {
          result.unchanged.push(key);
        } else {
          result.reactivated.push(key);
          history.push({ scope, name: tool.name, event: "reactivated" });
        }
      }
    }

    for (const row of rows) {
      const key = keyOf(row.scope, row.name);
      if (listed.has(key) || !row.active) continue;
      if (row.source === "discovered" && source.scopes[row.scope]?.discover === true) continue;
      await trx
        .updateTable("tool_registry")
        .set({ active: false, deactivated_at: now })
        .where("scope", "=", row.scope)
        .where("name", "=", row.name)
        .execute();
      result.deactivated.push(key);
      history.push({ scope: row.scope, name: row.name, event: "deactivated" });
    }

    if (history.length > 0) {
      await trx
        .insertInto("tool_registry_history")
        .values(history.map((entry) => ({ ...entry, at: now, details: null })))
        .execute();
    }
    for (const list of Object.values(result)) list.sort();
    return result;
  });
}

/**
 * Records what a discovering scope's server lists now: new tools are added as discovered,
 * discovered tools it lists again are re-activated, discovered tools it no longer lists are
 * deactivated (tools from tools.yaml are left alone). Writes only when something changed, under
 * the registry's advisory lock; returns the scope's active tools afterwards.
 */
export async function recordDiscoveredTools(
  db: Kysely<DB>,
  scope: string,
  names: readonly string[],
  now: Date = new Date(),
  options: RegistryWriteOptions = {},
): Promise<ReadonlySet<string>> {
  return retryTransient(() => discoverOnce(db, scope, new Set(names), now), {
    ...INTERACTIVE_RETRY,
    ...options.retry,
  });
}

async function discoverOnce(
  db: Kysely<DB>,
  scope: string,
  listed: ReadonlySet<string>,
  now: Date,
): Promise<ReadonlySet<string>> {
  const pending = (rows: readonly ToolRegistryRow[]) => {
    const byName = new Map(rows.map((row) => [row.name, row]));
    return {
      add: [...listed].filter((name) => !byName.has(name)).sort(),
      reactivate: rows.filter((row) => listed.has(row.name) && !row.active),
      deactivate: rows.filter(
        (row) => row.source === "discovered" && row.active && !listed.has(row.name),
      ),
    };
  };
  const activeAfter = (rows: readonly ToolRegistryRow[]): ReadonlySet<string> => {
    const { add, reactivate, deactivate } = pending(rows);
    const gone = new Set(deactivate.map((row) => row.name));
    return new Set([
      ...rows.filter((row) => row.active && !gone.has(row.name)).map((row) => row.name),
      ...reactivate.map((row) => row.name),
      ...add,
    ]);
  };
  const seen = await db
    .selectFrom("tool_registry")
    .selectAll()
    .where("scope", "=", scope)
    .execute();
  const first = pending(seen);
  if (first.add.length + first.reactivate.length + first.deactivate.length === 0) {
    return activeAfter(seen);
  }
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${REGISTRY_LOCK_KEY})`.execute(trx);
    const rows = await trx
      .selectFrom("tool_registry")
      .selectAll()
      .where("scope", "=", scope)
      .execute();
    const { add, reactivate, deactivate } = pending(rows);
    const history: { scope: string; name: string; event: RegistryEvent }[] = [];
    if (add.length > 0) {
      await trx
        .insertInto("tool_registry")
        .values(
          add.map((name) => ({
            scope,
            name,
            source: "discovered" as const,
            active: true,
            enabled: true,
            first_seen_at: now,
            last_seen_at: now,
          })),
        )
        .execute();
      for (const name of add) history.push({ scope, name, event: "discovered" });
    }
    for (const row of reactivate) {
      await trx
        .updateTable("tool_registry")
        .set({ active: true, deactivated_at: null, last_seen_at: now, source: "discovered" })
        .where("scope", "=", scope)
        .where("name", "=", row.name)
        .execute();
      history.push({ scope, name: row.name, event: "reactivated" });
    }
    for (const row of deactivate) {
      await trx
        .updateTable("tool_registry")
        .set({ active: false, deactivated_at: now })
        .where("scope", "=", scope)
        .where("name", "=", row.name)
        .execute();
      history.push({ scope, name: row.name, event: "deactivated" });
    }
    if (history.length > 0) {
      await trx
        .insertInto("tool_registry_history")
        .values(history.map((entry) => ({ ...entry, at: now, details: null })))
        .execute();
    }
    return activeAfter(rows);
  });
}

/** Registry rows still listed in tools.yaml (enabled or not: see `enabled`), ordered by scope and name. */
export async function listActiveTools(db: Kysely<DB>, scope?: string): Promise<ToolRegistryRow[]> {
  let query = db.selectFrom("tool_registry").selectAll().where("active", "=", true);
  if (scope !== undefined) query = query.where("scope", "=", scope);
  return query.orderBy("scope").orderBy("name").execute();
}

export async function getRegistryTool(
  db: Kysely<DB>,
  scope: string,
  name: string,
): Promise<ToolRegistryRow | undefined> {
  return db
    .selectFrom("tool_registry")
    .selectAll()
    .where("scope", "=", scope)
    .where("name", "=", name)
    .executeTakeFirst();
}

export async function listRegistryHistory(
  db: Kysely<DB>,
  filter: { scope?: string; name?: string } = {},
): Promise<ToolRegistryHistoryRow[]> {
  let query = db.selectFrom("tool_registry_history").selectAll();
  if (filter.scope !== undefined) query = query.where("scope", "=", filter.scope);
  if (filter.name !== undefined) query = query.where("name", "=", filter.name);
  return query.orderBy("id").execute();
}

/** Reads a tool's digests and holds its row until the transaction ends. */
function lockDefinitionDigests(trx: Transaction<DB>, scope: string, name: string) {
  return trx
    .selectFrom("tool_registry")
    .select(["approved_definition_digest", "observed_definition_digest"])
    .where("scope", "=", scope)
    .where("name", "=", name)
    .forUpdate()
    .executeTakeFirst();
}

/**
 * Compares a backend's current tool definition digest with the approved one. The first digest
 * seen is approved (trust on first use); a different one is recorded as observed with a history
 * row (once per distinct digest) and reported as "changed" until approveDefinition is called.
 * "unknown" means the tool is not in the registry.
 */
export async function recordObservedDefinition(
  db: Kysely<DB>,
  scope: string,
  name: string,
  digest: string,
  now: Date = new Date(),
  options: RegistryWriteOptions = {},
): Promise<DefinitionCheck> {
  // The tool catalog's refresh waits for this; it keeps its last listing when it fails.
  return retryTransient(() => observeOnce(db, scope, name, digest, now), {
    ...INTERACTIVE_RETRY,
    ...options.retry,
  });
}

function observeOnce(
  db: Kysely<DB>,
  scope: string,
  name: string,
  digest: string,
  now: Date,
): Promise<DefinitionCheck> {
  return db.transaction().execute(async (trx) => {
    const row = await lockDefinitionDigests(trx, scope, name);
    if (!row) return "unknown";
    const update = (values: {
      approved_definition_digest?: string;
      observed_definition_digest: string;
      definition_changed_at: Date | null;
    }) =>
      trx
        .updateTable("tool_registry")
        .set(values)
        .where("scope", "=", scope)
        .where("name", "=", name)
        .execute();

    if (row.approved_definition_digest === null) {
      await update({
        approved_definition_digest: digest,
        observed_definition_digest: digest,
        definition_changed_at: null,
      });
      return "first_seen";
    }
    if (row.approved_definition_digest === digest) {
      if (row.observed_definition_digest !== digest) {
        await update({ observed_definition_digest: digest, definition_changed_at: null });
      }
      return "approved";
    }
    if (row.observed_definition_digest !== digest) {
      await update({ observed_definition_digest: digest, definition_changed_at: now });
      await trx
        .insertInto("tool_registry_history")
        .values({
          scope,
          name,
          event: "definition_changed",
          at: now,
          details: JSON.stringify({ approved: row.approved_definition_digest, observed: digest }),
        })
        .execute();
    }
    return "changed";
  });
}

/**
 * Accepts the last observed definition as the approved one. Returns false when there is nothing to
 * approve (also when a retry finds that its lost first attempt had already approved it).
 */
export async function approveDefinition(
  db: Kysely<DB>,
  scope: string,
  name: string,
  now: Date = new Date(),
  options: RegistryWriteOptions = {},
): Promise<boolean> {
  return retryTransient(() => approveOnce(db, scope, name, now), {
    ...INTERACTIVE_RETRY,
    ...options.retry,
  });
}

function approveOnce(db: Kysely<DB>, scope: string, name: string, now: Date): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await lockDefinitionDigests(trx, scope, name);
    const observed = row?.observed_definition_digest ?? null;
    if (!row || observed === null || observed === row.approved_definition_digest) return false;
    await trx
      .updateTable("tool_registry")
      .set({ approved_definition_digest: observed, definition_changed_at: null })
      .where("scope", "=", scope)
      .where("name", "=", name)
      .execute();
    await trx
      .insertInto("tool_registry_history")
      .values({
        scope,
        name,
        event: "definition_approved",
        at: now,
        details: JSON.stringify({ previous: row.approved_definition_digest, approved: observed }),
      })
      .execute();
    return true;
  });
}

export type PendingDefinitionChange = {
  scope: string;
  name: string;
  active: boolean;
  approved_definition_digest: string;
  observed_definition_digest: string;
  definition_changed_at: Date | null;
};

/** Tools whose last observed definition differs from the approved one, ordered by scope and name. */
export async function listPendingDefinitionChanges(
  db: Kysely<DB>,
): Promise<PendingDefinitionChange[]> {
  return (
    db
      .selectFrom("tool_registry")
      .select([
        "scope",
        "name",
        "active",
        "approved_definition_digest",
        "observed_definition_digest",
        "definition_changed_at",
      ])
      // `<>` is never true when either side is null.
      .whereRef("observed_definition_digest", "<>", "approved_definition_digest")
      .$narrowType<{ approved_definition_digest: string; observed_definition_digest: string }>()
      .orderBy("scope")
      .orderBy("name")
      .execute()
  );
}
