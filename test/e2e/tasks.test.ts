import { EventEmitter, once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { z } from "zod";
import { createLogger } from "../../contract/src/log.ts";
import { signDevToken } from "../../dev/token-cli.ts";
import { startEmbeddedStack, type EmbeddedStack } from "../../dev/embedded-stack.ts";
import { createToolServer } from "../../tools/kit/src/tool-server.ts";
import { waitUntilAbortedTool } from "./stack-fixture.ts";

/**
 * Long-running tool calls through the whole gateway (ext-authz deciding on real JWTs, the router in
 * direct mode, real tool servers, PGlite): MCP tasks with the official 1.x SDK client and REST
 * jobs. A `slow` scope adds a tool that runs until aborted and whose synchronous timeout is short.
 */

type User = { user: string; roles: string[]; tenant: string };
const ALICE: User = { user: "alice", roles: ["developer"], tenant: "acme" };
const BOB: User = { user: "bob", roles: ["analyst"], tenant: "acme" };
const CAROL: User = { user: "carol", roles: ["auditor"], tenant: "acme" };
const SLOW_TIMEOUT_MS = 400;
const REPO_CONFIG_DIR = fileURLToPath(new URL("../../config/", import.meta.url));
const quietLogger = createLogger({ name: "e2e-tasks", level: "silent" });

let stack: EmbeddedStack;
let configDir: string;
let env: Record<string, string>;
const slowEvents = new EventEmitter<{ started: []; aborted: [] }>();
const clients: Client[] = [];

async function writeConfig(dir: string): Promise<void> {
  const tools = parse(await readFile(join(REPO_CONFIG_DIR, "tools.yaml"), "utf8")) as {
    tasks: Record<string, number>;
    scopes: Record<string, unknown>;
  };
  tools.tasks = { ...tools.tasks, poll_interval_ms: 100 };
  tools.scopes.slow = {
    description: "A tool that runs until aborted",
    backend_url: "${SLOW_URL}",
    timeout_ms: SLOW_TIMEOUT_MS,
    tools: [{ name: "wait", enabled: true, task_support: "optional" }],
  };
  const policy = parse(await readFile(join(REPO_CONFIG_DIR, "policy.yaml"), "utf8")) as {
    roles: Record<string, { allow: string[] }>;
  };
  policy.roles.developer!.allow.push("slow.*");
  await writeFile(join(dir, "tools.yaml"), stringify(tools));
  await writeFile(join(dir, "policy.yaml"), stringify(policy));
}

beforeAll(async () => {
  configDir = await mkdtemp(join(tmpdir(), "mcp-gateway-tasks-"));
  await writeConfig(configDir);
  env = {
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    HOST: "127.0.0.1",
    PORT: "0",
    EXT_AUTHZ_PORT: "0",
    CONFIG_DIR: configDir,
    JWT_SECRET_KEY: "e2e-tasks-jwt-secret-0123456789abcdefghijklmn",
    GATEWAY_VERDICT_KEY: "e2e-tasks-verdict-key-0123456789abcdefghijkl",
    TOOL_GATEWAY_SHARED_SECRET: "e2e-tasks-tool-secret-0123456789abcdefghijk",
  };
  const waitTool = waitUntilAbortedTool(slowEvents);
  stack = await startEmbeddedStack({
    env,
    inMemoryDatabase: true,
    extraBackends: {
      SLOW_URL: createToolServer({
        name: "slow",
        version: "1.0.0",
        tools: [waitTool],
        auth: { secret: env.TOOL_GATEWAY_SHARED_SECRET! },
        logger: quietLogger,
      }),
    },
    logger: quietLogger,
  });
});

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  await stack?.close();
  if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
});

const token = (user: User) =>
  signDevToken({ user: user.user, roles: user.roles, tenant: user.tenant, ttlSeconds: 600 }, env);

