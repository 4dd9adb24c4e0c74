/**
 * `npm run audit -- query …` reads the audit log (the same query as `GET /admin/audit`);
 * `npm run audit -- prune [--dry-run]` deletes events older than AUDIT_RETENTION_DAYS (whole
 * monthly partitions where it can) and creates the coming months' partitions. Same
 * database selection as migrate (DATABASE_URL, else the PGlite data directory).
 */
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { runWithDatabase } from "./database-cli.ts";
import {
  AuditQueryError,
  auditEventJson,
  countAuditEventsBefore,
  parseAuditQuery,
  pruneAuditEvents,
  queryAuditEvents,
  type AuditPage,
  type AuditQuery,
} from "./audit-query.ts";
import {
  dropExpiredAuditPartitions,
  ensureAuditPartitions,
  expiredAuditPartitions,
} from "./audit-partitions.ts";
import type { Database } from "./open-database.ts";
import type { AuditEventRow } from "./schema.ts";

export const USAGE = [
  "usage: npm run audit -- query [--user U] [--tool T] [--scope S] [--outcome O]",
  "                              [--since 1h|ISO] [--until 1h|ISO] [--limit N] [--cursor C]",
  "                              [--format table|json|csv]",
  "       npm run audit -- prune [--dry-run]      (deletes events older than AUDIT_RETENTION_DAYS)",
].join("\n");

export type AuditFormat = "table" | "json" | "csv";

export type AuditCommand =
  | { kind: "query"; query: AuditQuery; format: AuditFormat }
  | { kind: "prune"; dryRun: boolean; before: Date; retentionDays: number };

export type AuditCliIo = { out: (text: string) => void; err: (text: string) => void };

/** The command, or the message for a usage error (exit 2). */
export function parseAuditArgs(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  now: number = Date.now(),
): AuditCommand | { error: string } {
  const [command, ...rest] = args;
  try {
    if (command === "query") {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        allowPositionals: false,
        options: {
          user: { type: "string" },
          tool: { type: "string" },
          scope: { type: "string" },
          outcome: { type: "string" },
          since: { type: "string" },
          until: { type: "string" },
          limit: { type: "string" },
          cursor: { type: "string" },
          format: { type: "string", default: "table" },
        },
      });
      const { format, ...filters } = values;
      if (format !== "table" && format !== "json" && format !== "csv") {
        return { error: `invalid --format "${format}": expected table, json or csv` };
      }
      return { kind: "query", query: parseAuditQuery(filters, now), format };
    }
    if (command === "prune") {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        allowPositionals: false,
        options: { "dry-run": { type: "boolean", default: false } },
      });
      const raw = env.AUDIT_RETENTION_DAYS;
      if (raw === undefined || raw === "") {
        return { error: "AUDIT_RETENTION_DAYS is not set: say how many days of events to keep" };
      }
      const days = /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(days >= 1)) {
        return {
          error: `invalid AUDIT_RETENTION_DAYS "${raw}": expected a whole number of days, at least 1`,
        };
      }
      return {
        kind: "prune",
        dryRun: values["dry-run"],
        retentionDays: days,
        before: new Date(now - days * 86_400_000),
      };
    }
  } catch (error) {
    // parseArgs' own errors (unknown option, missing value) and AuditQueryError.
    const code = (error as { code?: unknown } | null)?.code;
    if (
      error instanceof AuditQueryError ||
      (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))
    ) {
      return { error: (error as Error).message };
    }
    throw error;
  }
  return { error: command === undefined ? "missing command" : `unknown command "${command}"` };
}

const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break; a cell a
 * spreadsheet would run as a formula (= + - @, tab, CR first) is prefixed with an apostrophe.
 */
export function csvCell(value: string): string {
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) || safe !== safe.trim() ? `"${safe.replaceAll('"', '""')}"` : safe;
}

const COLUMNS = [
  "time",
  "id",
  "request_id",
  "source",
  "kind",
  "subject",
  "tenant",
  "roles",
  "scope",
  "method",
  "tool",
  "outcome",
  "reason",
  "status",
  "latency_ms",
  "policy_rule",
  "trace_id",
  "task_id",
  "arguments_digest",
  "arguments",
] as const;

