import type { Kysely } from "kysely";
import { z } from "zod";
import { toolEntry, type Scope } from "../../config/src/tools-schema.ts";
import { approveDefinition, getRegistryTool } from "../../store/src/registry.ts";
import type { DB, ToolRegistryRow } from "../../store/src/schema.ts";
import { parseAdminBody, rejected, runAdminEndpoint, type AdminAnswer } from "./admin-access.ts";
import { definitionLines, diffLines, type DefinitionArchive } from "./admin-definitions.ts";
import type {
  AdminTool,
  AdminTools,
  DefinitionChange,
  ToolActionResult,
  ToolStatus,
} from "./admin-wire.ts";
import type { RouterRequest, RouterResponse } from "./http-types.ts";
import type { RouterContext } from "./router-context.ts";
import type { CatalogEntry } from "./tool-catalog.ts";

/**
 * `GET /admin/tools`: every scope and tool, from tools.yaml, the tool registry (database) and what
 * this router serves now, with pending definition changes and their diff.
 * `POST /admin/tools/{scope}/{tool}/approve`: what `npm run approve-tool -- approve` does — the
 * observed definition becomes the approved one — audited with the operator's identity.
 * `POST /admin/tools/{scope}/{tool}/keep`: the operator keeps the approved definition: nothing
 * changes in what is served (the tool stays pinned, its calls refused while the backend serves
 * the changed definition), the decision is recorded (the audit row), and the tool no longer shows
 * as awaiting review until the backend changes its definition again.
 */

export const ADMIN_TOOLS_PATH = "/admin/tools";
export const ADMIN_TOOL_ACTION_RE = /^\/admin\/tools\/([^/]+)\/([^/]+)\/(approve|keep)$/;

export type AdminToolsDeps = {
  db: Kysely<DB>;
  definitions: DefinitionArchive;
  /** How long GET /admin/tools waits for a scope's listing that was never loaded. */
  catalogWaitMs?: number;
};

/** tools.yaml's rules for names (config/src/tools-schema.ts). */
const ScopeNameSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, "not a scope name");
const ToolNameSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, "not a tool name");
const DigestSchema = z.string().regex(/^[0-9a-f]{64}$/, "expected a SHA-256 digest (64 hex)");

const ToolActionBodySchema = z.strictObject({
  /**
   * The observed digest the operator reviewed: when the backend has changed the definition again
   * since, the action is refused (409) instead of applying to a definition nobody looked at.
   */
  observed_digest: DigestSchema.optional(),
});

const iso = (date: Date | null | undefined): string | null =>
  date === null || date === undefined ? null : date.toISOString();

/** Where a scope's tools come from, without anything secret (no query, no arguments, no headers). */
function backendLabel(scope: Scope): string {
  const server = scope.mcp_server;
  const url = scope.backend_url ?? (server?.transport === "streamable-http" ? server.url : null);
  if (url !== null) {
    try {
      const parsed = new URL(url);
      return `${parsed.origin}${parsed.pathname}`;
    } catch {
      return "(invalid URL)";
    }
  }
  return server?.transport === "stdio" ? `stdio: ${server.command}` : "(none)";
}

async function servedTools(
  ctx: RouterContext,
  scope: string,
  waitMs: number,
): Promise<ReadonlyMap<string, CatalogEntry> | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const listing = await Promise.race([
      ctx.catalog.get(scope),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), waitMs);
      }),
    ]);
    return listing?.ok === true ? listing.tools : undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** An operator's "keep pinned": who, when, and which observed definition it was about. */
type Kept = { by: string | null; at: Date; observed: string | null };

/** Operators' "keep pinned" decisions since `since`, newest first: `scope.tool` → decision. */
async function keptDecisions(db: Kysely<DB>, since: Date): Promise<Map<string, Kept>> {
  const rows = await db
    .selectFrom("audit_events")
    .select(["time", "subject", "scope", "tool", "arguments"])
    .where("kind", "=", "admin")
    .where("method", "=", "admin/tools/keep")
    .where("outcome", "=", "ok")
    .where("time", ">=", since)
    .orderBy("time", "desc")
    .orderBy("id", "desc")
    .limit(1000)
    .execute();
  const kept = new Map<string, Kept>();
  for (const row of rows) {
    const key = `${row.scope ?? ""}.${row.tool ?? ""}`;
    if (kept.has(key)) continue;
    const args = row.arguments as { observed_digest?: unknown } | null;
    kept.set(key, {
      by: row.subject,
      at: row.time,
      observed: typeof args?.observed_digest === "string" ? args.observed_digest : null,
    });
  }
  return kept;
}

