/* eslint-disable @typescript-eslint/no-explicit-any --
   These tests walk untyped YAML documents (Envoy, Compose, Istio); the assertions are the checks. */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const MAX_REQUEST_BYTES = "1048576";
const dockerDir = fileURLToPath(new URL("..", import.meta.url));
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

function load(name: string): any {
  return parse(readFileSync(new URL(`../${name}`, import.meta.url), "utf8"), { merge: true });
}
const base = load("docker-compose.yml");
const dev = load("docker-compose.dev.yml");
const authTest = load("docker-compose.auth-test.yml");
const files: Array<[string, any]> = [
  ["docker-compose.yml", base],
  ["docker-compose.dev.yml", dev],
  ["docker-compose.auth-test.yml", authTest],
];

function services(file: any): Array<[string, any]> {
  return Object.entries(file.services ?? {});
}
function environmentOf(service: any): Array<[string, string]> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return env.map((entry: string) => {
      const index = entry.indexOf("=");
      return [entry.slice(0, index), entry.slice(index + 1)] as [string, string];
    });
  }
  return Object.entries(env).map(([key, value]) => [key, String(value)]);
}

const SECRET_NAME = /SECRET|PASSWORD|TOKEN|_KEY$|_AUTH$/;
/** `${NAME}`, `${NAME:?message}` or `${NAME:-}`: a reference with no value of its own. */
const PURE_REFERENCE = /^\$\{[A-Z][A-Z0-9_]*(?::\?[^}]*|:-)?\}$/;
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^:@/]*:([^@]*)@/i;