function cellText(event: AuditEventRow, column: (typeof COLUMNS)[number]): string {
  const value: unknown = event[column];
  if (value === null || value === undefined) return "";
  if (value instanceof Date) return value.toISOString();
  if (column === "roles") return (value as string[]).join(" ");
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return value.toString();
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function formatCsv(events: readonly AuditEventRow[]): string {
  const lines = [COLUMNS.join(",")];
  for (const event of events)
    lines.push(COLUMNS.map((column) => csvCell(cellText(event, column))).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

const TABLE_COLUMNS = [
  "time",
  "subject",
  "scope",
  "tool",
  "method",
  "outcome",
  "reason",
  "status",
  "request_id",
] as const;

/** Control characters (a subject is whatever the token said) are shown escaped, not sent to the terminal. */
function printable(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex -- that is the point
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

export function formatTable(events: readonly AuditEventRow[]): string {
  if (events.length === 0) return "no audit events match\n";
  const rows = [
    TABLE_COLUMNS.map((column) => column.toUpperCase()),
    ...events.map((event) =>
      TABLE_COLUMNS.map((column) => printable(cellText(event, column)) || "-"),
    ),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}

export function formatPage(page: AuditPage, format: AuditFormat): string {
  if (format === "json") {
    return `${JSON.stringify({ events: page.events.map(auditEventJson), next_cursor: page.nextCursor }, null, 2)}\n`;
  }
  return format === "csv" ? formatCsv(page.events) : formatTable(page.events);
}

/** Runs a parsed command on an open database; returns the exit code. */
export async function runAuditCommand(
  command: AuditCommand,
  database: Database,
  io: AuditCliIo,
): Promise<number> {
  if (command.kind === "query") {
    const page = await queryAuditEvents(database.db, command.query);
    io.out(formatPage(page, command.format));
    // JSON carries the cursor itself; table and CSV keep stdout to the events.
    if (page.nextCursor !== null && command.format !== "json") {
      io.err(`more events: add --cursor ${page.nextCursor}\n`);
    }
    return 0;
  }
  const cutoff = command.before.toISOString();
  const retention = `(AUDIT_RETENTION_DAYS=${command.retentionDays})`;
  if (command.dryRun) {
    const count = await countAuditEventsBefore(database.db, command.before);
    const whole = await expiredAuditPartitions(database.db, command.before);
    io.out(`would delete ${count} audit events older than ${cutoff} ${retention}\n`);
    if (whole.length > 0) {
      io.out(`would drop whole partitions: ${whole.map((p) => p.name).join(", ")}\n`);
    }
    return 0;
  }
  // Whole months first (a catalog operation), then the rows of the month the cutoff falls in.
  const dropped = await dropExpiredAuditPartitions(database.db, command.before);
  const deleted = await pruneAuditEvents(database.db, command.before);
  const total = deleted + dropped.reduce((sum, p) => sum + p.rows, 0);
  io.out(`deleted ${total} audit events older than ${cutoff} ${retention}\n`);
  if (dropped.length > 0) {
    io.out(`dropped whole partitions: ${dropped.map((p) => `${p.name} (${p.rows})`).join(", ")}\n`);
  }
  // The scheduled prune also keeps the months ahead ready for the writers.
  const created = await ensureAuditPartitions(database.db);
  if (created.length > 0) io.out(`created partitions: ${created.join(", ")}\n`);
  return 0;
}

export async function main(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const command = parseAuditArgs(args, env);
  const io: AuditCliIo = {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  };
  if ("error" in command) {
    io.err(`${command.error}\n${USAGE}\n`);
    return 2;
  }
  return runWithDatabase((database) => runAuditCommand(command, database, io), {
    // stdout carries only the result.
    announce: (line) => io.err(`${line}\n`),
    explainError: (error) =>
      (error as { code?: unknown } | null)?.code === "42P01"
        ? "the database has no audit log yet: run `npm run migrate -- up` first"
        : undefined,
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
