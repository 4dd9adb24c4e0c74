import { readFile } from "node:fs/promises";
import path from "node:path";
import { LineCounter, parseDocument, isNode } from "yaml";
import type { z } from "zod";
import { sha256Hex } from "../../contract/src/digest.ts";
import { checkPolicyAgainstTools } from "./cross-check.ts";
import { deepFreeze } from "./deep-freeze.ts";
import { interpolateTree, type Env, type PathError } from "./interpolate.ts";
import { PolicyConfigSchema, type PolicyConfig } from "./policy-schema.ts";
import { ToolsConfigSchema, type ToolsConfig } from "./tools-schema.ts";

export const TOOLS_FILE = "tools.yaml";
export const POLICY_FILE = "policy.yaml";

export type GatewayConfig = { readonly tools: ToolsConfig; readonly policy: PolicyConfig };
export type LoadResult = { ok: true; config: GatewayConfig } | { ok: false; errors: string[] };

export type LoadConfigOptions = { dir?: string; env?: Env };

export type ConfigFileName = typeof TOOLS_FILE | typeof POLICY_FILE;

/** sha256 (hex) of each file's bytes as read; null when the file could not be read. */
export type ConfigDigests = Readonly<Record<ConfigFileName, string | null>>;

/** Both files as read at one moment, with the digests of exactly the bytes that were validated. */
export type ConfigFiles = {
  tools: ReadResult;
  policy: ReadResult;
  digests: ConfigDigests;
};

export class ConfigError extends Error {
  readonly errors: readonly string[];
  constructor(errors: readonly string[]) {
    super(`invalid configuration:\n  ${errors.join("\n  ")}`);
    this.name = "ConfigError";
    this.errors = errors;
  }
}

/** The configuration directory: `dir`, else env CONFIG_DIR, else ./config. */
export function configDir(options: LoadConfigOptions = {}): string {
  return options.dir ?? ((options.env ?? process.env).CONFIG_DIR || "./config");
}

/**
 * Reads tools.yaml and policy.yaml from `dir` (default: env CONFIG_DIR, then ./config). The
 * result carries the files' digests, so a later reload can tell whether their content changed.
 */
export async function loadConfig(
  options: LoadConfigOptions = {},
): Promise<LoadResult & { digests: ConfigDigests }> {
  const env = options.env ?? process.env;
  const files = await readConfigFiles(configDir(options));
  return { ...validateConfigFiles(files, env), digests: files.digests };
}

/** Reads both files (a missing or unreadable file is reported, not thrown). */
export async function readConfigFiles(dir: string): Promise<ConfigFiles> {
  const [tools, policy] = await Promise.all([
    readText(path.join(dir, TOOLS_FILE)),
    readText(path.join(dir, POLICY_FILE)),
  ]);
  const digestOf = (read: ReadResult): string | null => (read.ok ? read.sha256 : null);
  return {
    tools,
    policy,
    digests: { [TOOLS_FILE]: digestOf(tools), [POLICY_FILE]: digestOf(policy) },
  };
}

/** Validates files read by readConfigFiles, reporting every problem of both at once. */
export function validateConfigFiles(files: ConfigFiles, env: Env = process.env): LoadResult {
  const { tools: toolsText, policy: policyText } = files;
  const errors: string[] = [];
  if (!toolsText.ok) errors.push(`${TOOLS_FILE}: ${toolsText.message}`);
  if (!policyText.ok) errors.push(`${POLICY_FILE}: ${policyText.message}`);
  if (!toolsText.ok || !policyText.ok) {
    // Still validate whichever file could be read so every problem is reported at once.
    if (toolsText.ok)
      errors.push(...parseFile(TOOLS_FILE, toolsText.text, env, ToolsConfigSchema).errors);
    if (policyText.ok)
      errors.push(...parseFile(POLICY_FILE, policyText.text, env, PolicyConfigSchema).errors);
    return { ok: false, errors };
  }
  return parseConfigText({ toolsYaml: toolsText.text, policyYaml: policyText.text, env });
}

/** Same as loadConfig but throws a ConfigError listing every problem. */
export async function loadConfigOrThrow(options: LoadConfigOptions = {}): Promise<GatewayConfig> {
  const result = await loadConfig(options);
  if (!result.ok) throw new ConfigError(result.errors);
  return result.config;
}

