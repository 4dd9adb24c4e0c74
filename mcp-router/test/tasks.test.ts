import { once } from "node:events";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildOpenApiDocument } from "../src/openapi.ts";
import { effectiveTaskSupport, withTaskSupport } from "../src/tasks/task-support.ts";
import { jobView, storedError } from "../src/tasks/task-wire.ts";
import { ALICE, openSession, startRouterFixture, verdictSigningFetch } from "./router-harness.ts";
import type { RouterFixture } from "./router-harness.ts";
import {
  ALICE_ELSEWHERE,
  MALLORY,
  eventually,
  expectTaskShape,
  legacyCall,
  legacyRpc,
  modernCall,
  rest,
  tasksConfig,
  TASKS_EXTENSION,
} from "./tasks-harness.ts";

let fixture: RouterFixture;
let endpoint: string;
let sessionId: string;

beforeAll(async () => {
  fixture = await startRouterFixture({ config: (url) => tasksConfig(url) });
  endpoint = `${fixture.router.url}/calc/mcp`;
  sessionId = await openSession(endpoint);
});
afterAll(async () => {
  await fixture.close();
});

async function createLegacyTask(
  args: Record<string, unknown>,
  options: { tool?: string; ttl?: number } = {},
): Promise<Record<string, unknown>> {
  const answer = await legacyCall(endpoint, sessionId, "tools/call", {
    name: options.tool ?? "slow",
    arguments: args,
    task: options.ttl === undefined ? {} : { ttl: options.ttl },
  });
  expect(answer.error).toBeUndefined();
  const task = answer.result?.task;
  expectTaskShape(task);
  return task;
}

