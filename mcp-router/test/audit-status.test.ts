import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { META_KEY } from "../../contract/src/mcp-wire.ts";
import type { AuditEventRow } from "../../store/src/schema.ts";
import {
  ALICE,
  BOB,
  openSession,
  postMcp,
  readMessages,
  sessionHeaders,
  startRouterFixture,
  testConfig,
  verdictFor,
  type Identity,
  type RouterFixture,
} from "./router-harness.ts";
import { eventually, MODERN, rest, tasksConfig, TASKS_EXTENSION } from "./tasks-harness.ts";

/**
 * The audit `status` is the HTTP status the client was answered with: REST errors have their own
 * statuses (502, 504, 404, …) where MCP carries JSON-RPC errors on 200, and a call that answers
 * nobody (cancelled, a task's background run) has none.
 */

async function rowsOf(fixture: RouterFixture, response: Response): Promise<AuditEventRow[]> {
  const requestId = response.headers.get(HEADER.requestId);
  expect(requestId).toBeTruthy();
  return fixture.auditRows({ request_id: requestId! });
}

async function onlyRowOf(fixture: RouterFixture, response: Response): Promise<AuditEventRow> {
  const rows = await rowsOf(fixture, response);
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

const toolsCall = (id: number, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args },
});

describe("audit status of tool calls", () => {
  let fixture: RouterFixture;
  let endpoint: string;
  let aliceSession: string;

  beforeAll(async () => {
    fixture = await startRouterFixture({ config: (url) => testConfig(url, { timeoutMs: 300 }) });
    endpoint = `${fixture.router.url}/calc/mcp`;
    aliceSession = await openSession(endpoint);
  });
  afterAll(async () => {
    await fixture.close();
  });

  async function invoke(
    body: unknown,
    identity: Identity = ALICE,
    scope = "calc",
  ): Promise<Response> {
    const text = JSON.stringify(body);
    return fetch(`${fixture.router.url}/mcp/invoke`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [HEADER.verdict]: verdictFor(identity, scope, text),
      },
      body: text,
    });
  }

  it.each([
    {
      name: "a timeout",
      status: 504,
      body: { tool_name: "calc.slow", arguments: { ms: 5_000 } },
      identity: ALICE,
      scope: "calc",
      outcome: "timeout",
      code: "GW_UPSTREAM_TIMEOUT",
    },
    {
      name: "an unreachable backend",
      status: 502,
      body: { tool_name: "other.add" },
      identity: { ...ALICE, tools: ["add"] },
      scope: "other",
      outcome: "upstream_error",
      code: "GW_UPSTREAM_UNAVAILABLE",
    },
    {
      name: "a disabled tool",
      status: 404,
      body: { tool_name: "calc.disabled_tool" },
      identity: ALICE,
      scope: "calc",
      outcome: "rejected",
      code: "GW_UNKNOWN_TOOL",
    },
    {
      name: "a tool outside the verdict",
      status: 403,
      body: { tool_name: "calc.slow" },
      identity: BOB,
      scope: "calc",
      outcome: "rejected",
      code: "GW_TOOL_FORBIDDEN",
    },
  ])(
    "REST: $name is answered $status and audited with that status",
    async ({ status, body, identity, scope, outcome, code }) => {
      const response = await invoke(body, identity, scope);
      expect(response.status).toBe(status);
      expect(await response.json()).toMatchObject({ error: { code } });
      const row = await onlyRowOf(fixture, response);
      expect(row).toMatchObject({ kind: "invocation", method: "tools/call", outcome, status });
    },
  );

  it("REST: a success and a tool-level error are answered and audited 200", async () => {
    for (const [tool_name, outcome] of [
      ["calc.add", "ok"],
      ["calc.fail", "tool_error"],
    ] as const) {
      const response = await invoke({ tool_name, arguments: { a: 1, b: 2 } });
      expect(response.status).toBe(200);
      expect(await onlyRowOf(fixture, response)).toMatchObject({ outcome, status: 200 });
    }
  });

  it("MCP: a tool outside the verdict is refused 403 and audited 403", async () => {
    const bobSession = await openSession(endpoint, BOB);
    const response = await postMcp(endpoint, toolsCall(1, "slow"), {
      identity: BOB,
      headers: sessionHeaders(bobSession),
    });
    expect(response.status).toBe(403);
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ id: 1, error: { data: { code: "GW_TOOL_FORBIDDEN" } } });
    expect(await onlyRowOf(fixture, response)).toMatchObject({
      outcome: "rejected",
      reason: "tool_forbidden",
      status: 403,
    });
  });

  it.each([
    ["an unknown tool", "disabled_tool", {}, "rejected", "GW_UNKNOWN_TOOL"],
    ["a timeout", "slow", { ms: 5_000 }, "timeout", "GW_UPSTREAM_TIMEOUT"],
  ] as const)(
    "MCP: %s is a JSON-RPC error on HTTP 200, audited 200 (not the REST status)",
    async (_name, tool, args, outcome, code) => {
      const response = await postMcp(endpoint, toolsCall(2, tool, args), {
        headers: sessionHeaders(aliceSession),
      });
      expect(response.status).toBe(200);
      const [message] = await readMessages(response);
      expect(message).toMatchObject({ id: 2, error: { data: { code } } });
      expect(await onlyRowOf(fixture, response)).toMatchObject({ outcome, status: 200 });
    },
  );

  it("MCP: tools/list of an unreachable backend is audited with the 200 it was answered", async () => {
    const identity = { ...ALICE, tools: ["add"] };
    const other = `${fixture.router.url}/other/mcp`;
    const session = await openSession(other, identity);
    const response = await postMcp(
      other,
      { jsonrpc: "2.0", id: 3, method: "tools/list" },
      { identity, headers: sessionHeaders(session) },
    );
    expect(response.status).toBe(200);
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ error: { data: { code: "GW_UPSTREAM_UNAVAILABLE" } } });
    expect(await onlyRowOf(fixture, response)).toMatchObject({
      kind: "list",
      outcome: "upstream_error",
      status: 200,
    });
  });

  it("MCP: a call the client cancelled is not answered and has no status", async () => {
    const started = once(fixture.backend.events, "call");
    const pending = postMcp(endpoint, toolsCall(44, "slow", { ms: 10_000 }), {
      headers: sessionHeaders(aliceSession),
    });
    await started;
    await postMcp(
      endpoint,
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 44 } },
      { headers: sessionHeaders(aliceSession) },
    );
    const response = await pending;
    expect(response.status).toBe(202);
    expect(await response.text()).toBe("");
    expect(await onlyRowOf(fixture, response)).toMatchObject({
      outcome: "cancelled",
      status: null,
    });
  });
});

