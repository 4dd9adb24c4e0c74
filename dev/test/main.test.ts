import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeJwt } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../store/src/open-database.ts";
import { signDevToken } from "../token-cli.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
// A whole stack boots per test (PGlite, migrations, four servers): slow on a loaded machine.
const SPAWN_TIMEOUT_MS = 120_000;
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
};

/**
 * What `npm start` runs (node --enable-source-maps --expose-gc --wasm-num-compilation-tasks=1
 * dist/dev/main.js with MALLOC_ARENA_MAX=2, built by
 * test/global-setup.ts), with absolute paths so the working directory can be a scratch directory:
 * its `.env` is the one under test, and a developer's own `.env` in the repository never leaks in.
 */
function startGateway(cwd: string, env: Record<string, string>): ChildProcessWithoutNullStreams {
  return spawn(
    process.execPath,
    [
      "--enable-source-maps",
      "--expose-gc",
      "--wasm-num-compilation-tasks=1",
      fileURLToPath(new URL("../../dist/dev/main.js", import.meta.url)),
    ],
    {
      cwd,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
}

/** Resolves with stdout once the banner's last line is out; rejects if the process exits first. */
function banner(child: ChildProcessWithoutNullStreams, lastLine: RegExp): Promise<string> {
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  return new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      if (lastLine.test(stdout)) resolve(stdout);
    });
    child.once("exit", (code) =>
      reject(new Error(`exited early with ${code}:\n${stdout}\n${stderr}`)),
    );
  });
}

async function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const [code] = (await exited) as [number | null];
  return code;
}