describe("2025-11-25 tasks through the SDK 1.x client's experimental API", () => {
  it("creates, polls and fetches a task result; lists and reads it", async () => {
    const client = new Client({ name: "sdk1-tasks", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(endpoint), {
      fetch: verdictSigningFetch(ALICE, "calc"),
    });
    await client.connect(transport);
    expect(client.getServerCapabilities()?.tasks).toEqual({
      list: {},
      cancel: {},
      requests: { tools: { call: {} } },
    });
    const { tools } = await client.listTools();
    const support = Object.fromEntries(tools.map((t) => [t.name, t.execution?.taskSupport]));
    expect(support).toMatchObject({ slow: "optional", big: "required", add: undefined });

    const seen: string[] = [];
    let taskId = "";
    let result: unknown;
    const stream = client.experimental.tasks.callToolStream(
      { name: "slow", arguments: { ms: 250 } },
      CallToolResultSchema,
      { task: { ttl: 30_000 } },
    );
    for await (const message of stream) {
      seen.push(message.type);
      if (message.type === "taskCreated") taskId = message.task.taskId;
      if (message.type === "result") result = message.result;
      if (message.type === "error") throw message.error;
    }
    expect(seen[0]).toBe("taskCreated");
    expect(seen).toContain("taskStatus");
    expect(seen.at(-1)).toBe("result");
    expect(result).toMatchObject({
      content: [{ type: "text", text: "done" }],
      _meta: { "io.modelcontextprotocol/related-task": { taskId } },
    });

    const task = await client.experimental.tasks.getTask(taskId);
    expect(task).toMatchObject({ taskId, status: "completed", ttl: 30_000, pollInterval: 100 });
    const listed = await client.experimental.tasks.listTasks();
    expect(listed.tasks.map((t) => t.taskId)).toContain(taskId);
    // A tool that requires tasks cannot be called plainly (the client checks the listing).
    await expect(client.callTool({ name: "big", arguments: {} })).rejects.toThrow(/task/);
    await client.close();
  });
});

describe("2025-11-25 tasks on the wire", () => {
  it("polls a slow call to completion, streams the status, audits the lifecycle", async () => {
    const task = await createLegacyTask({ ms: 400 }, { ttl: 20_000 });
    expect(task).toMatchObject({ status: "working", ttl: 20_000, pollInterval: 100 });
    const taskId = task.taskId as string;

    const polled = await legacyCall(endpoint, sessionId, "tasks/get", { taskId });
    expect(polled.result).toMatchObject({ taskId, status: "working" });

    // tasks/result blocks; as a stream it ends with the status notification, then the result.
    const messages = await legacyRpc(endpoint, sessionId, "tasks/result", { taskId });
    expect(messages.map((m) => m.method ?? "response")).toEqual([
      "notifications/tasks/status",
      "response",
    ]);
    expect(messages[0]?.params).toMatchObject({ taskId, status: "completed" });
    expect(messages[1]?.result).toMatchObject({
      content: [{ type: "text", text: "done" }],
      _meta: { "io.modelcontextprotocol/related-task": { taskId } },
    });
    // Once terminal it answers at once, as plain JSON.
    const again = await legacyRpc(endpoint, sessionId, "tasks/result", { taskId });
    expect(again).toHaveLength(1);
    expect(again[0]?.result).toMatchObject({ content: [{ type: "text", text: "done" }] });

    const rows = (await fixture.auditRows({ kind: "task" })).filter((r) => r.task_id === taskId);
    expect(rows.map((r) => [r.outcome, r.reason])).toEqual([
      ["created", null],
      ["ok", null],
      ["completed", null],
    ]);
    expect(rows[0]).toMatchObject({
      subject: "alice",
      tenant: "acme",
      tool: "slow",
      scope: "calc",
    });
    expect(rows[2]!.latency_ms).toBeGreaterThanOrEqual(300);
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(1);
  });

  it("cancels a running task: the backend call is aborted, later cancels are -32602", async () => {
    const called = once(fixture.backend.events, "call");
    const task = await createLegacyTask({ ms: 60_000 });
    const taskId = task.taskId as string;
    await called;
    const aborted = once(fixture.backend.events, "client-closed");
    const cancelled = await legacyCall(endpoint, sessionId, "tasks/cancel", { taskId });
    expect(cancelled.result).toMatchObject({ taskId, status: "cancelled" });
    await aborted;

    const twice = await legacyCall(endpoint, sessionId, "tasks/cancel", { taskId });
    expect(twice.error?.code).toBe(-32602);
    const result = await legacyCall(endpoint, sessionId, "tasks/result", { taskId });
    expect(result.error).toMatchObject({ code: -32602, message: expect.stringMatching(/cancel/) });
    await eventually(
      async () => (fixture.router.tasks.runningCount() === 0 ? true : undefined),
      "run end",
    );
    const rows = (await fixture.auditRows({ kind: "task" })).filter((r) => r.task_id === taskId);
    expect(rows.map((r) => r.outcome)).toEqual(
      expect.arrayContaining(["created", "cancelled", "cancelled"]),
    );
    expect(
      (
        await fixture.database.db
          .selectFrom("tasks")
          .select("status")
          .where("id", "=", taskId)
          .executeTakeFirstOrThrow()
      ).status,
    ).toBe("cancelled");
  });

  it("stores a tool-level failure as a completed task with isError, a gateway failure as failed", async () => {
    const failing = await createLegacyTask({}, { tool: "fail" });
    const failResult = await legacyCall(endpoint, sessionId, "tasks/result", {
      taskId: failing.taskId,
    });
    expect(failResult.result).toMatchObject({ isError: true });
    const completed = await legacyCall(endpoint, sessionId, "tasks/get", {
      taskId: failing.taskId,
    });
    expect(completed.result).toMatchObject({ status: "completed" });

    // Over tasks.max_result_bytes (20000): the call fails, the task is failed with that error.
    const big = await createLegacyTask({ bytes: 50_000 }, { tool: "big" });
    const bigResult = await legacyCall(endpoint, sessionId, "tasks/result", { taskId: big.taskId });
    expect(bigResult.error).toMatchObject({
      code: -32010,
      data: { code: "GW_UPSTREAM_RESPONSE_TOO_LARGE" },
    });
    const failed = await legacyCall(endpoint, sessionId, "tasks/get", { taskId: big.taskId });
    expect(failed.result).toMatchObject({ status: "failed", statusMessage: expect.any(String) });
  });

  it("enforces per-tool task support with -32601, and validates params", async () => {
    const forbidden = await legacyCall(endpoint, sessionId, "tools/call", {
      name: "add",
      arguments: { a: 1, b: 2 },
      task: {},
    });
    expect(forbidden.error).toMatchObject({ code: -32601 });
    const required = await legacyCall(endpoint, sessionId, "tools/call", {
      name: "big",
      arguments: {},
    });
    expect(required.error).toMatchObject({ code: -32601 });
    const rejected = await fixture.auditRows({ tool: "big" });
    expect(rejected.some((r) => r.reason === "task_support")).toBe(true);

    for (const task of ["soon", [], { ttl: -1 }, { ttl: 1.5 }]) {
      const bad = await legacyCall(endpoint, sessionId, "tools/call", {
        name: "slow",
        arguments: {},
        task,
      });
      expect(bad.error?.code).toBe(-32602);
    }
    const unknown = await legacyCall(endpoint, sessionId, "tools/call", {
      name: "nope",
      arguments: {},
      task: {},
    });
    expect(unknown.error).toMatchObject({ code: -32602, data: { code: "GW_UNKNOWN_TOOL" } });
    for (const params of [{}, { taskId: 7 }, { taskId: "" }]) {
      const bad = await legacyCall(endpoint, sessionId, "tasks/get", params);
      expect(bad.error?.code).toBe(-32602);
    }
    const badCursor = await legacyCall(endpoint, sessionId, "tasks/list", { cursor: "nope" });
    expect(badCursor.error?.code).toBe(-32602);
    // Plain calls to an optional tool still work.
    const plain = await legacyCall(endpoint, sessionId, "tools/call", {
      name: "slow",
      arguments: { ms: 1 },
    });
    expect(plain.result).toMatchObject({ content: [{ type: "text", text: "done" }] });
  });

  it("treats another user's task id exactly like a missing one", async () => {
    const task = await createLegacyTask({ ms: 60_000 });
    const taskId = task.taskId as string;
    const missing = await legacyCall(endpoint, sessionId, "tasks/get", { taskId: "x".repeat(32) });
    for (const stranger of [MALLORY, ALICE_ELSEWHERE]) {
      const strangerSession = await openSession(endpoint, stranger);
      for (const method of ["tasks/get", "tasks/result", "tasks/cancel"]) {
        const answer = await legacyCall(endpoint, strangerSession, method, { taskId }, stranger);
        expect(answer.error).toEqual(missing.error);
      }
      const list = await legacyCall(endpoint, strangerSession, "tasks/list", {}, stranger);
      expect(
        (list.result?.tasks as unknown[]).map((t) => (t as { taskId: string }).taskId),
      ).not.toContain(taskId);
      const job = await rest(`${fixture.router.url}/mcp/jobs/${taskId}`, "GET", {
        identity: stranger,
      });
      expect(job.status).toBe(404);
      const cancel = await rest(`${fixture.router.url}/mcp/jobs/${taskId}`, "DELETE", {
        identity: stranger,
      });
      expect(cancel.status).toBe(404);
    }
    // Still running for its owner.
    const own = await legacyCall(endpoint, sessionId, "tasks/get", { taskId });
    expect(own.result).toMatchObject({ status: "working" });
    await legacyCall(endpoint, sessionId, "tasks/cancel", { taskId });
  });

  it("bounds the ttl by configuration and forgets expired tasks", async () => {
    const capped = await createLegacyTask({ ms: 1 }, { ttl: 10_000_000 });
    expect(capped.ttl).toBe(120_000);
    const short = await createLegacyTask({ ms: 1 }, { ttl: 1 });
    expect(short.ttl).toBe(1_000);
    const taskId = short.taskId as string;
    await eventually(async () => {
      const answer = await legacyCall(endpoint, sessionId, "tasks/get", { taskId });
      return answer.error === undefined ? undefined : answer.error;
    }, "the task to expire");
    expect(
      await fixture.database.db
        .selectFrom("tasks")
        .select("id")
        .where("id", "=", taskId)
        .executeTakeFirst(),
    ).toBeDefined();
    const swept = await fixture.router.tasks.sweep();
    expect(swept.purged).toBeGreaterThanOrEqual(1);
    expect(
      await fixture.database.db
        .selectFrom("tasks")
        .select("id")
        .where("id", "=", taskId)
        .executeTakeFirst(),
    ).toBeUndefined();
  });
});

describe("task run time", () => {
  it("stops a backend call at tasks.max_run_ms even when the task lives much longer", async () => {
    const bounded = await startRouterFixture({
      config: (url) => tasksConfig(url, { maxRunMs: 300 }),
    });
    try {
      const boundedEndpoint = `${bounded.router.url}/calc/mcp`;
      const session = await openSession(boundedEndpoint);
      const aborted = once(bounded.backend.events, "client-closed");
      const created = await legacyCall(boundedEndpoint, session, "tools/call", {
        name: "slow",
        arguments: { ms: 60_000 },
        task: { ttl: 60_000 },
      });
      const taskId = (created.result?.task as { taskId: string }).taskId;
      const result = await legacyCall(boundedEndpoint, session, "tasks/result", { taskId });
      expect(result.error).toMatchObject({ data: { code: "GW_UPSTREAM_TIMEOUT" } });
      await aborted;
      const task = await legacyCall(boundedEndpoint, session, "tasks/get", { taskId });
      expect(task.result).toMatchObject({ status: "failed", ttl: 60_000 });
    } finally {
      await bounded.close();
    }
  });
});

describe("2026-07-28 tasks extension", () => {
  it("advertises the extension and answers tools/call with a task when the request declares it", async () => {
    const discover = await modernCall(endpoint, "server/discover");
    expect(discover.message.result).toMatchObject({
      capabilities: { extensions: { [TASKS_EXTENSION]: {} } },
    });

    const created = await modernCall(
      endpoint,
      "tools/call",
      { name: "slow", arguments: { ms: 200 } },
      { tasks: true },
    );
    expect(created.status).toBe(200);
    const result = created.message.result!;
    expect(result).toMatchObject({
      resultType: "task",
      status: "working",
      ttlMs: 60_000,
      pollIntervalMs: 100,
    });
    expect(result.result).toBeUndefined();
    const taskId = result.taskId as string;

    const done = await eventually(async () => {
      const got = await modernCall(endpoint, "tasks/get", { taskId });
      return got.message.result?.status === "completed" ? got.message.result : undefined;
    }, "the task to complete");
    expect(done).toMatchObject({
      resultType: "complete",
      taskId,
      result: { content: [{ type: "text", text: "done" }] },
    });

    // Without the extension an optional tool runs plainly; a required one is refused.
    const plain = await modernCall(endpoint, "tools/call", { name: "slow", arguments: { ms: 1 } });
    expect(plain.message.result).toMatchObject({
      resultType: "complete",
      content: [{ text: "done" }],
    });
    // SEP-2663: -32021 (HTTP 400) naming the extension to declare.
    const refused = await modernCall(endpoint, "tools/call", { name: "big", arguments: {} });
    expect(refused.status).toBe(400);
    expect(refused.message.error).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
    });
    // With it, a forbidden tool runs plainly too: the server decides.
    const forbidden = await modernCall(
      endpoint,
      "tools/call",
      { name: "add", arguments: { a: 1, b: 1 } },
      { tasks: true },
    );
    expect(forbidden.message.result).toMatchObject({ resultType: "complete" });
  });

  it("refuses the extension's methods to a client that does not declare it (-32021)", async () => {
    for (const method of ["tasks/get", "tasks/cancel", "tasks/update"]) {
      const refused = await modernCall(
        endpoint,
        method,
        { taskId: "t-1", inputResponses: {} },
        { tasks: false },
      );
      expect(refused.status).toBe(400);
      expect(refused.message.error?.code).toBe(-32021);
    }
  });

  it("cancels, reports failures inline, refuses updates, and has no tasks/result or tasks/list", async () => {
    const called = once(fixture.backend.events, "call");
    const created = await modernCall(
      endpoint,
      "tools/call",
      { name: "slow", arguments: { ms: 60_000 } },
      { tasks: true },
    );
    const taskId = created.message.result!.taskId as string;
    await called;
    const update = await modernCall(endpoint, "tasks/update", { taskId, inputResponses: {} });
    expect(update.message.error?.code).toBe(-32602);
    const badUpdate = await modernCall(endpoint, "tasks/update", { taskId });
    expect(badUpdate.message.error?.code).toBe(-32602);
    const cancel = await modernCall(endpoint, "tasks/cancel", { taskId });
    expect(cancel.message.result).toEqual({ resultType: "complete" });
    const got = await modernCall(endpoint, "tasks/get", { taskId });
    expect(got.message.result).toMatchObject({ status: "cancelled", resultType: "complete" });
    // Cancelling a terminal task is the same empty ack (SEP-2663: idempotent); unknown ids stay -32602.
    const again = await modernCall(endpoint, "tasks/cancel", { taskId });
    expect(again.message.result).toEqual({ resultType: "complete" });
    const unknown = await modernCall(endpoint, "tasks/cancel", { taskId: "no-such-task" });
    expect(unknown.message.error?.code).toBe(-32602);

    const big = await modernCall(
      endpoint,
      "tools/call",
      { name: "big", arguments: { bytes: 50_000 } },
      { tasks: true },
    );
    const bigId = big.message.result!.taskId as string;
    const failed = await eventually(async () => {
      const polled = await modernCall(endpoint, "tasks/get", { taskId: bigId });
      return polled.message.result?.status === "failed" ? polled.message.result : undefined;
    }, "the task to fail");
    expect(failed.error).toMatchObject({ code: -32010 });

    for (const method of ["tasks/result", "tasks/list"]) {
      const gone = await modernCall(endpoint, method, { taskId });
      expect(gone.status).toBe(404);
      expect(gone.message.error?.code).toBe(-32601);
    }
    const stranger = await modernCall(endpoint, "tasks/get", { taskId }, { identity: MALLORY });
    expect(stranger.message.error).toMatchObject({
      code: -32602,
      data: { code: "GW_TASK_NOT_FOUND" },
    });
    // The Mcp-Name header must name the task in the body.
    const mismatch = await modernCall(endpoint, "tasks/get", { taskId }, { name: "other" });
    expect(mismatch.message.error?.code).toBe(-32020);
  });
});

