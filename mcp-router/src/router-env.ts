import { z } from "zod";

/** The router's environment, parsed once at startup (see main.ts). */
const secret = (name: string) =>
  z.string({ error: `${name} is required` }).min(32, `${name} must be at least 32 characters`);

export const RouterEnvSchema = z
  .object({
    AUTHZ_MODE: z.enum(["envoy", "direct"]).default("envoy"),
    EXT_AUTHZ_ADDRESS: z.string().min(1).default("127.0.0.1:9191"),
    EXT_AUTHZ_TIMEOUT_MS: z.coerce.number().int().positive().default(1000),
    GATEWAY_VERDICT_KEY: secret("GATEWAY_VERDICT_KEY"),
    TOOL_GATEWAY_SHARED_SECRET: secret("TOOL_GATEWAY_SHARED_SECRET"),
    SESSION_SECRET: secret("SESSION_SECRET").optional(),
    PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
    HOST: z.string().min(1).default("127.0.0.1"),
    MAX_REQUEST_BYTES: z.coerce.number().int().positive().default(1_048_576),
    ALLOWED_ORIGINS: z
      .string()
      .default("")
      .transform((value) =>
        value
          .split(",")
          .map((origin) => origin.trim())
          .filter((origin) => origin !== ""),
      ),
    SESSION_TTL_SECONDS: z.coerce.number().int().positive().default(86_400),
    DATABASE_URL: z.string().optional(),
    DATA_DIR: z.string().default("./data"),
    CONFIG_DIR: z.string().optional(),
    LOG_LEVEL: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info"),
  })
  .transform((env) => ({
    ...env,
    DATABASE_URL: env.DATABASE_URL === "" ? undefined : env.DATABASE_URL,
  }));
export type RouterEnv = z.infer<typeof RouterEnvSchema>;