async function invoke(url: string, token: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}/mcp/invoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({
      tool_name: "calculator.exact_calculate",
      arguments: { operator: "add", operands: ["0.1", "0.2"] },
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("npm start (dev/main.ts)", () => {
  const dirs: string[] = [];
  const children: ChildProcessWithoutNullStreams[] = [];
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });
  async function scratch(): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), "gateway-main-"));
    dirs.push(dir);
    return dir;
  }

  it("is one process: the shell npm runs the script in execs node, so npm's child is the gateway", async () => {
    // A stand-in `node` first on PATH reports its pid: with exec it is the shell's own.
    const bin = await scratch();
    await writeFile(path.join(bin, "node"), '#!/bin/sh\necho "$$ $MALLOC_ARENA_MAX $*"\n', {
      mode: 0o755,
    });
    const script = PACKAGE.scripts["start"] ?? "";
    const child = spawn("sh", ["-c", script], {
      cwd: ROOT,
      env: { PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}` },
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
    expect(stdout).toBe(
      `${child.pid} 2 --enable-source-maps --expose-gc --wasm-num-compilation-tasks=1 dist/dev/main.js\n`,
    );
  });

  it(
    "names the real ports everywhere, serves its issuer, reads .env, and flushes the audit on SIGTERM",
    { timeout: SPAWN_TIMEOUT_MS },
    async () => {
      const cwd = await scratch();
      const dataDir = path.join(cwd, "data");
      // PORT here loses to the real environment; everything else comes from the file.
      await writeFile(
        path.join(cwd, ".env"),
        [
          "# the gateway's .env",
          "PORT=70000",
          "EXT_AUTHZ_PORT=0",
          "JWT_ISSUER_PORT=0",
          "ISSUER_ALGORITHM=ES256",
          `DATA_DIR=${dataDir}`,
          `CONFIG_DIR=${path.join(ROOT, "config")}`,
          'LOG_LEVEL="warn"',
          "",
        ].join("\n"),
      );
      const child = startGateway(cwd, { PORT: "0" });
      children.push(child);
      const stdout = await banner(child, /curl -s \S+\/token .*\n/);

      const url = /listening on (http:\/\/127\.0\.0\.1:(\d+))\n/.exec(stdout)?.[1];
      expect(url).toBeDefined();
      const gateway = url!;
      expect(gateway).not.toMatch(/:(8000|70000)$/);
      for (const scope of ["calculator", "git", "docs"]) {
        expect(stdout).toContain(`  ${gateway}/${scope}/sse   (alias ${gateway}/${scope}/mcp)`);
      }
      expect(stdout).toContain(`${gateway}/mcp/invoke   REST invoke · ${gateway}/docs`);
      expect(stdout).toContain(`environment: ${path.join(cwd, ".env")} set 6 variable(s)`);
      const issuer = /Development token issuer \(ES256\) on (http:\/\/localhost:(\d+))\n/.exec(
        stdout,
      )?.[1];
      expect(issuer).toBeDefined();
      const issuerUrl = issuer!;
      expect(issuerUrl).not.toMatch(/:8010$/);
      // With a key pair, `npm run token` (HMAC) would mint refused tokens: only the issuer is offered.
      expect(stdout).not.toContain("npm run -s token");
      expect(stdout).toContain(`curl -s ${issuerUrl}/token `);

      // A 401 sends the client to this listener's metadata, which names this listener and the issuer.
      const unauthorized = await fetch(`${gateway}/calculator/mcp`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      });
      expect(unauthorized.status).toBe(401);
      const challenge = unauthorized.headers.get("www-authenticate") ?? "";
      const metadataUrl = `${gateway}/.well-known/oauth-protected-resource/calculator/mcp`;
      expect(challenge).toBe(`Bearer resource_metadata="${metadataUrl}"`);
      const metadata = (await (await fetch(metadataUrl)).json()) as Record<string, unknown>;
      expect(metadata).toMatchObject({
        resource: `${gateway}/calculator/mcp`,
        authorization_servers: [issuerUrl],
      });

      // The advertised authorization server answers: RFC 8414 metadata, its JWKS, a token.
      const serverMetadata = (await (
        await fetch(`${issuerUrl}/.well-known/oauth-authorization-server`)
      ).json()) as { issuer: string; token_endpoint: string; jwks_uri: string };
      expect(serverMetadata).toMatchObject({
        issuer: issuerUrl,
        token_endpoint: `${issuerUrl}/token`,
        jwks_uri: `${issuerUrl}/.well-known/jwks.json`,
      });
      const jwks = (await (await fetch(serverMetadata.jwks_uri)).json()) as {
        keys: { alg: string; d?: string }[];
      };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]).toMatchObject({ alg: "ES256" });
      expect(jwks.keys[0]?.d).toBeUndefined();

      const refused = await fetch(serverMetadata.token_endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user_id: "demo", roles: ["developer"], expires_in_seconds: 0 }),
      });
      expect(refused.status).toBe(400);
      const minted = await fetch(serverMetadata.token_endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user_id: "demo", roles: ["developer"] }),
      });
      expect(minted.status).toBe(200);
      const { access_token: token } = (await minted.json()) as { access_token: string };
      expect(decodeJwt(token).iss).toBe(issuerUrl);

      const answer = await invoke(gateway, token);
      expect(answer.status).toBe(200);
      expect(answer.body["result"]).toMatchObject({ structuredContent: { result: "0.3" } });
      const requestId = answer.body["request_id"] as string;

      // ext-authz verifies with the issuer's JWKS now: an HMAC token with the development key is not it.
      const hmacToken = await signDevToken(
        { user: "demo", roles: ["developer"], ttlSeconds: 60 },
        { JWT_ISSUER: issuerUrl },
      );
      expect((await invoke(gateway, hmacToken)).status).toBe(401);

      expect(await stop(child)).toBe(0);

      // The process is gone: the audit rows it queued must be on disk.
      const database = await openDatabase({ dataDir });
      try {
        const rows = await database.db
          .selectFrom("audit_events")
          .select(["outcome", "subject", "tool"])
          .where("request_id", "=", requestId)
          .where("source", "=", "router")
          .execute();
        expect(rows).toEqual([{ outcome: "ok", subject: "demo", tool: "exact_calculate" }]);
      } finally {
        await database.close();
      }
    },
  );

  it(
    "refuses to start on a bad environment, naming the variable",
    { timeout: SPAWN_TIMEOUT_MS },
    async () => {
      const cwd = await scratch();
      await writeFile(path.join(cwd, ".env"), "JWT_ISSUER_PORT=port\n");
      const child = startGateway(cwd, { GATEWAY_PUBLIC_URL: "not a url" });
      children.push(child);
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
      const [code] = (await once(child, "exit")) as [number | null];
      expect(code).toBe(1);
      expect(stderr).toContain("GATEWAY_PUBLIC_URL");
      expect(stderr).toContain("JWT_ISSUER_PORT");
      expect(stderr).not.toContain("not a url");
    },
  );
});