describe("REST jobs", () => {
  const invokeUrl = () => `${fixture.router.url}/mcp/invoke`;

  it("runs an async invoke as a job: 202, polled to its result, then 409 on DELETE", async () => {
    const accepted = await rest(invokeUrl(), "POST", {
      body: { tool_name: "calc.slow", arguments: { ms: 200 }, async: true, ttl_ms: 30_000 },
    });
    expect(accepted.status).toBe(202);
    const jobId = accepted.body.job_id as string;
    expect(accepted.body).toMatchObject({
      status: "working",
      status_url: `/mcp/jobs/${jobId}`,
      tool_name: "calc.slow",
    });
    expect(accepted.headers.get("location")).toBe(`/mcp/jobs/${jobId}`);
    const statusUrl = `${fixture.router.url}${accepted.body.status_url as string}`;

    const done = await eventually(async () => {
      // Either verdict form ext-authz issues for jobs: the route's scope or "rest".
      const polled = await rest(statusUrl, "GET", {
        identity: { ...ALICE, tools: ["calc.slow", "calc.add"] },
        scope: "rest",
      });
      expect(polled.status).toBe(200);
      return polled.body.status === "completed" ? polled.body : undefined;
    }, "the job to complete");
    expect(done).toMatchObject({
      job_id: jobId,
      is_error: false,
      result: { content: [{ type: "text", text: "done" }] },
    });
    const late = await rest(statusUrl, "DELETE");
    expect(late.status).toBe(409);
    // A "rest" verdict without this tool does not see the job.
    const narrow = await rest(statusUrl, "GET", {
      identity: { ...ALICE, tools: ["calc.add"] },
      scope: "rest",
    });
    expect(narrow.status).toBe(404);
  });

  it("cancels a running job with DELETE", async () => {
    const called = once(fixture.backend.events, "call");
    const accepted = await rest(invokeUrl(), "POST", {
      body: { tool_name: "calc.slow", arguments: { ms: 60_000 }, async: true },
    });
    await called;
    const aborted = once(fixture.backend.events, "client-closed");
    const statusUrl = `${fixture.router.url}/mcp/jobs/${accepted.body.job_id as string}`;
    const cancelled = await rest(statusUrl, "DELETE");
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: "cancelled" });
    await aborted;
    expect((await rest(statusUrl, "GET")).body).toMatchObject({ status: "cancelled" });
  });

  it("refuses bad job requests", async () => {
    const forbidden = await rest(invokeUrl(), "POST", {
      body: { tool_name: "calc.add", arguments: { a: 1, b: 2 }, async: true },
    });
    expect(forbidden.status).toBe(400);
    const required = await rest(invokeUrl(), "POST", { body: { tool_name: "calc.big" } });
    expect(required.status).toBe(400);
    const ttlWithoutAsync = await rest(invokeUrl(), "POST", {
      body: { tool_name: "calc.add", ttl_ms: 5 },
    });
    expect(ttlWithoutAsync.status).toBe(400);
    for (const ttl of [0, -1, 1.5, "1"]) {
      const bad = await rest(invokeUrl(), "POST", {
        body: { tool_name: "calc.slow", async: true, ttl_ms: ttl },
      });
      expect(bad.status).toBe(400);
    }
    const unknown = await rest(invokeUrl(), "POST", {
      body: { tool_name: "calc.nope", async: true },
    });
    expect(unknown.status).toBe(404);
    expect((await rest(`${fixture.router.url}/mcp/jobs/${"a".repeat(32)}`, "GET")).status).toBe(
      404,
    );
    expect((await rest(`${fixture.router.url}/mcp/jobs/bad%20id`, "GET")).status).toBe(404);
    expect((await rest(`${fixture.router.url}/mcp/jobs/abc`, "POST", { body: {} })).status).toBe(
      405,
    );
    const noVerdict = await fetch(`${fixture.router.url}/mcp/jobs/${"a".repeat(32)}`);
    expect(noVerdict.status).toBe(403);
  });

  it("documents the jobs API in OpenAPI", () => {
    const doc = buildOpenApiDocument(fixture.config.tools, "1") as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(doc.paths["/mcp/jobs/{job_id}"]!)).toEqual(
      expect.arrayContaining(["get", "delete"]),
    );
    expect(doc.paths["/mcp/invoke"]).toBeDefined();
  });
});

