import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { RPC_CODE } from "../../contract/src/json-rpc.ts";
import type { AuditEventRow } from "../../store/src/schema.ts";
import {
  modernHeaders,
  modernRequest,
  readMessages,
  startE2eStack,
  type E2eStack,
  type User,
} from "./stack-fixture.ts";

/**
 * The shipped roles through the whole stack (issue 14, item 2): every role of config/policy.yaml,
 * a token without roles and one with an unknown role, against every scope. Each sees exactly the
 * tools/list written down below, and each representative tools/call either runs or is refused with
 * the right status, JSON-RPC error and audit row (naming the deciding policy rule). The auditor's
 * answers are searched for lines of the repository's files: "history without contents" is checked
 * on what comes back, not on tool names.
 *
 * The expectations are written by hand from policy.yaml's comments and the tool descriptions;
 * nothing here asks the policy code under test what it would decide.
 */

const REPO = "gateway"; // the repository the embedded git server serves (its own checkout)
const DIFF_RANGE = "HEAD~3..HEAD";

type Scope = "calculator" | "git" | "docs";
const SCOPES: readonly Scope[] = ["calculator", "git", "docs"];

const TOOLS: Record<Scope, readonly string[]> = {
  calculator: [
    "exact_calculate",
    "statistics",
    "convert_units",
    "list_units",
    "evaluate_expression",
  ],
  git: [
    "git_list_repositories",
    "git_log",
    "git_show_commit",
    "git_diff",
    "git_grep",
    "git_blame",
    "git_list_files",
    "git_read_file",
    "git_search_commits",
  ],
  docs: ["generate_document"],
};

/** One representative valid call per tool, and both sides of each auditor condition. */
type Call = { id: string; scope: Scope; tool: string; arguments: Record<string, unknown> };

const CALLS: readonly Call[] = [
  {
    id: "exact_calculate",
    scope: "calculator",
    tool: "exact_calculate",
    arguments: { operator: "add", operands: ["0.1", "0.2"] },
  },
  {
    id: "statistics",
    scope: "calculator",
    tool: "statistics",
    arguments: { values: ["1", "2", "3", "4"] },
  },
  {
    id: "convert_units",
    scope: "calculator",
    tool: "convert_units",
    arguments: { value: "1", from: "in", to: "cm" },
  },
  // The fixture caps calculator.list_units at 2 calls per user: each role calls it once.
  { id: "list_units", scope: "calculator", tool: "list_units", arguments: {} },
  {
    id: "evaluate_expression",
    scope: "calculator",
    tool: "evaluate_expression",
    arguments: { expression: "(0.1 + 0.2) * 3" },
  },
  { id: "git_list_repositories", scope: "git", tool: "git_list_repositories", arguments: {} },
  { id: "git_log", scope: "git", tool: "git_log", arguments: { repository: REPO, max_count: 5 } },
  {
    id: "git_list_files",
    scope: "git",
    tool: "git_list_files",
    arguments: { repository: REPO, max_count: 100 },
  },
  {
    id: "git_show_commit {}",
    scope: "git",
    tool: "git_show_commit",
    arguments: { repository: REPO, revision: "HEAD" },
  },
  {
    id: "git_show_commit include_patch:true",
    scope: "git",
    tool: "git_show_commit",
    arguments: { repository: REPO, revision: "HEAD", include_patch: true },
  },
  {
    id: "git_show_commit include_patch:false",
    scope: "git",
    tool: "git_show_commit",
    arguments: { repository: REPO, revision: "HEAD", include_patch: false },
  },
  {
    id: "git_diff {}",
    scope: "git",
    tool: "git_diff",
    arguments: { repository: REPO, revision: DIFF_RANGE },
  },
  {
    id: "git_diff format:stat",
    scope: "git",
    tool: "git_diff",
    arguments: { repository: REPO, revision: DIFF_RANGE, format: "stat" },
  },
  {
    id: "git_diff format:patch",
    scope: "git",
    tool: "git_diff",
    arguments: { repository: REPO, revision: DIFF_RANGE, format: "patch" },
  },
  {
    id: "git_grep",
    scope: "git",
    tool: "git_grep",
    arguments: { repository: REPO, pattern: "MCP", path: "README.md", max_count: 20 },
  },
  {
    id: "git_blame",
    scope: "git",
    tool: "git_blame",
    arguments: { repository: REPO, path: "README.md", start_line: 1, end_line: 30 },
  },
  {
    id: "git_read_file",
    scope: "git",
    tool: "git_read_file",
    arguments: { repository: REPO, path: "README.md" },
  },
  {
    id: "git_search_commits",
    scope: "git",
    tool: "git_search_commits",
    arguments: { repository: REPO, pattern: "policy", max_count: 5 },
  },
  {
    id: "generate_document",
    scope: "docs",
    tool: "generate_document",
    arguments: { format: "html", title: "Sweep", content: "# Sweep\n\nOne *paragraph*." },
  },
];

