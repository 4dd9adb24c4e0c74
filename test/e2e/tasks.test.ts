import { EventEmitter, once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as StreamableHTTPClientTransportV2,
} from "@modelcontextprotocol/client";
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

describe("MCP tasks extension with @modelcontextprotocol/client 2.x pinned to 2026-07-28", () => {
  const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";
  const TaskSchema = z.looseObject({
    taskId: z.string(),
    status: z.enum(["working", "input_required", "completed", "failed", "cancelled"]),
    result: z.looseObject({ structuredContent: z.unknown().optional() }).optional(),
  });
  const EmptySchema = z.looseObject({});

  type Posted = { method: string; headers: Record<string, string>; status: number; body: string };

  /**
   * The 2.x client speaks 2026-07-28 with its own routing headers; the gateway answers through
   * the real ext-authz Check. The client does not yet model CreateTaskResult (`resultType:
   * "task"`), so the task id of a created task is read from the recorded response body.
   */
  async function connectV2(scope: string, user: User) {
    const posted: Posted[] = [];
    const client = new ClientV2(
      { name: "e2e-tasks-v2", version: "2.0.0" },
      {
        capabilities: { extensions: { [TASKS_EXTENSION]: {} } },
        versionNegotiation: { mode: { pin: "2026-07-28" } },
      },
    );
    const transport = new StreamableHTTPClientTransportV2(new URL(`${stack.url}/${scope}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${await token(user)}` } },
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        const body =
          typeof init?.body === "string" ? (JSON.parse(init.body) as { method?: string }) : {};
        posted.push({
          method: body.method ?? "",
          headers: Object.fromEntries(new Headers(init?.headers).entries()),
          status: response.status,
          body: await response.clone().text(),
        });
        return response;
      },
    });
    await client.connect(transport);
    return { client, posted };
  }

  async function startTask(
    client: ClientV2,
    posted: Posted[],
    params: { name: string; arguments: Record<string, unknown> },
  ): Promise<string> {
    // The client refuses the result type it does not know; the gateway has created the task.
    await expect(client.request({ method: "tools/call", params }, EmptySchema)).rejects.toThrow(
      /task/,
    );
    const created = posted.filter((entry) => entry.method === "tools/call").at(-1)!;
    expect(created.status).toBe(200);
    const message = JSON.parse(created.body) as { result: Record<string, unknown> };
    expect(message.result).toMatchObject({ resultType: "task", status: "working" });
    return message.result.taskId as string;
  }

  it("polls, updates and cancels a task through ext-authz, with the routing headers it requires", async () => {
    const { client, posted } = await connectV2("slow", ALICE);
    expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    const started = once(slowEvents, "started");
    const taskId = await startTask(client, posted, { name: "wait", arguments: {} });
    await started;

    const working = await client.request({ method: "tasks/get", params: { taskId } }, TaskSchema);
    expect(working).toMatchObject({ taskId, status: "working" });
    const get = posted.filter((entry) => entry.method === "tasks/get").at(-1)!;
    expect(get.headers).toMatchObject({
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tasks/get",
      "mcp-name": taskId,
    });

    // The gateway never asks a client for input, so an update is answered, not misrouted.
    await expect(
      client.request(
        { method: "tasks/update", params: { taskId, inputResponses: {} } },
        EmptySchema,
      ),
    ).rejects.toMatchObject({ code: -32602, message: "Task has no outstanding input requests" });

    const aborted = once(slowEvents, "aborted");
    await client.request({ method: "tasks/cancel", params: { taskId } }, EmptySchema);
    await aborted;
    const cancelled = await client.request({ method: "tasks/get", params: { taskId } }, TaskSchema);
    expect(cancelled.status).toBe("cancelled");
    // Every task request passed the real Check: no header mismatch anywhere.
    const taskRequests = posted.filter((entry) => entry.method.startsWith("tasks/"));
    expect(taskRequests.map((entry) => entry.status)).toEqual([200, 200, 200, 200]);
    await client.close();
  });

  it("retrieves a finished task's result inline in tasks/get, and hides it from others", async () => {
    const alice = await connectV2("docs", ALICE);
    const taskId = await startTask(alice.client, alice.posted, {
      name: "generate_document",
      arguments: { format: "html", title: "Quarterly", content: "# Hello\n\nWorld" },
    });
    let task = await alice.client.request({ method: "tasks/get", params: { taskId } }, TaskSchema);
    // Polling is how this revision learns a task's end (the tool takes milliseconds; bounded).
    for (let polls = 0; task.status === "working" && polls < 200; polls += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      task = await alice.client.request({ method: "tasks/get", params: { taskId } }, TaskSchema);
    }
    expect(task.status).toBe("completed");
    expect(task.result?.structuredContent).toMatchObject({ format: "html" });

    const bob = await connectV2("docs", BOB);
    await expect(
      bob.client.request({ method: "tasks/get", params: { taskId } }, TaskSchema),
    ).rejects.toMatchObject({ code: -32602 });
    expect((await taskRows(taskId)).map((row) => row.subject)).not.toContain("bob");
    await alice.client.close();
    await bob.client.close();
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
