/**
 * `npm run policy -- test <file>`: table tests an operator writes for a policy (token claims + a
 * call → the expected decision, optionally the deciding rule), so a platform team can gate policy
 * changes in its own CI. Each case is decided by rbac.ts exactly as ext-authz decides a call.
 */
import { isNode, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import type { GatewayConfig } from "../../../config/src/load-config.ts";
import {
  ambiguousToolMessage,
  callerFromClaims,
  describeRule,
  lookUpTool,
  ROLES_CLAIM_HINT,
} from "./explain.ts";
import { compilePolicy, type CompiledPolicy, type ToolDecision } from "../policy/rbac.ts";

const RULE_PATH_RE = /^(roles\.[A-Za-z0-9][A-Za-z0-9_.:-]*\.(allow|deny)|deny)\[\d+\]$/;

/** Claims as a token carries them; any other claim is passed to conditions as it is. */
const ClaimsSchema = z.looseObject({
  sub: z.string().min(1, "expected the token's subject"),
  roles: z.union([z.array(z.string()), z.string()], { error: ROLES_CLAIM_HINT }),
  tenant: z.string().optional(),
});

const TableCaseSchema = z.strictObject({
  name: z.string().min(1),
  claims: ClaimsSchema,
  /** `scope.tool`, or a bare name exactly one scope defines. */
  tool: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).optional(),
  /** Request headers; conditions see only those policy.yaml's `condition_headers` lists. */
  headers: z.record(z.string(), z.string()).optional(),
  expect: z.enum(["allow", "deny"]),
  /** The rule that must decide: `roles.auditor.deny[5]`, `deny[0]`. */
  rule: z
    .string()
    .regex(RULE_PATH_RE, "expected a rule path like roles.auditor.deny[5] or deny[0]")
    .optional(),
});
export type TableCase = z.infer<typeof TableCaseSchema>;

const TableFileSchema = z.strictObject({
  cases: z.array(TableCaseSchema).min(1, "expected at least one case"),
});

type KeyPath = readonly (string | number)[];

function pathText(keyPath: KeyPath): string {
  if (keyPath.length === 0) return "(root)";
  return keyPath
    .map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? key : `.${key}`))
    .join("");
}

export type ResolvedCase = TableCase & { scope: string; toolName: string };

/**
 * Parses and validates a table file against the loaded configuration. Errors read
 * `file: cases[3].expect: message (line 12)`, every problem of the file at once.
 */
export function parseTable(
  file: string,
  text: string,
  config: GatewayConfig,
  compiled: CompiledPolicy = compilePolicy(config.tools, config.policy),
): { ok: true; cases: ResolvedCase[] } | { ok: false; errors: string[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        const message = error.message.split("\n", 1)[0]!.replace(/ at line \d+, column \d+:?$/, "");
        return `${file}: line ${line}, column ${col}: ${message}`;
      }),
    };
  }
  const located = (keyPath: KeyPath, message: string): string => {
    let line: number | undefined;
    for (let n = keyPath.length; n >= 0 && line === undefined; n -= 1) {
      const node = n === 0 ? doc.contents : doc.getIn(keyPath.slice(0, n), true);
      if (isNode(node) && node.range) line = lineCounter.linePos(node.range[0]).line;
    }
    return `${file}: ${pathText(keyPath)}: ${message}${line === undefined ? "" : ` (line ${line})`}`;
  };
  const parsed = TableFileSchema.safeParse(doc.toJS({ maxAliasCount: 100 }));
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.flatMap((issue) => {
        const keyPath = issue.path.map((key) => (typeof key === "symbol" ? String(key) : key));
        if (issue.code === "unrecognized_keys") {
          return issue.keys.map((key) => located([...keyPath, key], "unknown key"));
        }
        return [located(keyPath, issue.message)];
      }),
    };
  }
  const errors: string[] = [];
  const cases: ResolvedCase[] = [];
  const names = new Set<string>();
  parsed.data.cases.forEach((entry, i) => {
    if (names.has(entry.name)) {
      errors.push(located(["cases", i, "name"], `duplicate name ${JSON.stringify(entry.name)}`));
    }
    names.add(entry.name);
    const found = lookUpTool(config, compiled, entry.tool);
    if (found.kind === "found") {
      cases.push({ ...entry, scope: found.scope, toolName: found.tool });
    } else {
      // A misspelt tool would pass every `expect: deny` forever: it is an error of the file.
      const message =
        found.kind === "unknown"
          ? `unknown tool ${JSON.stringify(entry.tool)}: no scope of tools.yaml defines it`
          : ambiguousToolMessage(entry.tool, found.scopes);
      errors.push(located(["cases", i, "tool"], message));
    }
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, cases };
}

export type CaseResult = {
  case: ResolvedCase;
  actual: "allow" | "deny";
  decision: ToolDecision;
  pass: boolean;
};

export function runTable(
  config: GatewayConfig,
  cases: readonly ResolvedCase[],
  compiled: CompiledPolicy = compilePolicy(config.tools, config.policy),
): CaseResult[] {
  return cases.map((entry) => {
    // The schema checked the roles claim, so building the caller cannot fail.
    const built = callerFromClaims(compiled, entry.claims, entry.headers);
    if (!built.ok) throw new Error(built.error);
    const decision = compiled.decideTool(
      built.caller,
      entry.scope,
      entry.toolName,
      entry.arguments ?? {},
    );
    const actual = decision.status === "allowed" ? "allow" : "deny";
    const pass =
      actual === entry.expect && (entry.rule === undefined || entry.rule === decision.rule?.path);
    return { case: entry, actual, decision, pass };
  });
}

function decidedBy(decision: ToolDecision): string {
  if (decision.status === "tool_inactive") return "the tool is disabled in tools.yaml";
  if (decision.rule === undefined) return "no rule allows it";
  return describeRule(decision.rule);
}

/** One line per case (`ok` / `FAIL`), then the summary. */
export function formatTableResults(results: readonly CaseResult[]): string[] {
  const lines = results.map((result) => {
    const { case: entry, decision } = result;
    const subject = `${entry.name} (${entry.scope}.${entry.toolName})`;
    let detail = `${result.actual}: ${decidedBy(decision)}`;
    if (decision.conditionError !== undefined) {
      detail += `; condition error: ${decision.conditionError}`;
    }
    for (const rule of decision.wouldDeny) detail += `; would deny: ${rule.path} (dry_run)`;
    if (result.pass) return `ok    ${subject}: ${detail}`;
    const expected = entry.rule === undefined ? entry.expect : `${entry.expect} by ${entry.rule}`;
    return `FAIL  ${subject}: expected ${expected}, got ${detail}`;
  });
  const failed = results.filter((result) => !result.pass).length;
  const summary =
    failed === 0
      ? `${results.length} cases: all passed`
      : `${results.length} cases: ${results.length - failed} passed, ${failed} failed`;
  return [...lines, summary];
}
