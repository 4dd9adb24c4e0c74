import { z } from "zod";
import {
  baseEnvShape,
  parseEnv,
  portNumber,
  positiveIntString,
  secretSchema,
  type EnvSource,
} from "../../../config/src/env.ts";
import { IssuerAlgorithmSchema } from "./issuer.ts";

export const IssuerEnvSchema = z.object({
  ...baseEnvShape,
  PORT: portNumber.default(8010),
  HOST: z.string().min(1).default("127.0.0.1"),
  JWT_SECRET_KEY: secretSchema("JWT_SECRET_KEY"),
  JWT_ISSUER: z.url({ error: "JWT_ISSUER must be a URL" }).default("http://localhost:8010"),
  JWT_AUDIENCE: z.string().min(1).default("mcp-gateway"),
  ISSUER_ALGORITHM: IssuerAlgorithmSchema.default("HS256"),
  JWT_ISSUER_ADMIN_TOKEN: secretSchema("JWT_ISSUER_ADMIN_TOKEN", {
    optional: true,
    devDefault: null,
  }),
  MAX_EXPIRES_IN_SECONDS: positiveIntString.default(3600),
});
export type IssuerEnv = z.infer<typeof IssuerEnvSchema>;

export type IssuerEnvResult =
  { ok: true; env: IssuerEnv } | { ok: false; problems: readonly string[] };

/**
 * The issuer mints tokens for anyone who can reach it, so it only exists outside production. An
 * unset NODE_ENV means development here (unlike the gateway services, which default to production).
 */
export function parseIssuerEnv(source: EnvSource): IssuerEnvResult {
  const effective = { ...source, NODE_ENV: source.NODE_ENV || "development" };
  if (effective.NODE_ENV === "production") {
    return {
      ok: false,
      problems: ["NODE_ENV: the development JWT issuer refuses to run with NODE_ENV=production"],
    };
  }
  try {
    return { ok: true, env: parseEnv(IssuerEnvSchema, effective) };
  } catch (error) {
    const problems = (error as { problems?: readonly string[] }).problems;
    return { ok: false, problems: problems ?? ["invalid environment"] };
  }
}
