import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { signDevToken } from "../../dev/token-cli.ts";
import { startEmbeddedStack, type EmbeddedStack } from "../../dev/embedded-stack.ts";
import { closedPort, connectLegacy, quietLogger, type LegacyConnection } from "./stack-fixture.ts";

/**
 * A third-party MCP server behind the gateway: @modelcontextprotocol/server-everything (npm), once
 * as a stdio command the router spawns (a process per user) and once over Streamable HTTP, both
 * driven by the official 1.x SDK client through the gateway's scoped endpoints.
 */

const EVERYTHING = join(
  createRequire(import.meta.url).resolve("@modelcontextprotocol/server-everything/package.json"),
  "../dist/index.js",
);
const REPO_CONFIG_DIR = fileURLToPath(new URL("../../config/", import.meta.url));
const LISTED = ["echo", "get-sum", "get-env", "trigger-long-running-operation"];
const BACKEND_SECRET = "backend-token-only-the-backend-sees";

let configDir: string;
let httpServer: ChildProcess;
let stack: EmbeddedStack;
let env: Record<string, string>;

async function startEverythingHttp(): Promise<{ process: ChildProcess; port: number }> {
  const port = await closedPort();
  const child = spawn(process.execPath, [EVERYTHING, "streamableHttp"], {
    env: { PATH: process.env.PATH ?? "", PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
      if (stderr.includes("listening on port")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`server-everything exited ${code}: ${stderr}`)));
  });
  return { process: child, port };
}

beforeAll(async () => {
  const everythingHttp = await startEverythingHttp();
  httpServer = everythingHttp.process;
  configDir = await mkdtemp(join(tmpdir(), "mcp-gateway-backends-"));
  const tools = parse(await readFile(join(REPO_CONFIG_DIR, "tools.yaml"), "utf8")) as {
    scopes: Record<string, unknown>;
  };
  const listed = LISTED.map((name) => ({ name }));
  tools.scopes.everything = {
    description: "server-everything over stdio",
    mcp_server: {
      transport: "stdio",
      command: process.execPath,
      args: [EVERYTHING, "stdio"],
      env: { GREETING: "hello from the config", API_TOKEN: { from_env: "E2E_BACKEND_TOKEN" } },
      processes: { per: "user", max: 4 },
    },
    timeout_ms: 20_000,
    tools: listed,
  };
  tools.scopes["everything-http"] = {
    description: "server-everything over Streamable HTTP",
    mcp_server: {
      transport: "streamable-http",
      url: `http://127.0.0.1:${everythingHttp.port}/mcp`,
      headers: { "X-Api-Key": { from_env: "E2E_BACKEND_TOKEN" } },
    },
    timeout_ms: 20_000,
    tools: listed,
  };
  tools.scopes["everything-broken"] = {
    description: "a credential the router's environment lacks",
    mcp_server: {
      transport: "stdio",
      command: process.execPath,
      args: [EVERYTHING, "stdio"],
      env: { API_TOKEN: { from_env: "E2E_MISSING_TOKEN" } },
    },
    timeout_ms: 5_000,
    tools: listed,
  };
  const policy = parse(await readFile(join(REPO_CONFIG_DIR, "policy.yaml"), "utf8")) as {
    roles: Record<string, { allow: unknown[] }>;
  };
  policy.roles.developer!.allow.push("everything.*", "everything-http.*", "everything-broken.*");
  await writeFile(join(configDir, "tools.yaml"), stringify(tools));
  await writeFile(join(configDir, "policy.yaml"), stringify(policy));
  env = {
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    HOST: "127.0.0.1",
    PORT: "0",
    EXT_AUTHZ_PORT: "0",
    CONFIG_DIR: configDir,
    JWT_SECRET_KEY: "e2e-jwt-secret-key-0123456789abcdefghijklmnop",
    GATEWAY_VERDICT_KEY: "e2e-verdict-key-0123456789abcdefghijklmnopqrs",
    TOOL_GATEWAY_SHARED_SECRET: "e2e-tool-secret-0123456789abcdefghijklmnopqr",
    E2E_BACKEND_TOKEN: BACKEND_SECRET,
  };
  stack = await startEmbeddedStack({ env, inMemoryDatabase: true, logger: quietLogger });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  httpServer?.kill();
  if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
});

