import { z } from "zod";
import type { Logger } from "pino";
import { isGatewayAuthAudience } from "../../../contract/src/gateway-auth.ts";
import { collectWhenIdle } from "../../../contract/src/idle-collect.ts";
import { setupTracing } from "../../../contract/src/tracing.ts";
import {
  devSecretDefault,
  isDevelopmentNodeEnv,
  secretWeakness,
} from "../../../contract/src/secret-strength.ts";
import type { ToolServer, ToolServerAuth } from "./tool-server.ts";
import {
  DEFAULT_WORKER_IDLE_TIMEOUT_MS,
  DEFAULT_WORKER_MAX_QUEUE,
  defaultWorkerThreads,
  type WorkerPoolSettings,
} from "./worker-pool.ts";

const MAX_BODY_CEILING = 64 * 1024 * 1024;

function integerFromEnv(name: string, min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, `${name} must be at least ${min}`)
        .max(max, `${name} must be at most ${max}`),
    );
}

const BooleanFlagSchema = z
  .enum(["true", "false", "1", "0"], { error: "must be true, false, 1 or 0" })
  .transform((value) => value === "true" || value === "1");

/** The environment every tool server reads, parsed once in its main.ts. */
export function toolServerEnvSchema(defaultPort: number) {
  return z.object({
    NODE_ENV: z.enum(["development", "test", "production"]).default("production"),
    PORT: integerFromEnv("PORT", 0, 65_535).default(defaultPort),
    HOST: z.string().min(1, "HOST must not be empty").default("127.0.0.1"),
    // 32 characters keeps an HMAC key out of brute-force reach; fail closed when absent.
    TOOL_GATEWAY_SHARED_SECRET: z
      .string({ error: "TOOL_GATEWAY_SHARED_SECRET is required" })
      .min(32, "TOOL_GATEWAY_SHARED_SECRET must be at least 32 characters"),
    TOOL_GATEWAY_ACCEPT_STATIC_SECRET: BooleanFlagSchema.default(false),
    // Unset or blank: the server's own name. Set it when tools.yaml serves this server under
    // another scope name, since the router signs for the scope.
    TOOL_GATEWAY_AUDIENCE: z
      .string()
      .optional()
      .transform((value) => (value === "" ? undefined : value))
      .refine(
        (value) => value === undefined || isGatewayAuthAudience(value),
        "TOOL_GATEWAY_AUDIENCE must be the scope name: 1-64 characters of A-Z a-z 0-9 _ -",
      ),
    MAX_REQUEST_BYTES: integerFromEnv("MAX_REQUEST_BYTES", 1, MAX_BODY_CEILING).default(1_048_576),
    LOG_LEVEL: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info"),
  });
}

export type ToolServerEnv = z.infer<ReturnType<typeof toolServerEnvSchema>>;

export function parseToolServerEnv(
  env: Record<string, string | undefined>,
  defaultPort: number,
): { ok: true; env: ToolServerEnv } | { ok: false; message: string } {
  const development = isDevelopmentNodeEnv(env.NODE_ENV);
  const input =
    development && !env.TOOL_GATEWAY_SHARED_SECRET
      ? { ...env, TOOL_GATEWAY_SHARED_SECRET: devSecretDefault("TOOL_GATEWAY_SHARED_SECRET") }
      : env;
  const result = toolServerEnvSchema(defaultPort).safeParse(input);
  if (!result.success) {
    const message = result.error.issues
      .map((issue) => `${issue.path.map(String).join(".") || "env"}: ${issue.message}`)
      .join("; ");
    return { ok: false, message };
  }
  const weakness = development ? undefined : secretWeakness(result.data.TOOL_GATEWAY_SHARED_SECRET);
  if (weakness !== undefined) {
    return { ok: false, message: `TOOL_GATEWAY_SHARED_SECRET: weak secret: ${weakness}` };
  }
  return { ok: true, env: result.data };
}

/**
 * What a tool server's worker pool reads: `<PREFIX>_WORKER_THREADS`, `_BUDGET_MS`, `_MAX_QUEUE`,
 * `_IDLE_TIMEOUT_MS`.
 */
export interface WorkerPoolEnv {
  /** DOCS, CALCULATOR: one prefix per tool server, so one process can host several. */
  prefix: string;
  defaultBudgetMs: number;
}

const MAX_WORKER_THREADS = 64;
const MAX_WORKER_BUDGET_MS = 3_600_000;
const MAX_WORKER_QUEUE = 100_000;
const MAX_WORKER_IDLE_TIMEOUT_MS = 86_400_000;

export function parseWorkerPoolEnv(
  env: Record<string, string | undefined>,
  pool: WorkerPoolEnv,
): { ok: true; settings: WorkerPoolSettings } | { ok: false; problems: string[] } {
  const names = {
    threads: `${pool.prefix}_WORKER_THREADS`,
    budgetMs: `${pool.prefix}_WORKER_BUDGET_MS`,
    maxQueue: `${pool.prefix}_WORKER_MAX_QUEUE`,
    idleTimeoutMs: `${pool.prefix}_WORKER_IDLE_TIMEOUT_MS`,
  };
  const schema = z.object({
    threads: integerFromEnv(names.threads, 1, MAX_WORKER_THREADS).default(defaultWorkerThreads()),
    budgetMs: integerFromEnv(names.budgetMs, 100, MAX_WORKER_BUDGET_MS).default(
      pool.defaultBudgetMs,
    ),
    maxQueue: integerFromEnv(names.maxQueue, 0, MAX_WORKER_QUEUE).default(DEFAULT_WORKER_MAX_QUEUE),
    // 0: a thread exits as soon as it has nothing to do (each call then pays a thread start).
    idleTimeoutMs: integerFromEnv(names.idleTimeoutMs, 0, MAX_WORKER_IDLE_TIMEOUT_MS).default(
      DEFAULT_WORKER_IDLE_TIMEOUT_MS,
    ),
  });
  // Blank counts as unset, as in the gateway services' environment parsing.
  const value = (name: string): string | undefined => (env[name] ? env[name] : undefined);
  const result = schema.safeParse({
    threads: value(names.threads),
    budgetMs: value(names.budgetMs),
    maxQueue: value(names.maxQueue),
    idleTimeoutMs: value(names.idleTimeoutMs),
  });
  if (result.success) return { ok: true, settings: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => {
      const key = issue.path[0] as keyof typeof names | undefined;
      return `${key === undefined ? "env" : names[key]}: ${issue.message}`;
    }),
  };
}

export function authFromEnv(env: ToolServerEnv): ToolServerAuth {
  return {
    secret: env.TOOL_GATEWAY_SHARED_SECRET,
    ...(env.TOOL_GATEWAY_ACCEPT_STATIC_SECRET
      ? { staticSecret: env.TOOL_GATEWAY_SHARED_SECRET }
      : {}),
    ...(env.TOOL_GATEWAY_AUDIENCE === undefined ? {} : { audience: env.TOOL_GATEWAY_AUDIENCE }),
  };
}

/** Listens, then closes gracefully on the first SIGINT/SIGTERM; a second signal exits at once. */
export async function serveUntilSignal(
  server: ToolServer,
  options: { port: number; host: string; logger: Logger; serviceName?: string },
): Promise<void> {
  // Off unless OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set (service name: OTEL_SERVICE_NAME).
  const tracing = await setupTracing({
    defaultServiceName: options.serviceName ?? "mcp-tool-server",
  });
  collectWhenIdle();
  const { url } = await server.listen(options.port, options.host);
  options.logger.info({ url }, "tool server listening");
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    options.logger.info({ signal }, "shutting down");
    server
      .close()
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          options.logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