describe("task wire helpers", () => {
  it("derives task support from tools.yaml first, then the backend definition", () => {
    expect(effectiveTaskSupport(undefined, { execution: { taskSupport: "required" } })).toBe(
      "required",
    );
    expect(
      effectiveTaskSupport(
        { task_support: "forbidden" },
        { execution: { taskSupport: "optional" } },
      ),
    ).toBe("forbidden");
    expect(effectiveTaskSupport(undefined, { execution: { taskSupport: "sometimes" } })).toBe(
      "forbidden",
    );
    expect(effectiveTaskSupport(undefined, { execution: "optional" })).toBe("forbidden");
    expect(withTaskSupport({ name: "a" }, undefined)).toEqual({ name: "a" });
    expect(
      withTaskSupport(
        { name: "a", execution: { taskSupport: "optional" } },
        { task_support: "forbidden" },
      ),
    ).toEqual({ name: "a", execution: { taskSupport: "forbidden" } });
  });

  it("turns anything stored as an error into a JSON-RPC error object", () => {
    const row = {
      id: "t",
      owner_subject: "a",
      owner_tenant: "",
      scope: "calc",
      tool: "slow",
      status: "failed" as const,
      status_message: null,
      created_at: new Date(0),
      updated_at: new Date(0),
      ttl_ms: 1000,
      expires_at: new Date(1000),
      poll_interval_ms: null,
      request: null,
      result: null,
      lease_owner: null,
      lease_expires_at: null,
      request_id: null,
    };
    for (const error of [null, "boom", { code: "lease_expired" }, { code: 1 }, [1]]) {
      expect(storedError({ ...row, error })).toMatchObject({
        code: -32603,
        data: { code: "GW_INTERNAL" },
      });
    }
    expect(
      jobView({
        ...row,
        error: { code: -32008, message: "slow", data: { code: "GW_UPSTREAM_TIMEOUT" } },
      }),
    ).toMatchObject({
      error: { code: "GW_UPSTREAM_TIMEOUT", message: "slow" },
    });
  });
});