const token = (user: string, roles = ["developer"]) =>
  signDevToken({ user, roles, tenant: "acme", ttlSeconds: 600 }, env);

async function connect(scope: string, user = "alice"): Promise<LegacyConnection> {
  return connectLegacy(`${stack.url}/${scope}/mcp`, await token(user));
}

function text(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((part) => part.text ?? "").join("\n");
}

describe.each(["everything", "everything-http"])("server-everything as %s", (scope) => {
  it("lists only the tools tools.yaml names, and calls them", async () => {
    const connection = await connect(scope);
    try {
      const { tools } = await connection.client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual([...LISTED].sort());
      expect(
        text(await connection.client.callTool({ name: "echo", arguments: { message: "hi" } })),
      ).toBe("Echo: hi");
      const sum = await connection.client.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } });
      expect(text(sum)).toContain("5");
      // Listed by the server, not in tools.yaml: unknown to the gateway.
      const hidden = await connection.client
        .callTool({ name: "get-tiny-image", arguments: {} })
        .catch((error: unknown) => error);
      expect(String(hidden)).toMatch(/not|denied|unknown/i);

      const requestId = connection.lastRequestId("tools/call");
      await stack.audit.flush();
      const rows = await stack.database.db
        .selectFrom("audit_events")
        .selectAll()
        .where("scope", "=", scope)
        .where("tool", "=", "get-sum")
        .where("source", "=", "router")
        .execute();
      expect(rows.map((row) => row.outcome)).toContain("ok");
      expect(requestId).toMatch(/\S/);
    } finally {
      await connection.close();
    }
  });

  it("relays the server's progress notifications with the client's own token", async () => {
    const connection = await connect(scope);
    try {
      const progress: { progress: number; total?: number }[] = [];
      const result = await connection.client.callTool(
        { name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
        undefined,
        { onprogress: (update) => progress.push(update), timeout: 15_000 },
      );
      expect(text(result)).toContain("Long running operation completed");
      expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
      expect(progress.every((p) => p.total === 3)).toBe(true);
    } finally {
      await connection.close();
    }
  });
});

describe("stdio server process", () => {
  it("gets only the configured environment: its own credential, none of the gateway's secrets", async () => {
    const connection = await connect("everything");
    try {
      const shown = text(await connection.client.callTool({ name: "get-env", arguments: {} }));
      expect(shown).toContain("hello from the config");
      expect(shown).toContain(BACKEND_SECRET);
      for (const secret of [
        env.JWT_SECRET_KEY!,
        env.GATEWAY_VERDICT_KEY!,
        env.TOOL_GATEWAY_SHARED_SECRET!,
      ]) {
        expect(shown).not.toContain(secret);
      }
      // And never the caller's token.
      expect(shown).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    } finally {
      await connection.close();
    }
  });

  it("refuses callers whose role does not allow the scope", async () => {
    const response = await fetch(`${stack.url}/everything/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await token("mallory", ["analyst"])}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-11-25",
          capabilities: {},
          clientInfo: { name: "x", version: "1" },
        },
      }),
    });
    expect(response.status).toBe(403);
    await response.body?.cancel();
  });
});

describe("an MCP server that cannot be reached", () => {
  it("answers with an upstream error naming no secret, and the other scopes keep serving", async () => {
    const connection = await connect("everything-broken");
    try {
      const failure = await connection.client.listTools().catch((error: unknown) => error);
      expect(String(failure)).toMatch(/unavailable/i);
      expect(String(failure)).not.toContain("E2E_MISSING_TOKEN");
    } finally {
      await connection.close();
    }
    const working = await connect("everything");
    try {
      expect(
        text(await working.client.callTool({ name: "echo", arguments: { message: "ok" } })),
      ).toBe("Echo: ok");
    } finally {
      await working.close();
    }
  });
});
