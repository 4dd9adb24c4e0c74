import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Readable } from "node:stream";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { LoggingMessageNotificationSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createIssuer, type Issuer } from "../../dev/jwt-issuer/src/issuer.ts";
import { FORBIDDEN_TOOL, startBearerMcpServer, type BearerMcpServer } from "./bearer-mcp-server.ts";

const BRIDGE = new URL("../mcp_http_bridge.js", import.meta.url).pathname;
const SECRET = "bridge-test-secret-key-0123456789-abcdefghij";
const ISSUER = "http://localhost:8010";
const AUDIENCE = "mcp-gateway";
const ADMIN_TOKEN = "bridge-test-issuer-admin-token-0123456789";

let issuer: Issuer;
let issuerUrl: string;
let issued = 0;
let mcp: BearerMcpServer;
const clients: Client[] = [];

beforeEach(async () => {
  issued = 0;
  issuer = await createIssuer({
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithm: "HS256",
    secretKey: SECRET,
    adminToken: ADMIN_TOKEN,
    maxExpiresInSeconds: 3600,
    logger: { info: () => void issued++, warn: () => undefined },
  });
  const address = await issuer.listen(0, "127.0.0.1");
  issuerUrl = `http://127.0.0.1:${address.port}`;
  mcp = await startBearerMcpServer({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await mcp.close();
  await issuer.close();
});

function collect(stream: Readable | null): () => string {
  let text = "";
  stream?.on("data", (chunk: Buffer) => (text += chunk.toString()));
  return () => text;
}

async function connect(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BRIDGE, ...args],
    env: { PATH: process.env.PATH ?? "", BRIDGE_TEST_ISSUER_TOKEN: ADMIN_TOKEN, ...env },
    stderr: "pipe",
  });
  const stderr = collect(transport.stderr as Readable | null);
  const client = new Client({ name: "bridge-test", version: "1.0.0" });
  clients.push(client);
  await client.connect(transport);
  return { client, stderr };
}

function issuerArgs(extra: string[] = []): string[] {
  return [
    "--endpoint",
    mcp.url,
    "--issuer-url",
    issuerUrl,
    "--user-id",
    "alice",
    "--roles",
    "developer,analyst",
    "--workspace",
    "acme",
    "--issuer-token-env",
    "BRIDGE_TEST_ISSUER_TOKEN",
    ...extra,
  ];
}

async function runToExit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, [BRIDGE, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const stderr = collect(child.stderr);
  const stdout = collect(child.stdout);
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stderr: stderr(), stdout: stdout() };
}

