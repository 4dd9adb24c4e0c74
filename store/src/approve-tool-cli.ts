/**
 * Operator approval for `definition_changes: pin`: lists tools whose backend definition changed
 * since it was approved, and approves the observed one. Same database selection as migrate.
 */
import { runWithDatabase } from "./database-cli.ts";
import type { Database } from "./open-database.ts";
import {
  approveDefinition,
  getRegistryTool,
  listPendingDefinitionChanges,
  type PendingDefinitionChange,
} from "./registry.ts";

const USAGE = "usage: npm run approve-tool -- list | approve <scope> <tool>";

type Command = { kind: "list" } | { kind: "approve"; scope: string; tool: string };

function parseArgs(args: readonly string[]): Command | undefined {
  const [command, ...rest] = args;
  if (command === "list" && rest.length === 0) return { kind: "list" };
  const [scope, tool] = rest;
  if (command === "approve" && rest.length === 2 && scope && tool)
    return { kind: "approve", scope, tool };
  return undefined;
}

function printPending(changes: readonly PendingDefinitionChange[]): void {
  if (changes.length === 0) {
    console.log("no pending tool definition changes");
    return;
  }
  const rows = [
    ["SCOPE", "TOOL", "CHANGED_AT", "APPROVED_DIGEST", "OBSERVED_DIGEST"],
    ...changes.map((change) => [
      change.scope,
      change.active ? change.name : `${change.name} (inactive)`,
      change.definition_changed_at?.toISOString() ?? "-",
      change.approved_definition_digest,
      change.observed_definition_digest,
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) {
    console.log(
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join("  ")
        .trimEnd(),
    );
  }
}

async function approve(database: Database, scope: string, tool: string): Promise<number> {
  const name = `${scope}.${tool}`;
  const row = await getRegistryTool(database.db, scope, tool);
  if (!row) {
    console.error(`unknown tool ${name}: it is not in the tool registry (see tools.yaml)`);
    return 1;
  }
  if (!(await approveDefinition(database.db, scope, tool))) {
    console.error(`nothing to approve for ${name}: no definition change is pending`);
    return 1;
  }
  console.log(
    `approved ${name}: definition ${row.observed_definition_digest} replaces ${row.approved_definition_digest}; ` +
      "routers serve it from their next tool catalog refresh",
  );
  return 0;
}

async function main(args: readonly string[]): Promise<number> {
  const command = parseArgs(args);
  if (command === undefined) {
    console.error(USAGE);
    return 2;
  }
  return runWithDatabase(
    async (database) => {
      if (command.kind === "list") {
        printPending(await listPendingDefinitionChanges(database.db));
        return 0;
      }
      return approve(database, command.scope, command.tool);
    },
    {
      // stdout carries only the listing.
      announce: (line) => console.error(line),
      explainError: (error) =>
        (error as { code?: unknown } | null)?.code === "42P01"
          ? "the database has no tool registry yet: run `npm run migrate -- up` first"
          : undefined,
    },
  );
}

process.exitCode = await main(process.argv.slice(2));