function pendingChange(row: ToolRegistryRow | undefined): row is ToolRegistryRow & {
  approved_definition_digest: string;
  observed_definition_digest: string;
} {
  return (
    row !== undefined &&
    row.approved_definition_digest !== null &&
    row.observed_definition_digest !== null &&
    row.approved_definition_digest !== row.observed_definition_digest
  );
}

function describeChange(
  row: ToolRegistryRow & { approved_definition_digest: string; observed_definition_digest: string },
  policy: "pin" | "warn",
  definitions: DefinitionArchive,
  kept: Kept | undefined,
): DefinitionChange {
  const approved = definitions.get(row.scope, row.name, row.approved_definition_digest);
  const observed = definitions.get(row.scope, row.name, row.observed_definition_digest);
  let diff: DefinitionChange["diff"] = null;
  let unavailable: string | null = null;
  if (observed === undefined) {
    unavailable =
      "This router has not listed the changed definition (another replica saw it, or the " +
      "backend no longer serves it).";
  } else if (approved === undefined) {
    diff = definitionLines(observed).map((text) => ({ op: "+", text }));
    unavailable =
      "The approved definition was last listed before this router started: the changed " +
      "definition is shown in full.";
  } else {
    diff = diffLines(definitionLines(approved), definitionLines(observed));
  }
  return {
    approved_digest: row.approved_definition_digest,
    observed_digest: row.observed_definition_digest,
    changed_at: iso(row.definition_changed_at),
    policy,
    kept:
      kept !== undefined && kept.observed === row.observed_definition_digest
        ? { by: kept.by, at: kept.at.toISOString() }
        : null,
    diff,
    diff_unavailable: unavailable,
  };
}

export async function listAdminTools(
  ctx: RouterContext,
  deps: AdminToolsDeps,
): Promise<AdminTools> {
  const { tools: toolsConfig } = ctx.config;
  const rows = await deps.db
    .selectFrom("tool_registry")
    .selectAll()
    .orderBy("scope")
    .orderBy("name")
    .execute();
  const registry = new Map(rows.map((row) => [`${row.scope}\u0000${row.name}`, row]));
  const pending = rows.filter(pendingChange);
  const earliest = pending.reduce<Date | undefined>((min, row) => {
    const at = row.definition_changed_at ?? new Date(0);
    return min === undefined || at < min ? at : min;
  }, undefined);
  const kept =
    earliest === undefined ? new Map<string, Kept>() : await keptDecisions(deps.db, earliest);

  const scopeNames = [
    ...new Set([...Object.keys(toolsConfig.scopes), ...rows.map((row) => row.scope)]),
  ];
  const waitMs = deps.catalogWaitMs ?? 1_500;
  const served = await Promise.all(
    scopeNames.map((scope) =>
      Object.hasOwn(toolsConfig.scopes, scope)
        ? servedTools(ctx, scope, waitMs)
        : Promise.resolve(undefined),
    ),
  );
  const policy = toolsConfig.definition_changes;

  const scopes = scopeNames.map((scope, index) => {
    const scopeConfig = Object.hasOwn(toolsConfig.scopes, scope)
      ? toolsConfig.scopes[scope]
      : undefined;
    const names = [
      ...new Set([
        ...(scopeConfig?.tools.map((tool) => tool.name) ?? []),
        ...rows.filter((row) => row.scope === scope).map((row) => row.name),
      ]),
    ].sort();
    const tools = names.map((name): AdminTool => {
      const row = registry.get(`${scope}\u0000${name}`);
      // A discovering scope has every tool its server lists: those the registry recorded.
      const configured =
        row?.source === "discovered"
          ? toolEntry(scopeConfig, name)
          : scopeConfig?.tools.find((tool) => tool.name === name);
      const entry = served[index]?.get(name);
      const change = pendingChange(row)
        ? describeChange(row, policy, deps.definitions, kept.get(`${scope}.${name}`))
        : null;
      const active = configured !== undefined && (row === undefined || row.active);
      const status: ToolStatus = !active
        ? "inactive"
        : change !== null
          ? policy === "pin"
            ? "pinned_definition_changed"
            : "definition_changed"
          : configured.enabled
            ? "active"
            : "disabled";
      const description = entry?.definition.description;
      return {
        scope,
        name,
        status,
        configured: configured !== undefined,
        source: row?.source ?? "config",
        enabled: configured?.enabled ?? false,
        served: entry !== undefined,
        callable: entry?.callable ?? false,
        description: typeof description === "string" ? description : null,
        approved_digest: row?.approved_definition_digest ?? null,
        first_seen_at: iso(row?.first_seen_at),
        last_seen_at: iso(row?.last_seen_at),
        deactivated_at: iso(row?.deactivated_at),
        change,
      };
    });
    return {
      scope,
      description: scopeConfig?.description ?? null,
      backend: scopeConfig === undefined ? "(removed from tools.yaml)" : backendLabel(scopeConfig),
      tools,
    };
  });
  return { definition_changes: policy, scopes };
}