describe("mcp_http_bridge over stdio", () => {
  it("relays initialize, tools/list and tools/call", async () => {
    const { client } = await connect(issuerArgs());
    expect(client.getServerVersion()?.name).toBe("bearer-test-server");
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(["add", "count_to"]);
    const result = await client.callTool({ name: "add", arguments: { a: 2, b: 40 } });
    expect(result.content).toEqual([{ type: "text", text: "42" }]);
    expect(issued).toBe(1);
    expect(mcp.unauthorizedCount()).toBe(0);
  });

  it("relays server notifications carried on an SSE response", async () => {
    const { client } = await connect(issuerArgs());
    const steps: unknown[] = [];
    const allSteps = new Promise<void>((resolve) => {
      client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
        steps.push(notification.params.data);
        if (steps.length === 3) resolve();
      });
    });
    const result = await client.callTool({ name: "count_to", arguments: { n: 3 } });
    expect(result.content).toEqual([{ type: "text", text: "counted to 3" }]);
    await allSteps;
    expect(steps).toEqual(["step 1", "step 2", "step 3"]);
  });

  it("relays the gateway's JSON-RPC error for a refused request", async () => {
    const { client } = await connect(issuerArgs());
    const call = client.callTool({ name: FORBIDDEN_TOOL, arguments: {} });
    await expect(call).rejects.toBeInstanceOf(McpError);
    await expect(call).rejects.toMatchObject({
      code: -32003,
      message: expect.stringMatching(/tool not allowed/),
    });
    // The session keeps working afterwards.
    const result = await client.callTool({ name: "add", arguments: { a: 1, b: 1 } });
    expect(result.content).toEqual([{ type: "text", text: "2" }]);
  });

  it("renews a short-lived token before it expires", async () => {
    const { client } = await connect(issuerArgs(["--expires-in", "2"]));
    await client.listTools();
    const firstExpiry = mcp.lastExpiry();
    expect(firstExpiry).toBeDefined();
    expect(mcp.acceptedTokenIds).toHaveLength(1);
    // The condition is the clock itself: the first token must be expired before the next call.
    const wait = firstExpiry! * 1000 + 50 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const result = await client.callTool({ name: "add", arguments: { a: 3, b: 4 } });
    expect(result.content).toEqual([{ type: "text", text: "7" }]);
    expect(mcp.acceptedTokenIds).toHaveLength(2);
    // Renewed proactively: the server never had to refuse an expired token.
    expect(mcp.unauthorizedCount()).toBe(0);
    expect(issued).toBe(2);
  });

  it("recovers from a 401 by renewing the token and retrying once", async () => {
    const { client } = await connect(issuerArgs());
    await client.listTools();
    // The SDK opens its GET stream in the background; let it finish with the first token.
    await mcp.streamOpened;
    mcp.revokeCurrentToken();
    const result = await client.callTool({ name: "add", arguments: { a: 10, b: 5 } });
    expect(result.content).toEqual([{ type: "text", text: "15" }]);
    expect(mcp.unauthorizedCount()).toBe(1);
    expect(mcp.acceptedTokenIds).toHaveLength(2);
    expect(issued).toBe(2);
  });

  it("works with a fixed token from the environment", async () => {
    const response = await fetch(`${issuerUrl}/token`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-issuer-token": ADMIN_TOKEN },
      body: JSON.stringify({ user_id: "bob", expires_in_seconds: 300 }),
    });
    const { access_token } = (await response.json()) as { access_token: string };
    const { client } = await connect(["--endpoint", mcp.url, "--token-env", "BRIDGE_TEST_TOKEN"], {
      BRIDGE_TEST_TOKEN: access_token,
    });
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(2);
  });

  it("with a fixed token, a 401 becomes a JSON-RPC error for that request", async () => {
    const response = await fetch(`${issuerUrl}/token`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-issuer-token": ADMIN_TOKEN },
      body: JSON.stringify({ user_id: "bob" }),
    });
    const { access_token } = (await response.json()) as { access_token: string };
    const { client } = await connect(["--endpoint", mcp.url, "--token-env", "BRIDGE_TEST_TOKEN"], {
      BRIDGE_TEST_TOKEN: access_token,
    });
    await client.listTools();
    await mcp.streamOpened;
    mcp.revokeCurrentToken();
    await expect(client.listTools()).rejects.toMatchObject({ code: -32001 });
  });
});

describe("mcp_http_bridge failures", () => {
  it("exits non-zero with a clear message when the issuer is unreachable", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { code, stderr, stdout } = await runToExit([
      "--endpoint",
      mcp.url,
      "--issuer-url",
      `http://127.0.0.1:${port}`,
      "--user-id",
      "alice",
    ]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot reach the token issuer at http:\/\/127\.0\.0\.1:\d+/);
    expect(stdout).toBe("");
  });

  it("exits non-zero when the issuer refuses the request, without echoing the secret", async () => {
    const { code, stderr } = await runToExit(
      [
        "--endpoint",
        mcp.url,
        "--issuer-url",
        issuerUrl,
        "--user-id",
        "alice",
        "--issuer-token-env",
        "WRONG",
      ],
      { WRONG: "not-the-admin-token-but-a-secret-anyway" },
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(/token issuer refused the request \(HTTP 401\)/);
    expect(stderr).not.toContain("not-the-admin-token-but-a-secret-anyway");
  });

  it.each([
    [[], /--endpoint is required/],
    [["--endpoint", "ftp://x"], /--endpoint must be an http\(s\) URL/],
    [["--endpoint", "not a url"], /--endpoint must be an absolute/],
    [["--endpoint", "http://x/mcp"], /a token source is required/],
    [["--endpoint", "http://x/mcp", "--issuer-url", "http://i"], /--user-id is required/],
    [
      ["--endpoint", "http://x/mcp", "--token", "a", "--issuer-url", "http://i"],
      /either a fixed token/,
    ],
    [
      ["--endpoint", "http://x/mcp", "--token-env", "BRIDGE_UNSET_VARIABLE"],
      /BRIDGE_UNSET_VARIABLE is not set/,
    ],
    [
      [
        "--endpoint",
        "http://x/mcp",
        "--issuer-url",
        "http://i",
        "--user-id",
        "a",
        "--expires-in",
        "0",
      ],
      /--expires-in/,
    ],
    [["--endpoint", "http://x/mcp", "--bogus"], /Unknown option/],
  ])("usage error %j → exit 2", async (args, pattern) => {
    const { code, stderr, stdout } = await runToExit(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(pattern);
    expect(stdout).toBe("");
  });
});