describe("compose files", () => {
  it("publish only Envoy's port in the base file", () => {
    const publishing = services(base)
      .filter(([, service]) => service.ports !== undefined)
      .map(([name]) => name);
    expect(publishing).toEqual(["envoy"]);
    expect(base.services.envoy.ports).toHaveLength(1);
    expect(String(base.services.envoy.ports[0])).toMatch(/:8000$/);
  });

  it("publish nothing in the dev overrides and only the issuer on loopback in auth-test", () => {
    expect(services(dev).filter(([, service]) => service.ports !== undefined)).toEqual([]);
    const publishing = services(authTest).filter(([, service]) => service.ports !== undefined);
    expect(publishing.map(([name]) => name)).toEqual(["jwt_issuer"]);
    expect(authTest.services.jwt_issuer.ports).toEqual(["127.0.0.1:8010:8010"]);
  });

  it("keep every service but Envoy and ext-authz (and the test issuer) on the internal network only", () => {
    expect(base.networks.internal.internal).toBe(true);
    for (const [name, service] of services(base)) {
      if (name === "envoy") expect(service.networks).toEqual(["edge", "internal"]);
      else if (name === "ext_authz") expect(service.networks).toEqual(["internal", "egress"]);
      else expect(service.networks).toEqual(["internal"]);
    }
  });

  it("give ext-authz alone an outbound network, for an external JWT_JWKS_URL", () => {
    // An internal network has no route out: a JWKS at the identity provider would be unreachable.
    const egress = base.networks.egress;
    expect(egress.internal).toBeUndefined();
    expect(egress.driver).toBe("bridge");
    // Nothing else may join it, and containers on it cannot reach each other through it.
    expect(egress.driver_opts["com.docker.network.bridge.enable_icc"]).toBe("false");
    for (const [file, parsed] of files) {
      for (const [name, service] of services(parsed)) {
        if (!(service.networks ?? []).includes("egress")) continue;
        expect(`${file} ${name}`).toBe("docker-compose.yml ext_authz");
      }
    }
    // ext-authz publishes nothing: the outbound network is not a way in.
    expect(base.services.ext_authz.ports).toBeUndefined();
    expect(base.services.ext_authz.expose).toBeUndefined();
  });

  it("give every long-running service a healthcheck", () => {
    const all = [
      ...services(base),
      ...services(authTest).filter(([name]) => !(name in base.services)),
    ];
    for (const [name, service] of all) {
      if (service.restart === "no") continue;
      expect(service.healthcheck?.test, `${name} has no healthcheck`).toBeDefined();
      expect(service.healthcheck?.disable, `${name} disables its healthcheck`).not.toBe(true);
    }
  });

  it("run migrations as a one-shot service the router and ext-authz wait for", () => {
    expect(base.services.migrate.restart).toBe("no");
    expect(base.services.migrate.command).toEqual(["node", "dist/store/src/migrate-cli.js", "up"]);
    for (const name of ["mcp_router", "ext_authz"]) {
      expect(base.services[name].depends_on.migrate.condition).toBe(
        "service_completed_successfully",
      );
    }
  });

  it("run every Node service with plain node on a build output the image holds", () => {
    const dockerfile = readFileSync(new URL("../Dockerfile", import.meta.url), "utf8");
    const copied = [
      ...dockerfile.matchAll(/^COPY --from=build \S+ \/app\/(dist\/\S+) \.\/\1$/gm),
    ].map((match) => `${match[1]}/`);
    let nodeServices = 0;
    for (const [file, parsed] of files) {
      for (const [name, service] of services(parsed)) {
        if (service.command?.[0] !== "node") continue;
        nodeServices += 1;
        const where = `${file} ${name}`;
        const entry = String(service.command[1]);
        expect(service.command, where).not.toContain("--import");
        expect(entry, where).toMatch(/^dist\/.+\.js$/);
        const source = entry.replace(/^dist\//, "").replace(/\.js$/, ".ts");
        expect(existsSync(`${repoRoot}${source}`), `${where}: no ${source}`).toBe(true);
        expect(
          copied.some((dir) => entry.startsWith(dir)),
          `${where}: ${entry} is not copied into the image`,
        ).toBe(true);
      }
    }
    expect(nodeServices).toBe(7);
  });

  it("pin every image to a version tag", () => {
    for (const [file, parsed] of files) {
      for (const [name, service] of services(parsed)) {
        if (service.image === undefined) continue;
        const image = String(service.image);
        const match = /^([^:@\s]+):(\S+)$/.exec(image);
        expect(match, `${file} ${name}: ${image} has no tag`).not.toBeNull();
        const tag = match![2]!.replace(/^\$\{[A-Z_]+:-([^}]+)\}$/, "$1");
        expect(tag, `${file} ${name}: ${image}`).not.toBe("latest");
        expect(tag, `${file} ${name}: ${image}`).toMatch(/\d/);
      }
    }
  });

  it("bake no secret values into the compose files", () => {
    for (const [file, parsed] of files) {
      for (const [name, service] of services(parsed)) {
        for (const [key, value] of environmentOf(service)) {
          const where = `${file} ${name}.${key}`;
          // An empty value switches a key source off; it is not a secret.
          if (SECRET_NAME.test(key) && value !== "") expect(value, where).toMatch(PURE_REFERENCE);
          const password = URL_PASSWORD.exec(value)?.[1];
          if (password !== undefined) expect(password, where).toMatch(PURE_REFERENCE);
        }
      }
    }
  });

  it("mount config read-only and pass the same payload limit as Envoy", () => {
    for (const name of ["ext_authz", "mcp_router"]) {
      const service = base.services[name];
      // A directory: a file replaced by rename is seen by the reload watch, unlike a file mount.
      expect(service.volumes).toEqual(expect.arrayContaining(["../config:/etc/mcp-gateway:ro"]));
    }
    for (const [name, service] of services(base)) {
      const limit = environmentOf(service).find(([key]) => key === "MAX_REQUEST_BYTES");
      if (limit) expect(limit[1], name).toBe(MAX_REQUEST_BYTES);
    }
    const envoy = parse(readFileSync(new URL("../../envoy/envoy.yaml", import.meta.url), "utf8"));
    expect(JSON.stringify(envoy)).toContain(`"max_request_bytes":${MAX_REQUEST_BYTES}`);
  });

  it("give each credential only to the services that use it", () => {
    const names = (service: string) => environmentOf(base.services[service]).map(([key]) => key);
    expect(names("ext_authz")).toEqual(
      expect.arrayContaining(["REDIS_URL", "GATEWAY_VERDICT_KEY"]),
    );
    expect(names("ext_authz")).not.toContain("TOOL_GATEWAY_SHARED_SECRET");
    expect(names("mcp_router")).toEqual(
      expect.arrayContaining([
        "GATEWAY_VERDICT_KEY",
        "TOOL_GATEWAY_SHARED_SECRET",
        "SESSION_SECRET",
      ]),
    );
    expect(names("mcp_router")).not.toContain("REDIS_URL");
    for (const tool of ["calculator", "git", "document_generator"]) {
      expect(names(tool)).toContain("TOOL_GATEWAY_SHARED_SECRET");
      expect(names(tool)).not.toContain("GATEWAY_VERDICT_KEY");
      expect(names(tool)).not.toContain("DATABASE_URL");
    }
  });

  it("pass every JWT key source to ext-authz, and none of them elsewhere", () => {
    const env = Object.fromEntries(environmentOf(base.services.ext_authz));
    expect(env.JWT_PUBLIC_KEY).toBe("${JWT_PUBLIC_KEY:-}");
    expect(env.JWT_JWKS_URL).toBe("${JWT_JWKS_URL:-}");
    expect(env.JWT_SECRET_KEY).toBe("${JWT_SECRET_KEY:-}");
    for (const [name, service] of services(base)) {
      if (name === "ext_authz") continue;
      const keys = environmentOf(service).map(([key]) => key);
      for (const source of ["JWT_PUBLIC_KEY", "JWT_JWKS_URL", "JWT_SECRET_KEY"]) {
        expect(keys, name).not.toContain(source);
      }
    }
    // The auth-test issuer's JWKS must be the only source there: the other two are blanked.
    const authTestEnv = Object.fromEntries(environmentOf(authTest.services.ext_authz));
    expect(authTestEnv.JWT_PUBLIC_KEY).toBe("");
    expect(authTestEnv.JWT_SECRET_KEY).toBe("");
    expect(authTestEnv.JWT_JWKS_URL).toMatch(/^http:\/\/jwt_issuer:/);
  });

  it("pass the OpenTelemetry variables through to every traced service, off by default", () => {
    const traced = ["ext_authz", "mcp_router", "calculator", "git", "document_generator"];
    const otelKeys = (name: string) =>
      environmentOf(base.services[name])
        .filter(([key]) => key.startsWith("OTEL_") && key !== "OTEL_SERVICE_NAME")
        .map(([key]) => key)
        .sort();
    const expected = otelKeys("ext_authz");
    // The variables contract/src/tracing.ts and the SDK read (docs/deployment.md, Tracing).
    expect(expected).toEqual(
      expect.arrayContaining([
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_EXPORTER",
        "OTEL_SDK_DISABLED",
      ]),
    );
    for (const name of traced) {
      expect(otelKeys(name), name).toEqual(expected);
      for (const [key, value] of environmentOf(base.services[name])) {
        // A pure reference with an empty default: unset on the host means unset in the service.
        if (key.startsWith("OTEL_") && key !== "OTEL_SERVICE_NAME") {
          expect(value, `${name}.${key}`).toBe(`\${${key}:-}`);
        }
      }
    }
    for (const [name] of services(base)) {
      if (traced.includes(name)) continue;
      expect(otelKeys(name), name).toEqual([]);
    }
  });

  it("name each traced service as its code does, never one shared OTEL_SERVICE_NAME", () => {
    const names: string[] = [];
    for (const name of ["ext_authz", "mcp_router", "calculator", "git", "document_generator"]) {
      const service = base.services[name];
      const value = environmentOf(service).find(([key]) => key === "OTEL_SERVICE_NAME")?.[1];
      const source = readFileSync(
        `${repoRoot}${String(service.command[1])
          .replace(/^dist\//, "")
          .replace(/\.js$/, ".ts")}`,
        "utf8",
      );
      const inCode = /(?:defaultServiceName|serviceName): "([^"]+)"/.exec(source)?.[1];
      expect(inCode, `${name}: no service name in its main`).toBeDefined();
      expect(value, name).toBe(inCode);
      names.push(value!);
    }
    expect(new Set(names).size).toBe(names.length);
  });

  it("run the router behind Envoy in envoy mode", () => {
    expect(environmentOf(base.services.mcp_router)).toEqual(
      expect.arrayContaining([["AUTHZ_MODE", "envoy"]]),
    );
  });

  it("hand no whole env file to a container (each gets only the variables it lists)", () => {
    for (const [, parsed] of files) {
      for (const [name, service] of services(parsed))
        expect(service.env_file, name).toBeUndefined();
    }
  });

  it("switch the dev overrides to development mode", () => {
    for (const name of [
      "ext_authz",
      "mcp_router",
      "calculator",
      "git",
      "document_generator",
      "migrate",
    ]) {
      expect(environmentOf(dev.services[name]), name).toEqual(
        expect.arrayContaining([["NODE_ENV", "development"]]),
      );
    }
  });
});