describe("audit status of task refusals and task lifecycles", () => {
  let fixture: RouterFixture;
  let endpoint: string;

  beforeAll(async () => {
    fixture = await startRouterFixture({ config: (url) => tasksConfig(url) });
    endpoint = `${fixture.router.url}/calc/mcp`;
  });
  afterAll(async () => {
    await fixture.close();
  });

  it("2026-07-28: a task-only tool called plainly is answered 400 (-32021) and audited 400", async () => {
    const response = await postMcp(
      endpoint,
      {
        jsonrpc: "2.0",
        id: 5,
        method: "tools/call",
        params: {
          name: "big",
          arguments: {},
          _meta: {
            [META_KEY.protocolVersion]: MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
          },
        },
      },
      {
        headers: {
          [HEADER.mcpProtocolVersion]: MODERN,
          [HEADER.mcpMethod]: "tools/call",
          [HEADER.mcpName]: "big",
        },
      },
    );
    expect(response.status).toBe(400);
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ id: 5, error: { code: -32021 } });
    expect(await onlyRowOf(fixture, response)).toMatchObject({
      outcome: "rejected",
      reason: "task_support",
      status: 400,
    });
  });

  it("2025-11-25: the same refusal is a JSON-RPC error on 200, audited 200", async () => {
    const session = await openSession(endpoint);
    const response = await postMcp(endpoint, toolsCall(6, "big"), {
      headers: sessionHeaders(session),
    });
    expect(response.status).toBe(200);
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ id: 6, error: { code: -32601 } });
    expect(await onlyRowOf(fixture, response)).toMatchObject({
      reason: "task_support",
      status: 200,
    });
  });

  it("REST jobs: created 202, cancelled 200, the background run and its end have none", async () => {
    const invokeUrl = `${fixture.router.url}/mcp/invoke`;
    const done = await rest(invokeUrl, "POST", {
      body: { tool_name: "calc.slow", arguments: { ms: 20 }, async: true },
    });
    expect(done.status).toBe(202);
    const doneId = done.body.job_id as string;
    await eventually(async () => {
      const job = await rest(`${fixture.router.url}/mcp/jobs/${doneId}`, "GET");
      return job.body.status === "completed" ? true : undefined;
    }, "job completion");
    const doneRows = (await fixture.auditRows({ kind: "task" })).filter(
      (row) => row.task_id === doneId,
    );
    expect(doneRows.map((row) => [row.outcome, row.status])).toEqual([
      ["created", 202],
      ["ok", null],
      ["completed", null],
    ]);

    const called = once(fixture.backend.events, "call");
    const running = await rest(invokeUrl, "POST", {
      body: { tool_name: "calc.slow", arguments: { ms: 60_000 }, async: true },
    });
    const runningId = running.body.job_id as string;
    await called;
    const cancel = await rest(`${fixture.router.url}/mcp/jobs/${runningId}`, "DELETE");
    expect(cancel.status).toBe(200);
    await eventually(
      async () => (fixture.router.tasks.runningCount() === 0 ? true : undefined),
      "run end",
    );
    const cancelRows = await fixture.auditRows({
      request_id: cancel.headers.get(HEADER.requestId)!,
    });
    expect(cancelRows.map((row) => [row.outcome, row.status])).toEqual([["cancelled", 200]]);
  });

  it("MCP tasks: created is audited with the 200 that carried the task", async () => {
    const response = await postMcp(
      endpoint,
      {
        jsonrpc: "2.0",
        id: 7,
        method: "tools/call",
        params: {
          name: "slow",
          arguments: { ms: 10 },
          _meta: {
            [META_KEY.protocolVersion]: MODERN,
            "io.modelcontextprotocol/clientCapabilities": {
              extensions: { [TASKS_EXTENSION]: {} },
            },
            "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
          },
        },
      },
      {
        headers: {
          [HEADER.mcpProtocolVersion]: MODERN,
          [HEADER.mcpMethod]: "tools/call",
          [HEADER.mcpName]: "slow",
        },
      },
    );
    expect(response.status).toBe(200);
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ result: { resultType: "task" } });
    const rows = await rowsOf(fixture, response);
    expect(rows[0]).toMatchObject({ kind: "task", outcome: "created", status: 200 });
  });
});