// What a call's outcome looks like, as summarize() writes it: status, JSON-RPC code, gateway
// code, then every audit row of the request id (source:outcome:reason:rule).
const OK = "ok router:invocation:ok";
const NO_SCOPE = `403 ${RPC_CODE.forbidden} GW_INSUFFICIENT_SCOPE ext-authz:denied:insufficient_scope:rule=null`;
const forbidden = (rule: string) =>
  `403 ${RPC_CODE.forbidden} GW_TOOL_FORBIDDEN ext-authz:denied:tool_not_allowed:rule=${rule}`;

/** Every call of a scope with one outcome. */
function everyCall(scope: Scope, outcome: string): Record<string, string> {
  return Object.fromEntries(
    CALLS.filter((call) => call.scope === scope).map((call) => [call.id, outcome]),
  );
}

type RoleCase = {
  name: string;
  user: User;
  /** The exact tools/list per scope, or the refusal of tools/list. */
  lists: Record<Scope, readonly string[] | string>;
  calls: Record<string, string>;
};

const ROLE_CASES: readonly RoleCase[] = [
  {
    name: "developer",
    user: { user: "sweep-developer", roles: ["developer"], tenant: "acme" },
    lists: { calculator: TOOLS.calculator, git: TOOLS.git, docs: TOOLS.docs },
    calls: { ...everyCall("calculator", OK), ...everyCall("git", OK), ...everyCall("docs", OK) },
  },
  {
    name: "analyst",
    user: { user: "sweep-analyst", roles: ["analyst"], tenant: "acme" },
    lists: { calculator: TOOLS.calculator, git: NO_SCOPE, docs: TOOLS.docs },
    calls: {
      ...everyCall("calculator", OK),
      ...everyCall("git", NO_SCOPE),
      ...everyCall("docs", OK),
    },
  },
  {
    name: "auditor",
    user: { user: "sweep-auditor", roles: ["auditor"], tenant: "acme" },
    lists: {
      calculator: NO_SCOPE,
      // The conditional tools are listed: the auditor may use them with some arguments.
      git: ["git_list_repositories", "git_log", "git_list_files", "git_show_commit", "git_diff"],
      docs: NO_SCOPE,
    },
    calls: {
      ...everyCall("calculator", NO_SCOPE),
      ...everyCall("docs", NO_SCOPE),
      git_list_repositories: OK,
      git_log: OK,
      git_list_files: OK,
      // policy.yaml roles.auditor.deny, in order: [0] git_read_file, [1] git_grep, [2] git_blame,
      // [3] git_search_commits, [4] git_show_commit unless include_patch == false,
      // [5] git_diff when format is set and not "stat".
      "git_show_commit {}": forbidden("roles.auditor.deny[4]"),
      "git_show_commit include_patch:true": forbidden("roles.auditor.deny[4]"),
      "git_show_commit include_patch:false": OK,
      "git_diff {}": OK,
      "git_diff format:stat": OK,
      "git_diff format:patch": forbidden("roles.auditor.deny[5]"),
      git_grep: forbidden("roles.auditor.deny[1]"),
      git_blame: forbidden("roles.auditor.deny[2]"),
      git_read_file: forbidden("roles.auditor.deny[0]"),
      git_search_commits: forbidden("roles.auditor.deny[3]"),
    },
  },
  {
    name: "no roles",
    user: { user: "sweep-nobody", roles: [], tenant: "acme" },
    lists: { calculator: NO_SCOPE, git: NO_SCOPE, docs: NO_SCOPE },
    calls: {
      ...everyCall("calculator", NO_SCOPE),
      ...everyCall("git", NO_SCOPE),
      ...everyCall("docs", NO_SCOPE),
    },
  },
  {
    name: "unknown role",
    user: { user: "sweep-intern", roles: ["intern"], tenant: "acme" },
    lists: { calculator: NO_SCOPE, git: NO_SCOPE, docs: NO_SCOPE },
    calls: {
      ...everyCall("calculator", NO_SCOPE),
      ...everyCall("git", NO_SCOPE),
      ...everyCall("docs", NO_SCOPE),
    },
  },
];

