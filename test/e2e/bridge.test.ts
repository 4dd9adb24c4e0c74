import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Client as ModernClient } from "@modelcontextprotocol/client";
import { StdioClientTransport as ModernStdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createIssuer, type Issuer } from "../../dev/jwt-issuer/src/issuer.ts";
import { signDevToken } from "../../dev/token-cli.ts";
import { META_KEY } from "../../contract/src/mcp-wire.ts";
import {
  startBridge as startRawBridge,
  type BridgeProcess,
} from "../../scripts/test/bridge-process.ts";
import {
  ALICE,
  closedPort,
  modernHeaders,
  MODERN_VERSION,
  startE2eStack,
  type E2eStack,
} from "./stack-fixture.ts";

/**
 * scripts/mcp_http_bridge.js as a child process, driven over stdio by the official SDK clients
 * (1.x for the session era, 2.x pinned to 2026-07-28) and by raw JSON-RPC lines, against the
 * embedded stack with the dev JWT issuer signing for ext-authz.
 */

const BRIDGE = fileURLToPath(new URL("../../scripts/mcp_http_bridge.js", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SHORT_TTL_SECONDS = 3;

let e2e: E2eStack;
let issuer: Issuer;
let issuerUrl: string;
/** `iat` (unix seconds) of every token the issuer signed, in order. */
const issuedAt: number[] = [];
/** How many of the next tokens get an `iat` an hour in the future (ext-authz answers 401). */
let futureTokens = 0;
const clients: (Client | ModernClient)[] = [];
const rawBridges: BridgeProcess[] = [];

beforeAll(async () => {
  // No clock tolerance, so an expired token is really refused and a refresh is really needed.
  e2e = await startE2eStack({ JWT_CLOCK_SKEW_SECONDS: "0" });
  issuer = await createIssuer({
    issuer: "http://localhost:8010",
    audience: "mcp-gateway",
    algorithm: "HS256",
    secretKey: e2e.env.JWT_SECRET_KEY!,
    maxExpiresInSeconds: 3600,
    now: () => {
      const now = futureTokens > 0 ? Date.now() + 3_600_000 : Date.now();
      if (futureTokens > 0) futureTokens -= 1;
      issuedAt.push(Math.floor(now / 1000));
      return now;
    },
  });
  const address = await issuer.listen(0, "127.0.0.1");
  issuerUrl = `http://127.0.0.1:${address.port}`;
});
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close().catch(() => undefined);
  for (const bridge of rawBridges.splice(0)) bridge.kill();
  issuedAt.length = 0;
  futureTokens = 0;
});
afterAll(async () => {
  await issuer?.close();
  await e2e?.close();
});

function bridgeArgs(extra: string[] = []): string[] {
  return [
    BRIDGE,
    "--endpoint",
    e2e.endpoint("calculator"),
    "--issuer-url",
    issuerUrl,
    "--user-id",
    "demo",
    "--roles",
    "developer",
    "--workspace",
    "acme",
    ...extra,
  ];
}

async function startBridge(extra: string[] = []): Promise<{ client: Client; stderr: string[] }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: bridgeArgs(extra),
    cwd: REPO_ROOT,
    stderr: "pipe",
  });
  const stderr: string[] = [];
  transport.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString("utf8")));
  const client = new Client({ name: "e2e-bridge-driver", version: "1.0.0" });
  clients.push(client);
  await client.connect(transport);
  return { client, stderr };
}

/** The bridge driven by the 2.x client pinned to the stateless revision (no initialize). */
async function startModernBridge(): Promise<ModernClient> {
  const transport = new ModernStdioClientTransport({
    command: process.execPath,
    args: bridgeArgs(),
    cwd: REPO_ROOT,
    stderr: "pipe",
  });
  const client = new ModernClient(
    { name: "e2e-bridge-modern", version: "2.0.0" },
    { versionNegotiation: { mode: { pin: MODERN_VERSION } } },
  );
  clients.push(client);
  await client.connect(transport);
  return client;
}

function statelessRequest(id: number, method: string, params: Record<string, unknown>) {
  return {
    jsonrpc: "2.0",
    id,
    method,
    params: {
      ...params,
      _meta: {
        [META_KEY.protocolVersion]: MODERN_VERSION,
        // Declares the tasks extension, without which tasks/* are refused (-32021).
        [META_KEY.clientCapabilities]: { extensions: { "io.modelcontextprotocol/tasks": {} } },
        [META_KEY.clientInfo]: { name: "e2e-bridge-raw", version: "1.0.0" },
      },
    },
  };
}

