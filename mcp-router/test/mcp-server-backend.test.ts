import { createServer, type IncomingMessage } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../contract/src/log.ts";
import { McpServerSchema, type McpServerConfig } from "../../config/src/tools-schema.ts";
import type { UpstreamOutcome } from "../src/forwarding.ts";
import {
  createMcpServerBackend,
  type McpServerBackend,
} from "../src/upstream/mcp-server-backend.ts";
import {
  clientCredentialsTokenSource,
  credentialedFetch,
  MissingCredentialError,
  resolveConfigValue,
  TokenRequestError,
} from "../src/upstream/upstream-credentials.ts";

const quiet = createLogger({ name: "test", level: "silent" });
const STATEFUL = fileURLToPath(new URL("./fixtures/stateful-mcp-server.mjs", import.meta.url));

function stdioBackend(processes: Record<string, unknown>): McpServerBackend {
  const config: McpServerConfig = McpServerSchema.parse({
    transport: "stdio",
    command: process.execPath,
    args: [STATEFUL],
    processes,
  });
  return createMcpServerBackend({
    scope: "stateful",
    config,
    env: {},
    logger: quiet,
    clientInfo: { name: "test", version: "0" },
    onListChanged: () => undefined,
    openTimeoutMs: 20_000,
  });
}

async function whoami(
  backend: McpServerBackend,
  user: string,
): Promise<{ pid: number; calls: number }> {
  const outcome = await backend.call(user, {
    method: "tools/call",
    params: { name: "whoami", arguments: {} },
    timeoutMs: 20_000,
    maxResponseBytes: 65_536,
  });
  if (outcome.kind !== "result") throw new Error(`call failed: ${JSON.stringify(outcome)}`);
  const content = outcome.result.content as { text: string }[];
  return JSON.parse(content[0]!.text) as { pid: number; calls: number };
}

const open: McpServerBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((backend) => backend.close()));
});

describe("MCP server sessions (stdio)", () => {
  it("gives each user a process of their own, and keeps it for their next calls", async () => {
    const backend = stdioBackend({ per: "user", max: 4 });
    open.push(backend);
    const alice = await whoami(backend, "alice");
    const bob = await whoami(backend, "bob");
    expect(bob.pid).not.toBe(alice.pid);
    expect(await whoami(backend, "alice")).toEqual({ pid: alice.pid, calls: 2 });
    expect(backend.size()).toBe(2);
  });

  it("shares one process when the scope says per: scope", async () => {
    const backend = stdioBackend({ per: "scope" });
    open.push(backend);
    const alice = await whoami(backend, "alice");
    expect(await whoami(backend, "bob")).toEqual({ pid: alice.pid, calls: 2 });
  });

  it("stops the least recently used idle process to make room", async () => {
    const backend = stdioBackend({ per: "user", max: 2 });
    open.push(backend);
    const alice = await whoami(backend, "alice");
    await whoami(backend, "bob");
    await whoami(backend, "carol"); // alice's process gives way
    expect(backend.size()).toBe(2);
    const again = await whoami(backend, "alice");
    expect(again.pid).not.toBe(alice.pid);
    expect(again.calls).toBe(1);
  });

  it("opens a new process after the old one exited", async () => {
    const backend = stdioBackend({ per: "user" });
    open.push(backend);
    const first = await whoami(backend, "alice");
    process.kill(first.pid, "SIGKILL");
    // The exit ends the session; the next call opens another.
    let next = await whoami(backend, "alice").catch(() => undefined);
    if (next === undefined) next = await whoami(backend, "alice");
    expect(next.pid).not.toBe(first.pid);
  });

  it("reports a command that cannot start as unavailable", async () => {
    const backend = createMcpServerBackend({
      scope: "missing",
      config: McpServerSchema.parse({ transport: "stdio", command: "/nonexistent/mcp-server" }),
      env: {},
      logger: quiet,
      clientInfo: { name: "test", version: "0" },
      onListChanged: () => undefined,
      openTimeoutMs: 5_000,
    });
    open.push(backend);
    const outcome = await backend.call("alice", {
      method: "tools/list",
      params: {},
      timeoutMs: 5_000,
      maxResponseBytes: 65_536,
    });
    expect(outcome).toMatchObject({
      kind: "failure",
      reason: "unavailable",
    } satisfies Partial<UpstreamOutcome>);
  });
});