type JsonObject = Record<string, unknown>;
type Exchange = {
  status: number;
  requestId: string;
  wwwAuthenticate: string | null;
  message: JsonObject | undefined;
};

let e2e: E2eStack;
/** Per role name: tools/list exchanges per scope and tools/call exchanges per call id. */
const lists = new Map<string, Map<Scope, Exchange>>();
const calls = new Map<string, Map<string, Exchange>>();
/** Lines of repository files (and of their patches) an auditor must never receive. */
let fileLines: string[] = [];

async function post(
  scope: Scope,
  token: string,
  method: string,
  params: JsonObject,
  name?: string,
): Promise<Exchange> {
  const response = await fetch(e2e.endpoint(scope), {
    method: "POST",
    headers: { ...modernHeaders(method, name), authorization: `Bearer ${token}` },
    body: JSON.stringify(modernRequest(method, params)),
  });
  const requestId = response.headers.get(HEADER.requestId);
  if (requestId === null) throw new Error(`no ${HEADER.requestId} on ${method} ${scope}`);
  const [message] = await readMessages(response);
  return {
    status: response.status,
    requestId,
    wwwAuthenticate: response.headers.get("www-authenticate"),
    message,
  };
}

function callTool(token: string, call: Call): Promise<Exchange> {
  return post(
    call.scope,
    token,
    "tools/call",
    { name: call.tool, arguments: call.arguments },
    call.tool,
  );
}

type ToolResult = {
  isError?: boolean;
  content?: { type: string; text?: string }[];
  structuredContent?: JsonObject;
};

function resultOf(exchange: Exchange): ToolResult {
  const result = exchange.message?.result;
  if (exchange.status !== 200 || result === undefined) {
    throw new Error(
      `expected a result, got ${exchange.status} ${JSON.stringify(exchange.message)}`,
    );
  }
  return result as ToolResult;
}

function rowSummary(row: AuditEventRow): string {
  return row.outcome === "denied"
    ? `${row.source}:${row.outcome}:${row.reason}:rule=${row.policy_rule}`
    : `${row.source}:${row.kind}:${row.outcome}`;
}

/** One line per outcome, so a whole role compares as one table (see OK, NO_SCOPE, forbidden). */
async function summarize(exchange: Exchange): Promise<string> {
  const rows = (await e2e.auditRows(exchange.requestId)).map(rowSummary).join(" ");
  const result = exchange.message?.result as ToolResult | undefined;
  if (exchange.status === 200 && result !== undefined) {
    if (result.isError === true) return `tool error ${JSON.stringify(result.content)} ${rows}`;
    return `ok ${rows}`;
  }
  const error = exchange.message?.error as { code?: number; data?: { code?: string } } | undefined;
  return `${exchange.status} ${error?.code} ${error?.data?.code} ${rows}`;
}

/** Every string in a value, and again inside strings that are themselves JSON (text content). */
function textLeaves(value: unknown, into: string[] = []): string[] {
  if (typeof value === "string") {
    into.push(value);
    const start = value.trimStart()[0];
    if (start === "{" || start === "[") {
      try {
        textLeaves(JSON.parse(value), into);
      } catch {
        // Not JSON: the string itself is already collected.
      }
    }
  } else if (Array.isArray(value)) {
    for (const item of value) textLeaves(item, into);
  } else if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) textLeaves(item, into);
  }
  return into;
}

/** The file lines found anywhere in an answer. */
function leakedLines(exchange: Exchange): string[] {
  const leaves = textLeaves(exchange.message);
  return fileLines.filter((line) => leaves.some((leaf) => leaf.includes(line)));
}

/**
 * Lines long enough to be distinctive (short ones like "}" or "## Tests" prove nothing). A line
 * that is nothing but a path (`"config/test/x.test.ts",` in a list of files) is left out: the
 * auditor may see the repository's paths (git_list_files), just not what the files hold.
 */
