/**
 * `npm run policy -- explain | matrix | test`: check policy.yaml before shipping it
 * (docs/policy.md). Parses the command line, loads the configuration, prints; the logic lives in
 * policy/explain.ts, policy/policy-matrix.ts and policy/policy-table.ts. Exit codes: 0 done (an
 * explanation, allowed or denied; a matrix; every table case passed), 1 a table case failed,
 * 2 usage or configuration error (the reason on stderr).
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { configDir, loadConfig, type GatewayConfig } from "../../../config/src/load-config.ts";
import {
  explainCall,
  explanationJson,
  formatExplanation,
  parseJsonObject,
  rolesOfClaim,
  type ExplainRequest,
} from "./explain.ts";
import { formatMatrixCsv, formatMatrixText, matrixJson, policyMatrix } from "./policy-matrix.ts";
import { formatTableResults, parseTable, runTable } from "./policy-table.ts";

const USAGE = `usage: npm run policy -- <command> [--config-dir DIR]
  explain --roles ROLE[,ROLE] [--claims JSON] [--headers JSON] --tool [SCOPE.]TOOL [--args JSON] [--format text|json]
  matrix [--format text|json|csv]
  test FILE.yaml`;

const OPTIONS = {
  "config-dir": { type: "string" },
  format: { type: "string" },
  roles: { type: "string" },
  claims: { type: "string" },
  headers: { type: "string" },
  tool: { type: "string" },
  args: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = Partial<Record<OptionName, string | boolean>>;
type CommandName = "explain" | "matrix" | "test";

/** The options each command takes besides --config-dir, its formats and its positionals. */
const COMMANDS: Record<
  CommandName,
  { options: readonly OptionName[]; formats: readonly string[]; positionals: number }
> = {
  explain: {
    options: ["roles", "claims", "headers", "tool", "args", "format"],
    formats: ["text", "json"],
    positionals: 0,
  },
  matrix: { options: ["format"], formats: ["text", "json", "csv"], positionals: 0 },
  test: { options: [], formats: [], positionals: 1 },
};

/** A mistake of the operator: its message goes to stderr, with the usage when `showUsage`. */
class UsageError extends Error {
  readonly showUsage: boolean;
  constructor(message: string, showUsage = false) {
    super(message);
    this.showUsage = showUsage;
  }
}

function print(lines: readonly string[]): void {
  for (const line of lines) console.log(line);
}

// Piped into `head` or `grep -q`: a closed stdout ends the output, not the process with a trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

type Invocation = { command: CommandName; values: Values; file: string | undefined };

function parseCommandLine(argv: readonly string[]): Invocation | "help" {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message, true);
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (values.help === true && name === undefined) return "help";
  if (name === undefined) throw new UsageError("no command", true);
  if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`unknown command ${name}`, true);
  const command = name as CommandName;
  const spec = COMMANDS[command];
  for (const option of Object.keys(values) as OptionName[]) {
    if (option !== "config-dir" && !spec.options.includes(option)) {
      throw new UsageError(`${command} does not take --${option}`, true);
    }
  }
  if (rest.length !== spec.positionals) {
    throw new UsageError(
      spec.positionals === 0 ? `${command} takes no argument` : `${command} needs one file`,
      true,
    );
  }
  if (typeof values.format === "string" && !spec.formats.includes(values.format)) {
    throw new UsageError(`--format: expected one of ${spec.formats.join(", ")}`);
  }
  return { command, values, file: rest[0] };
}

function jsonOption(values: Values, option: "claims" | "headers" | "args") {
  const text = values[option];
  if (typeof text !== "string") return undefined;
  const parsed = parseJsonObject(`--${option}`, text);
  if (!parsed.ok) throw new UsageError(parsed.error);
  return parsed.value;
}

function explainRequest(values: Values): ExplainRequest {
  if (typeof values.tool !== "string" || values.tool === "") {
    throw new UsageError("explain needs --tool [SCOPE.]TOOL", true);
  }
  const request: ExplainRequest = { tool: values.tool };
  if (typeof values.roles === "string") request.roles = rolesOfClaim(values.roles) ?? [];
  const claims = jsonOption(values, "claims");
  if (claims !== undefined) request.claims = claims;
  const args = jsonOption(values, "args");
  if (args !== undefined) request.arguments = args;
  const headers = jsonOption(values, "headers");
  if (headers !== undefined) {
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== "string") throw new UsageError(`--headers: ${name}: expected a string`);
    }
    request.headers = headers as Record<string, string>;
  }
  return request;
}

async function load(values: Values): Promise<GatewayConfig> {
  const given = values["config-dir"];
  const dir = configDir(typeof given === "string" ? { dir: given } : {});
  const result = await loadConfig({ dir });
  if (!result.ok) {
    throw new UsageError(`invalid configuration in ${dir}:\n  ${result.errors.join("\n  ")}`);
  }
  return result.config;
}

async function readTable(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "file not found" : `cannot read file (${code ?? "error"})`;
    throw new UsageError(`${file}: ${reason}`);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const invocation = parseCommandLine(argv);
  if (invocation === "help") {
    console.log(USAGE);
    return 0;
  }
  const { command, values, file } = invocation;
  const format = typeof values.format === "string" ? values.format : "text";
  switch (command) {
    case "explain": {
      const request = explainRequest(values);
      const result = explainCall(await load(values), request);
      if (!result.ok) throw new UsageError(result.error);
      if (format === "json") console.log(JSON.stringify(explanationJson(result.explanation)));
      else print(formatExplanation(result.explanation));
      return 0;
    }
    case "matrix": {
      const matrix = policyMatrix(await load(values));
      if (format === "json") console.log(JSON.stringify(matrixJson(matrix)));
      else print(format === "csv" ? formatMatrixCsv(matrix) : formatMatrixText(matrix));
      return 0;
    }
    case "test": {
      const path = file!;
      const text = await readTable(path);
      const config = await load(values);
      const table = parseTable(path, text, config);
      if (!table.ok) throw new UsageError(table.errors.join("\n"));
      const results = runTable(config, table.cases);
      print(formatTableResults(results));
      return results.every((result) => result.pass) ? 0 : 1;
    }
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(error.message);
  if (error.showUsage) console.error(USAGE);
  process.exitCode = 2;
}
