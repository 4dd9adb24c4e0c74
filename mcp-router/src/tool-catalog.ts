import { randomUUID } from "node:crypto";
import { digestJson } from "../../contract/src/digest.ts";
import type { Logger } from "../../contract/src/log.ts";
import type { Scope, ToolsConfig } from "../../config/src/tools-schema.ts";
import { TOOL_NAME_RE } from "../../config/src/tool-pattern.ts";
import { isRecord } from "./forwarding.ts";
import type { Backends } from "./upstream/backends.ts";

/**
 * What each scope serves: the tools that are enabled in tools.yaml, active in the registry and
 * listed by the backend, with the backend's definitions cached. Definitions are pinned by digest:
 * the first one seen is the approved one; a later change is reported and handled by
 * `definition_changes` (pin: keep serving the approved definition, refuse calls until an
 * operator approves; warn: serve the new one).
 */

/** The registry as the catalog needs it (the store's registry functions, see router.ts). */
export type RegistryPort = {
  activeTools(scope: string): Promise<ReadonlySet<string>>;
  /** A discovering scope's listed tools recorded as discovered; resolves with its active tools. */
  recordDiscovered(scope: string, names: readonly string[]): Promise<ReadonlySet<string>>;
  /** Records the observed digest; the first digest ever seen is approved (trust on first use). */
  observeDefinition(
    scope: string,
    name: string,
    digest: string,
  ): Promise<"approved" | "first_seen" | "changed" | "unknown">;
};

export type CatalogEntry = {
  name: string;
  /** The definition served in tools/list. */
  definition: Record<string, unknown>;
  /** False while a pinned tool's changed definition awaits approval. */
  callable: boolean;
  digest: string;
};

export type ScopeCatalog =
  | { ok: true; tools: ReadonlyMap<string, CatalogEntry>; loadedAt: number }
  | { ok: false; reason: "backend_unavailable" };

export type DefinitionChange = {
  scope: string;
  tool: string;
  /** Null when this process never saw the approved definition. */
  approvedDigest: string | null;
  observedDigest: string;
  policy: "pin" | "warn";
};

export type ToolCatalog = {
  /**
   * The scope's listing. Blocks on the backend only while nothing was ever loaded; a due or stale
   * listing is served as is while one background refresh (per scope) replaces it.
   */
  get(scope: string): Promise<ScopeCatalog>;
  /** Loads now (joining a refresh already in flight); resolves with the listing then served. */
  refresh(scope: string): Promise<ScopeCatalog>;
  /** Called when a backend announces notifications/tools/list_changed. */
  markStale(scope: string): void;
  /** True once every scope has loaded at least once. */
  loadedAll(): boolean;
  /**
   * Serves a reloaded tools.yaml from now on. Removed scopes are dropped; a scope whose entry
   * changed loses the tools no longer enabled at once and is listed again from its backend
   * (resolves when those listings are in, or have failed and keep the last good one).
   */
  reconfigure(tools: ToolsConfig): Promise<void>;
  close(): void;
};

const MAX_LIST_PAGES = 20;
/** Most tools a discovering scope takes from its server (the rest are ignored, with a warning). */
export const MAX_DISCOVERED_TOOLS = 1000;
const CATALOG_USER = "mcp-router";