function distinctiveLines(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length >= 20 && /[A-Za-z]{3}/.test(line))
    .filter((line) => !/^["'`]?[\w.@/-]+["'`]?,?$/.test(line));
}

/** The added and removed lines of a unified diff. */
function patchLines(patch: string): string[] {
  return distinctiveLines(
    patch
      .split("\n")
      .filter((line) => /^[+-]/.test(line) && !/^(\+\+\+|---) /.test(line))
      .map((line) => line.slice(1))
      .join("\n"),
  );
}

/**
 * What the auditor must not see, read with a developer token: README.md, .env.development (the
 * dev secrets the attack run reached), every file the swept commit and range touch, and the lines
 * of their patches (which include removed lines no longer in any file).
 */
const MAX_REFERENCE_FILES = 40;

async function collectFileLines(token: string): Promise<string[]> {
  const git = (tool: string, args: JsonObject) =>
    callTool(token, { id: tool, scope: "git", tool, arguments: { repository: REPO, ...args } });
  const [commit, diff, log] = await Promise.all([
    git("git_show_commit", { revision: "HEAD", include_patch: true }),
    git("git_diff", { revision: DIFF_RANGE, format: "patch" }),
    git("git_log", { max_count: 5 }),
  ]);
  const lines: string[] = [];
  const paths = new Set(["README.md", ".env.development"]);
  for (const exchange of [commit, diff]) {
    const output = resultOf(exchange).structuredContent as {
      files: { path: string; status: string }[];
      patch: string | null;
    };
    expect(output.patch).toEqual(expect.any(String));
    lines.push(...patchLines(output.patch!));
    for (const file of output.files) if (file.status !== "deleted") paths.add(file.path);
  }
  // A commit may touch hundreds of files: a sample keeps the reference reads inside the
  // per-user-tool quota (the patches' lines above already cover every touched file).
  const sample = [...paths].slice(0, MAX_REFERENCE_FILES);
  const files = await Promise.all(sample.map((path) => git("git_read_file", { path })));
  for (const exchange of files) {
    const output = resultOf(exchange).structuredContent as { encoding: string; content: string };
    if (output.encoding === "utf-8") lines.push(...distinctiveLines(output.content));
  }
  // History is the auditor's to read: a commit message that quotes a file's line is not a leak.
  const messages = (
    resultOf(log).structuredContent as { commits: { message: string }[] }
  ).commits.map((entry) => entry.message);
  return [...new Set(lines)].filter((line) => !messages.some((message) => message.includes(line)));
}

/**
 * At most `limit` of the tasks at a time. The embedded stack runs ext-authz, router, tool servers
 * and PGlite on one event loop, and the router gives each ext-authz Check 2 s: a hundred requests
 * at once on a busy machine would measure the machine (503 GW_AUTHZ_UNAVAILABLE), not the policy.
 */
async function inPool<T>(limit: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

const CONCURRENCY = 6;

beforeAll(async () => {
  e2e = await startE2eStack();
  const reference = await e2e.token({
    user: "sweep-reference",
    roles: ["developer"],
    tenant: "acme",
  });
  fileLines = await collectFileLines(reference);
  const tokens = new Map(
    await Promise.all(
      ROLE_CASES.map(async (role) => [role.name, await e2e.token(role.user)] as const),
    ),
  );
  const listTasks = ROLE_CASES.flatMap((role) =>
    SCOPES.map((scope) => async () => {
      const exchange = await post(scope, tokens.get(role.name)!, "tools/list", {});
      if (!lists.has(role.name)) lists.set(role.name, new Map());
      lists.get(role.name)!.set(scope, exchange);
    }),
  );
  const callTasks = ROLE_CASES.flatMap((role) =>
    CALLS.map((call) => async () => {
      const exchange = await callTool(tokens.get(role.name)!, call);
      if (!calls.has(role.name)) calls.set(role.name, new Map());
      calls.get(role.name)!.set(call.id, exchange);
    }),
  );
  await inPool(CONCURRENCY, [...listTasks, ...callTasks]);
});
afterAll(async () => {
  await e2e?.close();
});

describe.each(ROLE_CASES)("role $name", (role) => {
  it.each(SCOPES)("tools/list on /%s/mcp is exactly the expected set", async (scope) => {
    const exchange = lists.get(role.name)!.get(scope)!;
    const expected = role.lists[scope];
    if (typeof expected === "string") {
      expect(await summarize(exchange)).toBe(expected);
      expect(exchange.wwwAuthenticate).toMatch(/error="insufficient_scope"/);
      return;
    }
    expect(exchange.status).toBe(200);
    const result = exchange.message!.result as { tools: { name: string }[]; nextCursor?: string };
    expect(result.nextCursor).toBeUndefined();
    expect(result.tools.map((tool) => tool.name).sort()).toEqual([...expected].sort());
    const rows = await e2e.auditRows(exchange.requestId);
    expect(rows).toMatchObject([
      { source: "router", kind: "list", subject: role.user.user, scope, outcome: "ok" },
    ]);
  });

  it("tools/call of every tool of every scope runs or is refused as the policy says", async () => {
    const exchanges = calls.get(role.name)!;
    const actual = Object.fromEntries(
      await Promise.all(
        CALLS.map(async (call) => [call.id, await summarize(exchanges.get(call.id)!)] as const),
      ),
    );
    expect(actual).toEqual(role.calls);
  });

  it("refusals carry an insufficient_scope challenge and audit the subject and tool", async () => {
    const exchanges = calls.get(role.name)!;
    for (const call of CALLS) {
      const exchange = exchanges.get(call.id)!;
      if (exchange.status !== 403) continue;
      expect(exchange.wwwAuthenticate, call.id).toMatch(/error="insufficient_scope"/);
      const [row] = await e2e.auditRows(exchange.requestId);
      expect(row, call.id).toMatchObject({
        source: "ext-authz",
        kind: "decision",
        subject: role.user.user,
        scope: call.scope,
        method: "tools/call",
        status: 403,
      });
      // A tool refusal names the tool; a scope refusal is decided before the body's tool is read.
      if (row!.reason === "tool_not_allowed") expect(row!.tool, call.id).toBe(call.tool);
    }
  });
});

describe("the auditor sees history without contents", () => {
  const auditor = () => calls.get("auditor")!;
  const structured = (id: string) => resultOf(auditor().get(id)!).structuredContent!;

  it("has a reference set of file lines, and the developer's content tools do return them", () => {
    expect(fileLines.length).toBeGreaterThan(20);
    // Without these the leak check below could pass by finding nothing anywhere.
    const developer = calls.get("developer")!;
    for (const id of [
      "git_show_commit {}",
      "git_show_commit include_patch:true",
      "git_diff format:patch",
      "git_grep",
      "git_blame",
      "git_read_file",
    ]) {
      expect(leakedLines(developer.get(id)!).length, id).toBeGreaterThan(0);
    }
  });

  it("git_show_commit with include_patch: false answers the commit without a patch", () => {
    const output = structured("git_show_commit include_patch:false");
    expect(output.patch).toBeNull();
    expect(output.files).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: expect.any(String) })]),
    );
    expect(output.commit).toMatchObject({ sha: expect.stringMatching(/^[0-9a-f]{40}$/) });
  });

  it("git_diff without a format and with format: stat answers the file list without a patch", () => {
    for (const id of ["git_diff {}", "git_diff format:stat"]) {
      const output = structured(id);
      expect(output.patch, id).toBeNull();
      expect((output.files as unknown[]).length, id).toBeGreaterThan(0);
    }
  });

  it("no answer the auditor received contains a line of a repository file", () => {
    const auditorAnswers = [
      ...[...lists.get("auditor")!].map(
        ([scope, exchange]) => [`tools/list ${scope}`, exchange] as const,
      ),
      ...auditor(),
    ];
    const leaks = Object.fromEntries(
      auditorAnswers
        .map(([id, exchange]) => [id, leakedLines(exchange)] as const)
        .filter(([, lines]) => lines.length > 0),
    );
    expect(leaks).toEqual({});
  });

  it("nor did any answer to the roles without git access", () => {
    const leaks: Record<string, string[]> = {};
    for (const role of ["analyst", "no roles", "unknown role"]) {
      for (const [id, exchange] of calls.get(role)!) {
        const lines = leakedLines(exchange);
        if (lines.length > 0) leaks[`${role} ${id}`] = lines;
      }
    }
    expect(leaks).toEqual({});
  });
});