describe(".env.development", () => {
  const entries = readFileSync(new URL("../../.env.development", import.meta.url), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => {
      const index = line.indexOf("=");
      return [line.slice(0, index), line.slice(index + 1)] as [string, string];
    });

  it("defines every secret the compose files require", () => {
    const required = new Set<string>();
    for (const [, parsed] of files) {
      const text = JSON.stringify(parsed);
      for (const match of text.matchAll(/\$\{([A-Z][A-Z0-9_]*):\?/g)) required.add(match[1]!);
    }
    const defined = new Set(entries.map(([key]) => key));
    for (const name of required) expect(defined.has(name), name).toBe(true);
  });

  it("marks every secret as a development value the services refuse in production", () => {
    for (const [key, value] of entries) {
      if (SECRET_NAME.test(key)) expect(value, key).toMatch(/^dev-insecure-[a-z0-9-]+$/);
    }
  });
});

describe("Dockerfile", () => {
  const text = readFileSync(new URL("../Dockerfile", import.meta.url), "utf8");
  const lines = text.split("\n").map((line) => line.trim());

  it("builds on a pinned Node 24 slim image in several stages", () => {
    expect(text).toMatch(/^ARG NODE_IMAGE=node:24\.\d+\.\d+-[a-z]+-slim$/m);
    expect(lines.filter((line) => line.startsWith("FROM ")).length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/npm ci --omit=dev/);
  });

  it("runs as a non-root user with a healthcheck", () => {
    const users = lines.filter((line) => line.startsWith("USER "));
    expect(users.at(-1)).toBe("USER node");
    expect(text).toMatch(/^HEALTHCHECK /m);
  });

  it("compiles in a build stage and runs only the build output, with no TypeScript loader", () => {
    const stages = text.split(/^FROM /m).slice(1);
    const build = stages.find((stage) => / AS build$/m.test(stage.split("\n")[0]!));
    expect(build, "no build stage").toBeDefined();
    expect(build).toMatch(/^RUN npm run build$/m);
    // Every directory the build compiles must be in the build stage.
    const tsconfig = JSON.parse(readFileSync(`${repoRoot}tsconfig.build.json`, "utf8")) as {
      include: string[];
    };
    for (const dir of new Set(tsconfig.include.map((include) => include.split("/")[0]!))) {
      expect(build, `build stage lacks ${dir}`).toMatch(
        new RegExp(`^COPY ${dir} \\./${dir}$`, "m"),
      );
    }
    const cmds = lines.filter((line) => line.startsWith("CMD "));
    expect(cmds.length).toBeGreaterThanOrEqual(2);
    for (const cmd of cmds)
      expect(cmd).toMatch(/^CMD \["node", "(dist\/\S+\.js|docker\/\S+\.mjs)"/);
    expect(text).not.toMatch(/tsx/);
    const manifest = JSON.parse(readFileSync(`${repoRoot}package.json`, "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies)).not.toContain("tsx");
    expect(Object.keys(manifest.dependencies)).not.toContain("typescript");
  });

  it("declares no secret in ENV or ARG", () => {
    for (const line of lines.filter((l) => /^(ENV|ARG) /.test(l))) {
      expect(line).not.toMatch(/SECRET|PASSWORD|TOKEN|_KEY\b/);
    }
  });

  it("keeps environment files and keys out of the build context", () => {
    const ignore = readFileSync(new URL("../Dockerfile.dockerignore", import.meta.url), "utf8");
    expect(ignore).toMatch(/^\.env$/m);
    expect(ignore).toMatch(/^\.env\.\*$/m);
    expect(ignore).toMatch(/^\*\*\/node_modules$/m);
  });
});

function findCompose():
  { command: string[]; reason?: undefined } | { command?: undefined; reason: string } {
  const candidates = [["docker-compose"], ["docker", "compose"]];
  const tried: string[] = [];
  for (const candidate of candidates) {
    const result = spawnSync(candidate[0]!, [...candidate.slice(1), "version"], {
      encoding: "utf8",
      timeout: 10_000,
    });
    if (result.status === 0) return { command: candidate };
    tried.push(
      `${candidate.join(" ")}: ${result.error ? result.error.message : (result.stderr || "failed").trim().split("\n")[0]}`,
    );
  }
  return { reason: tried.join("; ") };
}

const compose = findCompose();
if (compose.reason)
  console.warn(`skipping compose config validation, no working compose binary (${compose.reason})`);

describe.skipIf(compose.command === undefined)("compose config", () => {
  it.each([
    [["docker-compose.yml"]],
    [["docker-compose.yml", "docker-compose.dev.yml"]],
    [["docker-compose.yml", "docker-compose.dev.yml", "docker-compose.auth-test.yml"]],
  ])("validates %j", (names) => {
    const [program, ...prefix] = compose.command!;
    const args = [
      ...prefix,
      "--project-directory",
      dockerDir,
      "--env-file",
      `${repoRoot}.env.development`,
      ...names.flatMap((name) => ["-f", `${dockerDir}${name}`]),
      "config",
      "-q",
    ];
    const result = spawnSync(program!, args, { encoding: "utf8", timeout: 60_000 });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("refuses to start without the required secrets", () => {
    const [program, ...prefix] = compose.command!;
    const args = [
      ...prefix,
      "--project-directory",
      dockerDir,
      "-f",
      `${dockerDir}docker-compose.yml`,
      "config",
      "-q",
    ];
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !/SECRET|PASSWORD|TOKEN|_KEY$|JWT_/.test(key)),
    );
    const result = spawnSync(program!, args, { encoding: "utf8", timeout: 60_000, env });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/is required/);
  });
});
