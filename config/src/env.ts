import { z } from "zod";
import {
  DEVELOPMENT_NODE_ENVS,
  devSecretDefault,
  isDevelopmentNodeEnv,
  secretWeakness,
} from "../../contract/src/secret-strength.ts";

export type EnvSource = Readonly<Record<string, string | undefined>>;

export { DEVELOPMENT_NODE_ENVS, devSecretDefault };

export function isDevelopment(env: EnvSource): boolean {
  return isDevelopmentNodeEnv(env.NODE_ENV);
}

export type SecretOptions = {
  /** Minimum length outside development (default 32). */
  minLength?: number;
  /** Used in development when the variable is unset; default devSecretDefault(name); null = none. */
  devDefault?: string | null;
  /** When true an unset variable is allowed everywhere and parses to undefined. */
  optional?: boolean;
};

type SecretMeta = { name: string; minLength: number; devDefault: string | null; optional: boolean };
const secretMeta = new WeakMap<z.ZodType, SecretMeta>();

function weakness(value: string, meta: SecretMeta): string | undefined {
  return secretWeakness(value, meta.minLength);
}

/**
 * A secret read from the environment. Outside development (NODE_ENV not development/test) a
 * missing or weak value is an error, so a misconfigured service refuses to start. In
 * development, parseEnv substitutes the documented dev default for an unset value and accepts
 * weak ones. Error messages never contain the value.
 */
export function secretSchema(
  name: string,
  options: SecretOptions & { optional: true },
): z.ZodType<string | undefined, string | undefined>;
export function secretSchema(
  name: string,
  options?: SecretOptions,
): z.ZodType<string, string | undefined>;
export function secretSchema(
  name: string,
  options: SecretOptions = {},
): z.ZodType<string | undefined, string | undefined> {
  const meta: SecretMeta = {
    name,
    minLength: options.minLength ?? 32,
    devDefault: options.devDefault === undefined ? devSecretDefault(name) : options.devDefault,
    optional: options.optional ?? false,
  };
  const schema = z
    .string({ error: "required secret is not set" })
    .optional()
    .superRefine((value, ctx) => {
      if (value === undefined || value === "") {
        if (!meta.optional) ctx.addIssue({ code: "custom", message: "required secret is not set" });
        return;
      }
      const problem = weakness(value, meta);
      if (problem) ctx.addIssue({ code: "custom", message: `weak secret: ${problem}` });
    })
    .transform((value) => (value === "" ? undefined : value));
  secretMeta.set(schema, meta);
  return schema;
}

function devSecretSchema(meta: SecretMeta): z.ZodType<string | undefined, string | undefined> {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value !== undefined && value !== "") return value;
      if (meta.devDefault !== null) return meta.devDefault;
      if (!meta.optional) ctx.addIssue({ code: "custom", message: "required secret is not set" });
      return undefined;
    });
}

export const TRUE_STRINGS: readonly string[] = ["true", "1", "yes", "on"];
export const FALSE_STRINGS: readonly string[] = ["false", "0", "no", "off", ""];

/** "true|1|yes|on" → true, "false|0|no|off|" → false (case-insensitive); anything else is an error. */
export const booleanString = z.string().transform((text, ctx) => {
  const lower = text.trim().toLowerCase();
  if (TRUE_STRINGS.includes(lower)) return true;
  if (FALSE_STRINGS.includes(lower)) return false;
  ctx.addIssue({ code: "custom", message: "expected a boolean (true/false, 1/0, yes/no, on/off)" });
  return z.NEVER;
});

/** A TCP port 0–65535 given as a decimal string (0 lets the OS choose, used by tests). */
export const portNumber = z
  .string()
  .regex(/^[0-9]{1,5}$/, "expected a port number 0-65535")
  .transform(Number)
  .pipe(
    z
      .number()
      .int()
      .min(0, "expected a port number 0-65535")
      .max(65535, "expected a port number 0-65535"),
  );