describe("backend credentials", () => {
  it("reads secrets from the environment and names only the variable when one is missing", () => {
    expect(resolveConfigValue("literal", {}, "x")).toBe("literal");
    expect(resolveConfigValue({ from_env: "K" }, { K: "v" }, "x")).toBe("v");
    expect(() => resolveConfigValue({ from_env: "K" }, { K: "" }, "headers.X")).toThrow(
      new MissingCredentialError("headers.X: environment variable K is not set"),
    );
  });

  type Seen = { authorization: string | undefined; body: string; apiKey: string | undefined };

  async function tokenServer(
    answer: (seen: Seen, count: number) => { status: number; body: unknown },
  ): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
    const seen: Seen[] = [];
    const server = createServer((request: IncomingMessage, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => (body += chunk));
      request.on("end", () => {
        const entry = {
          authorization: request.headers.authorization,
          body,
          apiKey: request.headers["x-api-key"] as string | undefined,
        };
        seen.push(entry);
        const { status, body: answerBody } = answer(entry, seen.length);
        response.writeHead(status, { "content-type": "application/json" });
        response.end(JSON.stringify(answerBody));
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/`,
      seen,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  it("fetches a client-credentials token with HTTP Basic, caches it and refreshes it near expiry", async () => {
    const server = await tokenServer((_seen, count) => ({
      status: 200,
      body: { access_token: `token-${count}`, token_type: "Bearer", expires_in: 120 },
    }));
    try {
      let clock = 0;
      const source = clientCredentialsTokenSource(
        {
          type: "oauth_client_credentials",
          token_url: server.url,
          client_id: "gateway id",
          client_secret: { from_env: "SECRET" },
          scope: "mcp.read",
        },
        { SECRET: "s3cr:t" },
        { now: () => clock },
      );
      const [a, b] = await Promise.all([source.token(), source.token()]);
      expect([a, b]).toEqual(["token-1", "token-1"]);
      expect(server.seen).toHaveLength(1);
      expect(server.seen[0]!.authorization).toBe(
        `Basic ${Buffer.from("gateway%20id:s3cr%3At").toString("base64")}`,
      );
      expect(new URLSearchParams(server.seen[0]!.body).get("grant_type")).toBe(
        "client_credentials",
      );
      expect(new URLSearchParams(server.seen[0]!.body).get("scope")).toBe("mcp.read");
      clock = 59_000;
      expect(await source.token()).toBe("token-1");
      clock = 61_000; // 60 s before its 120 s expiry
      expect(await source.token()).toBe("token-2");
      source.invalidate("token-2");
      expect(await source.token()).toBe("token-3");
    } finally {
      await server.close();
    }
  });

  it("refuses token answers that are errors, not Bearer or without a token", async () => {
    const answers = [
      { status: 401, body: { error: "invalid_client", error_description: "secret was s3cr:t" } },
      { status: 200, body: { access_token: "x", token_type: "mac" } },
      { status: 200, body: { token_type: "Bearer" } },
    ];
    const server = await tokenServer((_seen, count) => answers[count - 1]!);
    try {
      const auth = {
        type: "oauth_client_credentials" as const,
        token_url: server.url,
        client_id: "id",
        client_secret: { from_env: "SECRET" },
      };
      const source = () => clientCredentialsTokenSource(auth, { SECRET: "s3cr:t" });
      const first = await source()
        .token()
        .catch((error: unknown) => error);
      expect(first).toEqual(new TokenRequestError("token endpoint answered 401 (invalid_client)"));
      expect(String(first)).not.toContain("s3cr");
      await expect(source().token()).rejects.toThrow(/mac token, not Bearer/);
      await expect(source().token()).rejects.toThrow(/no access_token/);
    } finally {
      await server.close();
    }
  });

  it("adds the configured headers and the bearer token, fetching a new token once on 401", async () => {
    let tokens = 0;
    const tokensSource = {
      token: async () => `t${tokens}`,
      invalidate: () => {
        tokens += 1;
      },
    };
    const server = await tokenServer((seen) => ({
      status: seen.authorization === "Bearer t0" ? 401 : 200,
      body: {},
    }));
    try {
      const fetcher = credentialedFetch({
        headers: { "X-Api-Key": { from_env: "KEY" } },
        tokens: tokensSource,
        env: { KEY: "k1" },
      });
      const response = await fetcher(server.url, {
        method: "POST",
        headers: { authorization: "Bearer client-token" },
        body: "{}",
      });
      expect(response.status).toBe(200);
      expect(server.seen.map((s) => [s.authorization, s.apiKey])).toEqual([
        ["Bearer t0", "k1"],
        ["Bearer t1", "k1"],
      ]);
    } finally {
      await server.close();
    }
  });
});