async function demoCalls(): Promise<{ outcome: string; tool: string | null }[]> {
  await e2e.stack.audit.flush();
  return e2e.stack.database.db
    .selectFrom("audit_events")
    .select(["outcome", "tool"])
    .where("source", "=", "router")
    .where("kind", "=", "invocation")
    .where("subject", "=", "demo")
    .orderBy("id")
    .execute();
}

describe("the stdio bridge against the embedded stack", () => {
  it("relays tools/list and tools/call, and surfaces a gateway refusal as a JSON-RPC error", async () => {
    const before = (await demoCalls()).length;
    const { client } = await startBridge();
    const tools = (await client.listTools()).tools.map((tool) => tool.name);
    expect(tools).toContain("exact_calculate");

    const result = await client.callTool({
      name: "exact_calculate",
      arguments: { operator: "add", operands: ["0.1", "0.2"] },
    });
    expect(result.structuredContent).toMatchObject({ result: "0.3" });
    expect((await demoCalls()).slice(before)).toEqual([{ outcome: "ok", tool: "exact_calculate" }]);

    // A tool the scope does not have is -32602 (spec), answered by the gateway, relayed as is.
    const refused = await client.callTool({ name: "no_such_tool", arguments: {} }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(McpError);
    expect((refused as McpError).code).toBe(-32602);
    expect((refused as McpError).message).toContain("Unknown tool: no_such_tool");
  });

  it("relays 2026-07-28 for a stateless client: the gateway serves tools/list and tools/call", async () => {
    const before = (await demoCalls()).length;
    const client = await startModernBridge();
    expect(client.getNegotiatedProtocolVersion()).toBe(MODERN_VERSION);
    const tools = (await client.listTools()).tools.map((tool) => tool.name);
    expect(tools).toContain("exact_calculate");
    const result = await client.callTool({
      name: "exact_calculate",
      arguments: { operator: "add", operands: ["0.1", "0.2"] },
    });
    expect(result.structuredContent).toMatchObject({ result: "0.3" });
    expect((await demoCalls()).slice(before)).toEqual([{ outcome: "ok", tool: "exact_calculate" }]);
  });

  it("sends routing headers the gateway accepts, also for names that need base64", async () => {
    // Control: the gateway holds Mcp-Name of tasks/get to the body before it looks the task up.
    const mismatched = await fetch(e2e.endpoint("calculator"), {
      method: "POST",
      headers: {
        ...modernHeaders("tasks/get", "some-other-task"),
        authorization: `Bearer ${await e2e.token(ALICE)}`,
      },
      body: JSON.stringify(statelessRequest(1, "tasks/get", { taskId: "tâche inconnue " })),
    });
    expect(mismatched.status).toBe(400);
    expect(await mismatched.json()).toMatchObject({ error: { code: -32020 } });

    const bridge = startRawBridge(bridgeArgs().slice(1));
    rawBridges.push(bridge);
    bridge.send(statelessRequest(1, "tools/list", {}));
    bridge.send(
      statelessRequest(2, "tools/call", {
        name: "exact_calculate",
        arguments: { operator: "multiply", operands: ["6", "7"] },
      }),
    );
    // Values sent as =?base64?…?=: non-ASCII with a trailing space, and one that looks encoded.
    bridge.send(statelessRequest(3, "tasks/get", { taskId: "tâche inconnue " }));
    bridge.send(statelessRequest(4, "prompts/get", { name: "=?base64?Zm9v?=" }));
    bridge.send(statelessRequest(5, "resources/read", { uri: "file:///docs/résumé.md" }));

    const listed = await bridge.response(1);
    expect(
      (listed.result as { tools: { name: string }[] }).tools.map((tool) => tool.name),
    ).toContain("exact_calculate");
    expect((await bridge.response(2)).result).toMatchObject({
      structuredContent: { result: "42" },
    });
    // Past the header checks: answered by what the gateway knows, not -32020.
    expect((await bridge.response(3)).error).toMatchObject({
      code: -32602,
      data: { code: "GW_TASK_NOT_FOUND" },
    });
    for (const id of [4, 5]) {
      expect((await bridge.response(id)).error).toMatchObject({
        code: -32601,
        data: { code: "GW_METHOD_NOT_FOUND" },
      });
    }
    expect(bridge.stderr()).toBe("");
  });

  it("refreshes a short-lived token: a call after the first token expired still succeeds", async () => {
    // Precondition: this stack refuses a token the moment it expires.
    const expired = await signDevToken(
      { user: "demo", roles: ["developer"], tenant: "acme", ttlSeconds: 1 },
      e2e.env,
      Date.now() - 5_000,
    );
    const probe = await fetch(e2e.endpoint("calculator"), {
      method: "POST",
      headers: {
        authorization: `Bearer ${expired}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    expect(probe.status).toBe(401);

    const before = (await demoCalls()).length;
    const { client } = await startBridge(["--expires-in", String(SHORT_TTL_SECONDS)]);
    const first = await client.callTool({
      name: "exact_calculate",
      arguments: { operator: "multiply", operands: ["6", "7"] },
    });
    expect(first.structuredContent).toMatchObject({ result: "42" });
    expect(issuedAt.length).toBeGreaterThanOrEqual(1);

    // Wait (bounded) until the first token is past its exp; the gateway allows no clock skew.
    const firstExpiryMs = (issuedAt[0]! + SHORT_TTL_SECONDS) * 1000;
    await vi.waitFor(
      () => {
        if (Date.now() <= firstExpiryMs) throw new Error("first token not expired yet");
      },
      { timeout: (SHORT_TTL_SECONDS + 5) * 1000, interval: 100 },
    );

    const second = await client.callTool({
      name: "exact_calculate",
      arguments: { operator: "subtract", operands: ["10", "0.5"] },
    });
    expect(second.structuredContent).toMatchObject({ result: "9.5" });
    expect(issuedAt.length).toBeGreaterThanOrEqual(2);
    expect((await demoCalls()).slice(before)).toEqual([
      { outcome: "ok", tool: "exact_calculate" },
      { outcome: "ok", tool: "exact_calculate" },
    ]);
  });

  it("recovers after a 401: a token the gateway rejects is renewed and the request retried once", async () => {
    futureTokens = 1;
    const { client } = await startBridge();
    // The bridge's first token is refused by ext-authz (issued in the future) at initialize.
    const result = await client.callTool({
      name: "exact_calculate",
      arguments: { operator: "add", operands: ["2", "2"] },
    });
    expect(result.structuredContent).toMatchObject({ result: "4" });
    expect(issuedAt).toHaveLength(2);
    expect(issuedAt[0]! - issuedAt[1]!).toBeGreaterThan(3_000);

    await e2e.stack.audit.flush();
    const refusals = await e2e.stack.database.db
      .selectFrom("audit_events")
      .selectAll()
      .where("source", "=", "ext-authz")
      .where("reason", "=", "token_iat_future")
      .execute();
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals[0]).toMatchObject({ outcome: "denied", status: 401, scope: "calculator" });
  });

  it("exits non-zero with a clear message when the issuer is unreachable", async () => {
    const port = await closedPort();
    const child = spawn(
      process.execPath,
      [
        BRIDGE,
        "--endpoint",
        e2e.endpoint("calculator"),
        "--issuer-url",
        `http://127.0.0.1:${port}`,
        "--user-id",
        "demo",
      ],
      { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"] },
    );
    const stderr: string[] = [];
    const stdout: string[] = [];
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk.toString("utf8")));
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk.toString("utf8")));
    const guard = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const [code] = (await once(child, "close")) as [number | null];
    clearTimeout(guard);

    expect(code).toBe(1);
    expect(stderr.join("")).toContain("cannot reach the token issuer");
    expect(stderr.join("")).toContain(`127.0.0.1:${port}`);
    // stdout carries only the protocol: nothing was written to it.
    expect(stdout.join("")).toBe("");
  });

  it("exits with a usage error when a required option is missing", async () => {
    const child = spawn(process.execPath, [BRIDGE, "--endpoint", e2e.endpoint("calculator")], {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stderr: string[] = [];
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk.toString("utf8")));
    const [code] = (await once(child, "close")) as [number | null];
    expect(code).toBe(2);
    expect(stderr.join("")).toContain("a token source is required");
  });
});