export function createToolCatalog(options: {
  tools: ToolsConfig;
  registry: RegistryPort;
  backends: Backends;
  logger: Logger;
  refreshIntervalMs?: number;
  /** After a failed refresh, how long the last good listing is served before trying again. */
  retryBackoffMs?: number;
  onDefinitionChange?: (change: DefinitionChange) => void;
  now?: () => number;
}): ToolCatalog {
  const now = options.now ?? Date.now;
  let toolsConfig = options.tools;
  /** Bumped by reconfigure: a listing loaded under an older tools.yaml is not kept. */
  let generation = 0;
  const refreshIntervalMs = options.refreshIntervalMs ?? 60_000;
  const retryBackoffMs = Math.min(options.retryBackoffMs ?? 5_000, refreshIntervalMs);
  const loaded = new Map<
    string,
    { ok: true; tools: Map<string, CatalogEntry>; loadedAt: number }
  >();
  const loading = new Map<string, { generation: number; promise: Promise<ScopeCatalog> }>();
  const stale = new Set<string>();
  /** Scope → when a failed refresh may be retried by get(). */
  const retryAt = new Map<string, number>();
  /** Approved definitions seen by this process, so `pin` can keep serving them. */
  const approvedSeen = new Map<string, { digest: string; definition: Record<string, unknown> }>();
  const reported = new Set<string>();

  async function load(scope: string): Promise<ScopeCatalog> {
    const config = toolsConfig;
    const loadedGeneration = generation;
    const scopeConfig = config.scopes[scope];
    if (scopeConfig === undefined) return { ok: false, reason: "backend_unavailable" };
    const definitions = await listBackendTools(scope, scopeConfig);
    if (definitions === undefined) {
      retryAt.set(scope, now() + retryBackoffMs);
      // Keep serving the last good listing while a backend blips; calls fail on their own.
      return loaded.get(scope) ?? { ok: false, reason: "backend_unavailable" };
    }
    const enabled = scopeConfig.discover
      ? discoverable(scope, definitions)
      : new Set(scopeConfig.tools.filter((t) => t.enabled).map((t) => t.name));
    const active = scopeConfig.discover
      ? await options.registry.recordDiscovered(scope, [...enabled])
      : await options.registry.activeTools(scope);
    const tools = new Map<string, CatalogEntry>();
    for (const definition of definitions) {
      const name = definition.name as string;
      if (!enabled.has(name) || !active.has(name) || tools.has(name)) continue;
      const digest = digestJson(definition);
      const key = `${scope}\u0000${name}`;
      const known = approvedSeen.get(key);
      const check = await options.registry.observeDefinition(scope, name, digest);
      if (check === "unknown") continue;
      if (check === "approved" || check === "first_seen") {
        approvedSeen.set(key, { digest, definition });
        tools.set(name, { name, definition, callable: true, digest });
        continue;
      }
      const policy = config.definition_changes;
      const reportKey = `${key}\u0000${digest}`;
      if (!reported.has(reportKey)) {
        reported.add(reportKey);
        options.onDefinitionChange?.({
          scope,
          tool: name,
          approvedDigest: known?.digest ?? null,
          observedDigest: digest,
          policy,
        });
      }
      if (policy === "warn") {
        tools.set(name, { name, definition, callable: true, digest });
        continue;
      }
      // Without the approved text (e.g. after a restart) the tool is hidden rather than shown
      // with a definition nobody approved.
      if (known !== undefined) {
        tools.set(name, {
          name,
          definition: known.definition,
          callable: false,
          digest: known.digest,
        });
      }
    }
    const entry = { ok: true as const, tools, loadedAt: now() };
    if (loadedGeneration !== generation) return entry;
    loaded.set(scope, entry);
    stale.delete(scope);
    retryAt.delete(scope);
    return entry;
  }

  /** The names a discovering scope takes from its server's listing: valid, distinct, bounded. */
  function discoverable(scope: string, definitions: Record<string, unknown>[]): Set<string> {
    const names = new Set<string>();
    let ignored = 0;
    for (const definition of definitions) {
      const name = definition.name as string;
      if (!TOOL_NAME_RE.test(name) || names.has(name)) continue;
      if (names.size < MAX_DISCOVERED_TOOLS) names.add(name);
      else ignored += 1;
    }
    if (ignored > 0) {
      options.logger.warn(
        { scope, ignored, max: MAX_DISCOVERED_TOOLS },
        "discovering scope lists too many tools; the rest are ignored",
      );
    }
    return names;
  }

  async function listBackendTools(
    scope: string,
    scopeConfig: Scope,
  ): Promise<Record<string, unknown>[] | undefined> {
    const definitions: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const outcome = await options.backends.call(scope, scopeConfig, {
        method: "tools/list",
        params: cursor === undefined ? {} : { cursor },
        userId: CATALOG_USER,
        forCatalog: true,
        requestId: randomUUID(),
        timeoutMs: scopeConfig.timeout_ms,
        maxResponseBytes: 16 * 1024 * 1024,
      });
      if (outcome.kind !== "result" || !Array.isArray(outcome.result.tools)) {
        options.logger.warn(
          {
            scope,
            outcome: outcome.kind,
            reason: outcome.kind === "failure" ? outcome.reason : undefined,
          },
          "backend tools/list failed",
        );
        return undefined;
      }
      for (const tool of outcome.result.tools) {
        if (isRecord(tool) && typeof tool.name === "string" && isRecord(tool.inputSchema)) {
          definitions.push(tool);
        }
      }
      const next = outcome.result.nextCursor;
      if (typeof next !== "string" || next === "") return definitions;
      cursor = next;
    }
    return definitions;
  }

  function refresh(scope: string): Promise<ScopeCatalog> {
    const inFlight = loading.get(scope);
    // A load started before a reconfigure reads the old tools.yaml: it is not joined.
    if (inFlight !== undefined && inFlight.generation === generation) return inFlight.promise;
    const promise: Promise<ScopeCatalog> = load(scope)
      .catch((error: unknown): ScopeCatalog => {
        options.logger.error({ err: error, scope }, "tool catalog refresh failed");
        retryAt.set(scope, now() + retryBackoffMs);
        return loaded.get(scope) ?? { ok: false, reason: "backend_unavailable" };
      })
      .finally(() => {
        if (loading.get(scope)?.promise === promise) loading.delete(scope);
      });
    loading.set(scope, { generation, promise });
    return promise;
  }

  async function reconfigure(next: ToolsConfig): Promise<void> {
    const previous = toolsConfig;
    const policyChanged = previous.definition_changes !== next.definition_changes;
    const changed: string[] = [];
    for (const scope of new Set([...Object.keys(previous.scopes), ...Object.keys(next.scopes)])) {
      const before = previous.scopes[scope];
      const after = next.scopes[scope];
      if (after === undefined) {
        loaded.delete(scope);
        stale.delete(scope);
        retryAt.delete(scope);
        continue;
      }
      if (!policyChanged && before !== undefined && digestJson(before) === digestJson(after)) {
        continue;
      }
      changed.push(scope);
      const current = loaded.get(scope);
      if (current !== undefined) {
        // Until the new listing is in, the old one shows only what is still enabled.
        const enabled = new Set(after.tools.filter((t) => t.enabled).map((t) => t.name));
        const kept = new Map(
          [...current.tools].filter(([name]) => after.discover === true || enabled.has(name)),
        );
        loaded.set(scope, { ok: true, tools: kept, loadedAt: current.loadedAt });
      }
      stale.add(scope);
      retryAt.delete(scope);
    }
    toolsConfig = next;
    generation += 1;
    await Promise.all(changed.map((scope) => refresh(scope)));
  }

  const timer = setInterval(() => {
    for (const scope of Object.keys(toolsConfig.scopes)) void refresh(scope);
  }, refreshIntervalMs);
  timer.unref();

  return {
    async get(scope) {
      const current = loaded.get(scope);
      if (current === undefined) return refresh(scope);
      const due = stale.has(scope) || now() - current.loadedAt >= refreshIntervalMs;
      // A hanging backend must not make every list and call wait out its timeout: serve the
      // last good listing, refresh once in the background, and back off after a failure.
      if (due && now() >= (retryAt.get(scope) ?? 0)) void refresh(scope);
      return current;
    },
    refresh,
    markStale(scope) {
      stale.add(scope);
      // The backend just spoke, so the back-off of an earlier failure no longer applies.
      retryAt.delete(scope);
    },
    loadedAll: () => Object.keys(toolsConfig.scopes).every((scope) => loaded.has(scope)),
    reconfigure,
    close() {
      clearInterval(timer);
    },
  };
}