/** A positive integer given as a decimal string. */
export const positiveIntString = z
  .string()
  .regex(/^[0-9]+$/, "expected a positive integer")
  .transform(Number)
  .pipe(z.number().int().positive("expected a positive integer").max(Number.MAX_SAFE_INTEGER));

/** A non-negative integer given as a decimal string. */
export const nonNegativeIntString = z
  .string()
  .regex(/^[0-9]+$/, "expected a non-negative integer")
  .transform(Number)
  .pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER));

/** A comma-separated list; blanks are dropped. */
export const commaList = z.string().transform((text) =>
  text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);

export const LogLevelSchema = z.enum([
  "fatal",
  "error",
  "warn",
  "info",
  "debug",
  "trace",
  "silent",
]);
export type LogLevel = z.infer<typeof LogLevelSchema>;

export const NodeEnvSchema = z.enum(["development", "test", "production"]);

/** Variables every service reads; spread into a service's env schema. */
export const baseEnvShape = {
  NODE_ENV: NodeEnvSchema.default("production"),
  LOG_LEVEL: LogLevelSchema.optional(),
  DEBUG: booleanString.default(false),
};

/** Variables of every service that writes the audit log; spread into its env schema. */
export const auditEnvShape = {
  /** Events held in memory while the database catches up; when full, requests fail closed. */
  AUDIT_QUEUE_MAX: positiveIntString.default(10_000),
  /**
   * How long a request waits for its audit row to be stored (write-ahead) or for room in the
   * queue (best effort) before it is refused with 503.
   */
  AUDIT_WAIT_MS: positiveIntString.default(2_000),
};

/** DEBUG=true means debug logging unless LOG_LEVEL asks for something more verbose (trace). */
export function logLevel(env: {
  LOG_LEVEL?: LogLevel | undefined;
  DEBUG?: boolean | undefined;
}): LogLevel {
  if (env.DEBUG === true && env.LOG_LEVEL !== "trace") return "debug";
  return env.LOG_LEVEL ?? "info";
}

export class EnvError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid environment:\n  ${problems.join("\n  ")}`);
    this.name = "EnvError";
    this.problems = problems;
  }
}

/**
 * Parses the environment once (in a service's main.ts). Returns typed values or throws one
 * EnvError listing every bad variable as `NAME: message`; values are never echoed.
 */
export function parseEnv<S extends z.ZodObject>(
  schema: S,
  env: EnvSource = process.env,
): z.output<S> {
  let effective: z.ZodObject = schema;
  if (isDevelopment({ NODE_ENV: effectiveNodeEnv(schema, env) })) {
    const relaxed: Record<string, z.ZodType> = {};
    for (const [key, field] of Object.entries(schema.shape)) {
      const meta = secretMeta.get(field as z.ZodType);
      if (meta) relaxed[key] = devSecretSchema(meta);
    }
    if (Object.keys(relaxed).length > 0) effective = schema.extend(relaxed);
  }
  // Blank values count as unset so `FOO=` in a .env file falls back to the default.
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== "") input[key] = value;
  }
  const result = effective.safeParse(input);
  if (result.success) return result.data as z.output<S>;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.length > 0 ? issue.path.map(String).join(".") : "(environment)";
    return `${name}: ${safeMessage(issue)}`;
  });
  throw new EnvError([...new Set(problems)]);
}

/** NODE_ENV as given, else the default of the schema's own NODE_ENV field (a dev-only stack may default to development). */
function effectiveNodeEnv(schema: z.ZodObject, env: EnvSource): string | undefined {
  if (env.NODE_ENV) return env.NODE_ENV;
  const field = schema.shape.NODE_ENV as z.ZodType | undefined;
  const parsed = field?.safeParse(undefined);
  return parsed?.success && typeof parsed.data === "string" ? parsed.data : undefined;
}

function safeMessage(issue: z.core.$ZodIssue): string {
  // zod's messages for these codes describe the expectation, never the received value.
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined ? "required variable is not set" : issue.message;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return issue.message;
  }
}
