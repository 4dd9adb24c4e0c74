/**
 * The environment each container gets, fed to the service's own parser: a manifest that sets a
 * variable the service does not read (a typo), or a value it refuses, fails here instead of in a
 * crash-looping pod. Secrets of the production overlays are strong stand-ins; the dev overlay
 * uses its rendered development secrets.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { tracingEnabled } from "../../contract/src/tracing.ts";
import { ExtAuthzEnvSchema, parseExtAuthzEnv } from "../../ext-authz/src/settings.ts";
import { parseRouterEnv, RouterEnvSchema } from "../../mcp-router/src/router-env.ts";
import {
  parseToolServerEnv,
  parseWorkerPoolEnv,
  toolServerEnvSchema,
} from "../../tools/kit/src/tool-server-env.ts";
import { GitToolEnvSchema, parseGitToolEnv } from "../../tools/git/src/git-env.ts";
import { parseAuditArgs } from "../../store/src/audit-cli.ts";
import type { KubeObject } from "./kustomize-render.ts";
import {
  get,
  mainContainers,
  OVERLAYS,
  render,
  renderedSecretValue,
  resolveEnv,
  type Overlay,
} from "./overlays.ts";

const STAND_INS: Record<string, string> = {
  DATABASE_URL: "postgres://mcp_gateway:password@db.internal:5432/mcp_gateway",
  REDIS_URL: "rediss://:password@redis.internal:6380",
};
const strong = randomBytes(32).toString("hex");

function secretsFor(overlay: Overlay, objects: KubeObject[]) {
  return (name: string, key: string): string | undefined =>
    overlay === "dev" ? renderedSecretValue(objects, name, key) : (STAND_INS[key] ?? strong);
}

/** `${VAR}` / `${VAR:-default}` of the configuration files: variables read through them. */
const interpolated = new Set(
  ["tools.yaml", "policy.yaml"].flatMap((file) =>
    [
      ...readFileSync(new URL(`../../config/${file}`, import.meta.url), "utf8").matchAll(
        /\$\{([A-Z_][A-Z0-9_]*)/g,
      ),
    ].map((match) => match[1]!),
  ),
);
/**
 * Read outside the services' env schemas, by a shared module: CONFIG_DIR by the config loader,
 * the OTEL_* variables by contract/src/tracing.ts and the OpenTelemetry SDK.
 */
const SHARED = new Set(["CONFIG_DIR", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"]);

const KIND_OF: Record<string, string> = {
  "mcp-gateway-migrate": "Job",
  "mcp-gateway-audit-prune": "CronJob",
};

function envOf(objects: KubeObject[], overlay: Overlay, name: string): Record<string, string> {
  const workload = get(objects, KIND_OF[name] ?? "Deployment", name);
  return resolveEnv(objects, mainContainers(workload)[0]!, secretsFor(overlay, objects));
}

function unknownNames(env: Record<string, string>, known: Iterable<string>): string[] {
  const names = new Set([...known, ...interpolated, ...SHARED]);
  return Object.keys(env).filter((name) => !names.has(name));
}

describe.each(OVERLAYS)("overlay %s: each service accepts its environment", (overlay) => {
  const objects = render(overlay);
  // The production overlays leave optional JWT keys to the operator; without them the JWKS URL
  // of settings.env is the one key source.
  const optionalAbsent = (env: Record<string, string>) => {
    if (overlay !== "dev") {
      delete env.JWT_PUBLIC_KEY;
      delete env.JWT_SECRET_KEY;
    }
    return env;
  };

  it("ext-authz", () => {
    const env = optionalAbsent(envOf(objects, overlay, "ext-authz"));
    expect(unknownNames(env, Object.keys(ExtAuthzEnvSchema.shape))).toEqual([]);
    const parsed = parseExtAuthzEnv(env);
    expect(parsed.NODE_ENV).toBe(overlay === "dev" ? "development" : "production");
    expect(parsed.REDIS_URL).toBeDefined();
  });

  it("mcp-router", () => {
    const env = envOf(objects, overlay, "mcp-router");
    expect(unknownNames(env, Object.keys(RouterEnvSchema.shape))).toEqual([]);
    const parsed = parseRouterEnv(env);
    expect(parsed.AUTHZ_MODE).toBe("envoy");
    expect(parsed.PORT).toBe(8080);
    expect(parsed.HOST).toBe("0.0.0.0");
  });

  it.each([
    ["calculator", 8091, "CALCULATOR"],
    ["docs", 8093, "DOCS"],
  ] as const)("%s", (name, port, pool) => {
    const env = envOf(objects, overlay, name);
    const workerNames = ["THREADS", "BUDGET_MS", "MAX_QUEUE", "IDLE_TIMEOUT_MS"].map(
      (suffix) => `${pool}_WORKER_${suffix}`,
    );
    expect(
      unknownNames(env, [...Object.keys(toolServerEnvSchema(port).shape), ...workerNames]),
    ).toEqual([]);
    const parsed = parseToolServerEnv(env, port);
    expect(parsed.ok ? parsed.env.PORT : parsed.message).toBe(port);
    const workers = parseWorkerPoolEnv(env, { prefix: pool, defaultBudgetMs: 1000 });
    expect(workers.ok ? "ok" : workers.problems).toBe("ok");
  });

  it("git", () => {
    const env = envOf(objects, overlay, "git");
    expect(unknownNames(env, Object.keys(GitToolEnvSchema.shape))).toEqual([]);
    const parsed = parseGitToolEnv(env);
    expect(parsed.ok ? parsed.env.PORT : parsed.message).toBe(8092);
    // The kit's parser holds the secret-strength rule.
    const secret = parseToolServerEnv(env, 8092);
    expect(secret.ok ? "ok" : secret.message).toBe("ok");
  });

  it("the migration Job", () => {
    const env = envOf(objects, overlay, "mcp-gateway-migrate");
    expect(Object.keys(env).sort()).toEqual(["DATABASE_URL", "LOG_LEVEL", "NODE_ENV"]);
    expect(new URL(env.DATABASE_URL!).protocol).toBe("postgres:");
  });

  it("the audit retention CronJob", () => {
    const env = envOf(objects, overlay, "mcp-gateway-audit-prune");
    expect(Object.keys(env).sort()).toEqual(["AUDIT_RETENTION_DAYS", "DATABASE_URL", "NODE_ENV"]);
    expect(new URL(env.DATABASE_URL!).protocol).toBe("postgres:");
    // The container's arguments after the script, with its environment, as the CLI parses them.
    const workload = get(objects, "CronJob", "mcp-gateway-audit-prune");
    const args = (mainContainers(workload)[0]!.command as string[]).slice(2);
    const now = Date.UTC(2027, 0, 15);
    const command = parseAuditArgs(args, env, now);
    expect("error" in command ? command.error : command.kind).toBe("prune");
    if ("error" in command || command.kind !== "prune") return;
    expect(command.dryRun).toBe(false);
    // Audit logs are commonly kept a year or more; dev keeps a month.
    expect(command.retentionDays).toBe(overlay === "dev" ? 30 : 400);
    expect(command.before.getTime()).toBe(now - command.retentionDays * 86_400_000);
  });

  it.each(["ext-authz", "mcp-router", "calculator", "git", "docs"])(
    "%s: tracing off by default, on with a collector, under its own service name",
    (name) => {
      const env = envOf(objects, overlay, name);
      expect(env.OTEL_SERVICE_NAME).toBe(name);
      // settings.env leaves the endpoint empty: an empty value must mean off.
      expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe("");
      expect(tracingEnabled(env)).toBe(false);
      expect(
        tracingEnabled({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel-collector:4318" }),
      ).toBe(true);
    },
  );
});
