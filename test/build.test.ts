import { execFile, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

/**
 * `npm run build`'s output (tsc -b tsconfig.build.json, which test/global-setup.ts runs before the
 * tests), copied into a scratch directory laid out like the image: package.json, proto/, dist/ and
 * a node_modules without the development dependencies (no tsx, no typescript). Entry points then
 * run there on plain `node`, with no source beside them.
 */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SETUP_TIMEOUT_MS = 60_000;
const START_TIMEOUT_MS = 90_000;
const run = promisify(execFile);

let image: string;
const children: ChildProcessWithoutNullStreams[] = [];

/** node_modules of a production install: the repository's packages minus its devDependencies. */
async function productionNodeModules(target: string): Promise<void> {
  const manifest = JSON.parse(await readFile(path.join(ROOT, "package.json"), "utf8")) as {
    devDependencies: Record<string, string>;
  };
  const dev = new Set(Object.keys(manifest.devDependencies));
  const source = path.join(ROOT, "node_modules");
  await mkdir(target);
  for (const entry of await readdir(source)) {
    if (entry.startsWith(".")) continue;
    if (!entry.startsWith("@")) {
      if (!dev.has(entry)) await symlink(path.join(source, entry), path.join(target, entry));
      continue;
    }
    await mkdir(path.join(target, entry));
    for (const member of await readdir(path.join(source, entry))) {
      const name = `${entry}/${member}`;
      if (!dev.has(name)) await symlink(path.join(source, name), path.join(target, name));
    }
  }
}

function start(args: string[], env: Record<string, string>): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, args, {
    cwd: image,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.push(child);
  return child;
}

/** Resolves with stdout once `pattern` matches it; rejects if the process exits first. */
function output(child: ChildProcessWithoutNullStreams, pattern: RegExp): Promise<string> {
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  return new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      if (pattern.test(stdout)) resolve(stdout);
    });
    child.once("exit", (code) =>
      reject(new Error(`exited early with ${code}:\n${stdout}\n${stderr}`)),
    );
  });
}

beforeAll(async () => {
  const problems = inject("buildProblems");
  if (problems !== "") throw new Error(`tsc -b tsconfig.build.json failed:\n${problems}`);
  image = await mkdtemp(path.join(tmpdir(), "gateway-build-"));
  await cp(path.join(ROOT, "dist"), path.join(image, "dist"), { recursive: true });
  await cp(path.join(ROOT, "package.json"), path.join(image, "package.json"));
  await cp(path.join(ROOT, "proto"), path.join(image, "proto"), { recursive: true });
  await productionNodeModules(path.join(image, "node_modules"));
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  if (image !== undefined) await rm(image, { recursive: true, force: true });
});

describe("the build output", () => {
  it("is what npm start builds and runs", async () => {
    const { scripts } = JSON.parse(await readFile(path.join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    // The TypeScript, then the operators' console bundle (dist/console).
    expect(scripts["build"]).toBe("tsc -b tsconfig.build.json && tsx console/build.ts");
    expect(scripts["prestart"]).toBe("npm run build");
    // env execs node in turn: the process npm starts is still the gateway (SIGTERM reaches it).
    expect(scripts["start"]).toMatch(
      /^exec env MALLOC_ARENA_MAX=2 node (--\S+ )*dist\/dev\/main\.js$/,
    );
  });

  it("is JavaScript only, with source maps, and cannot reach a TypeScript loader", async () => {
    const files = (await readdir(path.join(image, "dist"), { recursive: true })).map(String);
    expect(files.filter((file) => file.endsWith(".ts"))).toEqual([]);
    expect(files).toContain(path.join("dev", "main.js"));
    expect(files).toContain(path.join("dev", "main.js.map"));
    expect(files).toContain(path.join("tools", "kit", "src", "worker-entry.mjs"));
    const require = createRequire(path.join(image, "dist", "tools", "kit", "src", "index.js"));
    expect(() => require.resolve("tsx")).toThrow();
    expect(() => require.resolve("typescript")).toThrow();
  });

  it("keeps gRPC out of a router behind Envoy; direct mode loads it with its Check client", async () => {
    // Which CommonJS packages importing a module loaded (ESM imports of them fill require.cache).
    const loadedBy = async (module: string) => {
      const script = [
        'import { createRequire } from "node:module";',
        `await import(${JSON.stringify(`./dist/${module}`)});`,
        "const cache = createRequire(process.cwd() + '/').cache;",
        "const names = Object.keys(cache).map((file) => /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(file)?.[1]);",
        "console.log(JSON.stringify([...new Set(names.filter(Boolean))]));",
      ].join("\n");
      const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
        cwd: image,
      });
      return JSON.parse(stdout) as string[];
    };
    const router = await loadedBy("mcp-router/src/router.js");
    expect(router).toContain("undici");
    expect(router).not.toContain("@grpc/grpc-js");
    expect(router).not.toContain("protobufjs");
    expect(await loadedBy("contract/src/authz-wire.js")).toContain("@grpc/grpc-js");
  });

  it("migrates a PGlite DATA_DIR with plain node", { timeout: START_TIMEOUT_MS }, async () => {
    const env = { PATH: process.env.PATH ?? "", DATA_DIR: path.join(image, "migrate-data") };
    const cli = path.join("dist", "store", "src", "migrate-cli.js");
    const { stdout } = await run(process.execPath, [cli, "up"], { cwd: image, env });
    expect(stdout).toContain(`PGlite in ${env.DATA_DIR}`);
    expect(stdout).toMatch(/^up \S+: Success$/m);
    expect(stdout).not.toMatch(/: (Error|NotExecuted)$/m);
  });

  it(
    "starts the embedded stack (npm start's entry), answers /health and runs a worker tool",
    { timeout: START_TIMEOUT_MS },
    async () => {
      const child = start(["--enable-source-maps", path.join("dist", "dev", "main.js")], {
        NODE_ENV: "development",
        HOST: "127.0.0.1",
        PORT: "0",
        EXT_AUTHZ_PORT: "0",
        JWT_ISSUER_PORT: "0",
        DATA_DIR: path.join(image, "data"),
        CONFIG_DIR: path.join(ROOT, "config"),
        LOG_LEVEL: "warn",
      });
      const banner = await output(child, /curl -s \S+\/token .*\n/);
      const gateway = /listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(banner)?.[1];
      const issuer = /Development token issuer \(\w+\) on (http:\/\/\S+)\n/.exec(banner)?.[1];
      expect(gateway).toBeDefined();
      expect(issuer).toBeDefined();

      const health = await fetch(`${gateway!}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok" });

      const minted = await fetch(`${issuer!}/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user_id: "demo", roles: ["developer"] }),
      });
      expect(minted.status).toBe(200);
      const { access_token: token } = (await minted.json()) as { access_token: string };
      // statistics runs on the tool worker pool: the worker loads compiled modules by itself.
      const answer = await fetch(`${gateway!}/mcp/invoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          tool_name: "calculator.statistics",
          arguments: { values: ["1", "2", "3.5"], measures: ["sum"] },
        }),
      });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({
        is_error: false,
        result: { structuredContent: { sum: "6.5" } },
      });

      const exited = once(child, "exit");
      child.kill("SIGTERM");
      expect((await exited)[0]).toBe(0);
    },
  );
});