export function handleAdminTools(
  ctx: RouterContext,
  request: RouterRequest,
  deps: AdminToolsDeps,
): Promise<RouterResponse> {
  return runAdminEndpoint(ctx, request, { method: "GET", audit: "admin/tools" }, async (call) => ({
    outcome: "ok",
    response: call.ok(await listAdminTools(ctx, deps)),
  }));
}

type PathParse =
  | { ok: true; scope: string; tool: string; action: "approve" | "keep" }
  | { ok: false; detail: string };

function parseActionPath(path: string): PathParse {
  const match = ADMIN_TOOL_ACTION_RE.exec(path);
  if (match === null) return { ok: false, detail: "unknown tool action" };
  const [, rawScope = "", rawTool = "", action = ""] = match;
  let scope: string;
  let tool: string;
  try {
    scope = decodeURIComponent(rawScope);
    tool = decodeURIComponent(rawTool);
  } catch {
    return { ok: false, detail: "the scope or tool in the path is not valid percent-encoding" };
  }
  const scopeCheck = ScopeNameSchema.safeParse(scope);
  if (!scopeCheck.success) {
    return {
      ok: false,
      detail: `scope: ${JSON.stringify(scope.slice(0, 64))} is not a scope name ([a-z][a-z0-9_-]{0,31})`,
    };
  }
  const toolCheck = ToolNameSchema.safeParse(tool);
  if (!toolCheck.success) {
    return {
      ok: false,
      detail: `tool: ${JSON.stringify(tool.slice(0, 160))} is not a tool name (1-128 of A-Za-z0-9_.-)`,
    };
  }
  return { ok: true, scope, tool, action: action === "keep" ? "keep" : "approve" };
}

/** Waits at most `ms` for a promise whose result does not matter. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

export function handleAdminToolAction(
  ctx: RouterContext,
  request: RouterRequest,
  deps: AdminToolsDeps,
): Promise<RouterResponse> {
  const parsedPath = parseActionPath(request.path);
  const audit = parsedPath.ok ? `admin/tools/${parsedPath.action}` : "admin/tools/action";
  return runAdminEndpoint(ctx, request, { method: "POST", audit }, async (call) => {
    if (!parsedPath.ok) {
      return rejected(call.fail("GW_INVALID_PARAMS", parsedPath.detail), "invalid_params");
    }
    const { scope, tool, action } = parsedPath;
    const target = { scope, tool };
    const body = parseAdminBody(call, ToolActionBodySchema);
    if (!body.ok) return { ...body.answer, ...target };
    const name = `${scope}.${tool}`;
    const row = await getRegistryTool(deps.db, scope, tool);
    if (row === undefined) {
      return rejected(
        call.fail("GW_UNKNOWN_TOOL", `unknown tool ${name}: it is not in the tool registry`),
        "tool_unknown",
        target,
      );
    }
    const conflict = (detail: string, reason: string, extra: object = {}): AdminAnswer =>
      rejected(call.fail("GW_INVALID_PARAMS", detail, 409), reason, {
        ...target,
        arguments: { ...body.value, ...extra },
      });
    if (!pendingChange(row)) {
      return conflict(
        `nothing to ${action === "approve" ? "approve" : "keep"} for ${name}: no definition change is pending`,
        "no_pending_change",
      );
    }
    const digests = {
      approved_digest: row.approved_definition_digest,
      observed_digest: row.observed_definition_digest,
    };
    const reviewed = body.value.observed_digest;
    if (reviewed !== undefined && reviewed !== row.observed_definition_digest) {
      return conflict(
        `the backend changed ${name} again since ${reviewed.slice(0, 12)}… was reviewed: review the current change`,
        "definition_changed_again",
        digests,
      );
    }
    if (action === "approve") {
      if (!(await approveDefinition(deps.db, scope, tool))) {
        // Another operator (or replica) approved or the change went away in between.
        return conflict(
          `nothing to approve for ${name}: no definition change is pending`,
          "no_pending_change",
          digests,
        );
      }
      // Serve the approved definition now rather than at the next refresh (other replicas: theirs).
      await settleWithin(ctx.catalog.refresh(scope), 2_000);
    }
    const result: ToolActionResult = { scope, tool, action, ...digests };
    return { outcome: "ok", response: call.ok(result), ...target, arguments: digests };
  });
}