async function connect(scope: string, user: User): Promise<Client> {
  const client = new Client({ name: "e2e-tasks", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${stack.url}/${scope}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${await token(user)}` } },
  });
  await client.connect(transport);
  clients.push(client);
  return client;
}

async function taskRows(taskId: string) {
  await stack.audit.flush();
  return stack.database.db
    .selectFrom("audit_events")
    .selectAll()
    .where("task_id", "=", taskId)
    .orderBy("id")
    .execute();
}

describe("MCP tasks with the SDK 1.x client", () => {
  it("runs generate_document as a task end to end and audits it", async () => {
    const client = await connect("docs", ALICE);
    expect(client.getServerCapabilities()?.tasks?.requests?.tools?.call).toEqual({});
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === "generate_document")?.execution?.taskSupport).toBe(
      "optional",
    );

    let taskId = "";
    let result: z.infer<typeof CallToolResultSchema> | undefined;
    for await (const message of client.experimental.tasks.callToolStream(
      {
        name: "generate_document",
        arguments: { format: "html", title: "Quarterly", content: "# Hello\n\nWorld" },
      },
      CallToolResultSchema,
      { task: { ttl: 60_000 } },
    )) {
      if (message.type === "taskCreated") taskId = message.task.taskId;
      if (message.type === "result") result = message.result;
      if (message.type === "error") throw message.error;
    }
    expect(taskId).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(result?.isError).not.toBe(true);
    expect(result?.structuredContent).toMatchObject({ format: "html" });

    const rows = await taskRows(taskId);
    const lifecycle = rows.filter((row) => ["created", "completed"].includes(row.outcome));
    expect(lifecycle.map((row) => row.outcome)).toEqual(["created", "completed"]);
    expect(lifecycle[0]).toMatchObject({
      source: "router",
      kind: "task",
      subject: "alice",
      tenant: "acme",
      scope: "docs",
      tool: "generate_document",
    });
    // Every lifecycle and invocation row carries the creating request id.
    await stack.audit.flush();
    expect(rows.every((row) => row.request_id === rows[0]!.request_id)).toBe(true);
  });

  it("keeps a call running past its synchronous timeout as a task, and cancels it", async () => {
    const client = await connect("slow", ALICE);
    // Plainly, the call is cut at the scope's timeout.
    const plain = client.callTool({ name: "wait", arguments: {} });
    await expect(plain).rejects.toThrow(/timed out/i);

    const started = once(slowEvents, "started");
    const created = await client.request(
      {
        method: "tools/call",
        params: { name: "wait", arguments: {}, task: { ttl: 60_000 } },
      },
      z.object({ task: z.object({ taskId: z.string(), status: z.string() }) }).loose(),
    );
    const { taskId } = created.task;
    await started;
    // The property under test is time itself: well past the synchronous timeout, still working.
    await new Promise((resolve) => setTimeout(resolve, SLOW_TIMEOUT_MS * 2));
    expect((await client.experimental.tasks.getTask(taskId)).status).toBe("working");
    const aborted = once(slowEvents, "aborted");
    const cancelled = await client.experimental.tasks.cancelTask(taskId);
    expect(cancelled.status).toBe("cancelled");
    await aborted;
    await expect(client.experimental.tasks.cancelTask(taskId)).rejects.toThrow();
  });

  it("hides a task from every other user", async () => {
    const alice = await connect("docs", ALICE);
    const bob = await connect("docs", BOB);
    const created = await alice.request(
      {
        method: "tools/call",
        params: {
          name: "generate_document",
          arguments: { format: "html", title: "Mine", content: "text" },
          task: {},
        },
      },
      z.object({ task: z.object({ taskId: z.string() }) }).loose(),
    );
    const { taskId } = created.task;
    const bobSees = await bob.experimental.tasks.getTask(taskId).catch((error: unknown) => error);
    const missing = await bob.experimental.tasks
      .getTask("A".repeat(32))
      .catch((error: unknown) => error);
    expect(bobSees).toBeInstanceOf(Error);
    expect((bobSees as Error).message).toBe((missing as Error).message);
    expect((await bob.experimental.tasks.listTasks()).tasks).toEqual([]);
  });
});

describe("REST jobs through ext-authz", () => {
  async function call(
    method: string,
    path: string,
    user: User | null,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${stack.url}${path}`, {
      method,
      headers: {
        ...(user === null ? {} : { authorization: `Bearer ${await token(user)}` }),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>),
    };
  }

  it("accepts an async invoke, serves the job to its owner only, then the result", async () => {
    const accepted = await call("POST", "/mcp/invoke", ALICE, {
      tool_name: "docs.generate_document",
      arguments: { format: "html", title: "Job", content: "# Job" },
      async: true,
    });
    expect(accepted.status).toBe(202);
    const statusUrl = accepted.body.status_url as string;
    expect(statusUrl).toBe(`/mcp/jobs/${accepted.body.job_id as string}`);

    expect((await call("GET", statusUrl, null)).status).toBe(401);
    expect((await call("GET", statusUrl, BOB)).status).toBe(404);
    expect((await call("GET", statusUrl, CAROL)).status).toBe(404);
    expect((await call("DELETE", statusUrl, BOB)).status).toBe(404);

    const deadline = Date.now() + 10_000;
    let job = await call("GET", statusUrl, ALICE);
    while (job.body.status === "working" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Number(job.body.poll_interval_ms)));
      job = await call("GET", statusUrl, ALICE);
    }
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({
      status: "completed",
      tool_name: "docs.generate_document",
      is_error: false,
      result: { structuredContent: { format: "html" } },
    });
    expect((await call("DELETE", statusUrl, ALICE)).status).toBe(409);
  });

  it("cancels a running job, aborting the tool call", async () => {
    const started = once(slowEvents, "started");
    const accepted = await call("POST", "/mcp/invoke", ALICE, {
      tool_name: "slow.wait",
      arguments: {},
      async: true,
    });
    expect(accepted.status).toBe(202);
    await started;
    const aborted = once(slowEvents, "aborted");
    const cancelled = await call("DELETE", accepted.body.status_url as string, ALICE);
    expect(cancelled).toMatchObject({ status: 200, body: { status: "cancelled" } });
    await aborted;
  });
});