/** Validates configuration given as YAML text (used by the loader and by tests of other components). */
export function parseConfigText(input: {
  toolsYaml: string;
  policyYaml: string;
  env?: Env;
}): LoadResult {
  const env = input.env ?? process.env;
  const tools = parseFile(TOOLS_FILE, input.toolsYaml, env, ToolsConfigSchema);
  const policy = parseFile(POLICY_FILE, input.policyYaml, env, PolicyConfigSchema);
  const errors = [...tools.errors, ...policy.errors];
  if (tools.value !== undefined && policy.value !== undefined) {
    for (const problem of checkPolicyAgainstTools(tools.value, policy.value)) {
      errors.push(formatError(POLICY_FILE, problem, policy.locate));
    }
  }
  if (errors.length > 0 || tools.value === undefined || policy.value === undefined) {
    return { ok: false, errors };
  }
  return { ok: true, config: deepFreeze({ tools: tools.value, policy: policy.value }) };
}

export type ReadResult =
  { ok: true; text: string; sha256: string } | { ok: false; message: string };

async function readText(file: string): Promise<ReadResult> {
  try {
    const bytes = await readFile(file);
    return { ok: true, text: bytes.toString("utf8"), sha256: sha256Hex(bytes) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { ok: false, message: "file not found" };
    return { ok: false, message: `cannot read file (${code ?? "unknown error"})` };
  }
}

type Locate = (path: readonly (string | number)[]) => number | undefined;

type ParsedFile<T> = { value: T | undefined; errors: string[]; locate: Locate };

function parseFile<S extends z.ZodType>(
  file: string,
  text: string,
  env: Env,
  schema: S,
): ParsedFile<z.output<S>> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const locate: Locate = (keyPath) => {
    for (let n = keyPath.length; n >= 0; n -= 1) {
      const node = keyPath.length === 0 ? doc.contents : doc.getIn(keyPath.slice(0, n), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
      if (n === 0) break;
    }
    return undefined;
  };
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((error) => {
      const pos = lineCounter.linePos(error.pos[0]);
      const message =
        error.code === "DUPLICATE_KEY"
          ? `duplicate key ${JSON.stringify(keyAt(text, error.pos[0]))}`
          : firstLine(error.message);
      return `${file}: line ${pos.line}, column ${pos.col}: ${message}`;
    });
    return { value: undefined, errors, locate };
  }

  const pathErrors: PathError[] = [];
  const interpolated = interpolateTree(doc.toJS({ maxAliasCount: 100 }), env, pathErrors);
  const errors = pathErrors.map((problem) => formatError(file, problem, locate));
  // A value whose interpolation failed is reported once, not again as a schema error.
  const failed = new Set(pathErrors.map((problem) => problem.path.join("\u0000")));
  const parsed = schema.safeParse(interpolated);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      for (const problem of issueToPathErrors(issue)) {
        if (failed.has(problem.path.join("\u0000"))) continue;
        errors.push(formatError(file, problem, locate));
      }
    }
  }
  if (errors.length > 0 || !parsed.success) return { value: undefined, errors, locate };
  return { value: parsed.data, errors, locate };
}

function issueToPathErrors(issue: z.core.$ZodIssue): PathError[] {
  const basePath = issue.path.map((segment) =>
    typeof segment === "symbol" ? String(segment) : segment,
  );
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({ path: [...basePath, key], message: "unknown key" }));
  }
  if (issue.code === "invalid_key") {
    const inner = issue.issues[0];
    return [{ path: basePath, message: inner ? `invalid key: ${inner.message}` : issue.message }];
  }
  return [{ path: basePath, message: issue.message }];
}

function formatError(file: string, problem: PathError, locate: Locate): string {
  const keyPath = problem.path.length > 0 ? formatKeyPath(problem.path) : "(root)";
  const line = locate(problem.path);
  return `${file}: ${keyPath}: ${problem.message}${line === undefined ? "" : ` (line ${line})`}`;
}

/** `roles.auditor.allow[2].when`: list indexes in brackets, as an operator reads the YAML. */
function formatKeyPath(path: readonly (string | number)[]): string {
  return path
    .map((segment, index) => {
      if (typeof segment === "number" || /^\d+$/.test(segment)) return `[${segment}]`;
      return index === 0 ? segment : `.${segment}`;
    })
    .join("");
}

function keyAt(text: string, offset: number): string {
  return /^[^:\n]*/.exec(text.slice(offset))?.[0].trim() ?? "";
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0]?.replace(/ at line \d+, column \d+:?$/, "") ?? text;
}
