import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signDevToken } from "../../dev/token-cli.ts";
import type { EmbeddedStack } from "../../dev/embedded-stack.ts";
import { FIXTURE_SCOPE } from "../conformance/fixture-backend.ts";
import { startFixtureStack, type FixtureStack } from "./fixture-stack.ts";
import { modernHeaders, modernRequest, readMessages } from "./stack-fixture.ts";

/**
 * A task the gateway runs for a 2026-07-28 client whose server needs input while it runs
 * (SEP-2663): the task waits in `input_required` with the server's requests, tasks/update answers
 * them, and the task completes with what the server made of the answer. Whether the router speaks
 * 2025-11-25 to the server (which asks with elicitation/create on the session) or 2026-07-28
 * (which answers with an InputRequiredResult, or runs a task of its own) makes no difference.
 */

const TASKS = { "io.modelcontextprotocol/tasks": {} };

type Task = {
  resultType?: string;
  taskId: string;
  status: string;
  inputRequests?: Record<string, { method: string }>;
  requestState?: string;
  result?: { content: { type: string; text: string }[] };
};

describe.each(["2025-11-25", "2026-07-28"])("a task's input, server spoken to at %s", (version) => {
  let running: FixtureStack;
  let stack: EmbeddedStack;
  let env: Record<string, string>;

  beforeAll(async () => {
    running = await startFixtureStack({
      scope: (scope) => {
        scope.mcp_server.protocol_version = version;
        // How long a round waits for the client's next attempt: short, to see one expire.
        scope.timeout_ms = 2_500;
        // A tool marked as asking first that does not ask: announced after the input window.
        const tools = scope.tools as { name: string; input_before_task?: boolean }[];
        tools.find((tool) => tool.name === "slow_compute")!.input_before_task = true;
      },
    });
    ({ stack, env } = running);
  }, 120_000);

  afterAll(async () => {
    await running?.close();
  });

  async function post(method: string, params: Record<string, unknown>, name?: string) {
    const body = modernRequest(method, params) as { params: { _meta: Record<string, unknown> } };
    body.params._meta["io.modelcontextprotocol/clientCapabilities"] = {
      elicitation: {},
      extensions: TASKS,
    };
    const token = await signDevToken(
      { user: "ada", roles: ["developer"], tenant: "acme", ttlSeconds: 600 },
      env,
    );
    const response = await fetch(`${stack.url}/${FIXTURE_SCOPE}/mcp`, {
      method: "POST",
      headers: { ...modernHeaders(method, name), authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    const message = (await readMessages(response)).at(-1) as {
      result: Task;
      error?: { code: number; message: string };
    };
    return message;
  }

  const taskGet = async (taskId: string) => (await post("tasks/get", { taskId }, taskId)).result;

  it("waits in input_required for tasks/update, then completes with the answer", async () => {
    const created = await post(
      "tools/call",
      { name: "confirm_delete", arguments: { filename: "notes.txt" } },
      "confirm_delete",
    );
    expect(created.result).toMatchObject({ resultType: "task", status: "working" });
    const { taskId } = created.result;

    await expect
      .poll(async () => (await taskGet(taskId)).status, { timeout: 15_000 })
      .toBe("input_required");
    const waiting = await taskGet(taskId);
    const keys = Object.keys(waiting.inputRequests ?? {});
    expect(keys).toHaveLength(1);
    expect(waiting.inputRequests?.[keys[0]!]?.method).toBe("elicitation/create");

    // Unknown keys are ignored (the ack still comes); the right one lets the task go on.
    expect(
      (await post("tasks/update", { taskId, inputResponses: { nope: {} } }, taskId)).result,
    ).toMatchObject({ resultType: "complete" });
    const updated = await post(
      "tasks/update",
      { taskId, inputResponses: { [keys[0]!]: { action: "accept", content: { confirm: true } } } },
      taskId,
    );
    expect(updated.error).toBeUndefined();

    await expect
      .poll(async () => (await taskGet(taskId)).status, { timeout: 15_000 })
      .toBe("completed");
    expect((await taskGet(taskId)).result?.content).toEqual([
      { type: "text", text: "Deleted notes.txt" },
    ]);
    // Nothing waits any more.
    const late = await post("tasks/update", { taskId, inputResponses: {} }, taskId);
    expect(late.error).toMatchObject({ code: -32602 });
  });

  it("asks a tool's first input before its task exists, then announces the task", async () => {
    // test_tool_with_task asks for a name, then runs as a task (SEP-2663 with SEP-2322).
    const name = "test_tool_with_task";
    const asked = await post("tools/call", { name, arguments: {} }, name);
    expect(asked.result).toMatchObject({ resultType: "input_required" });
    expect(asked.result).not.toHaveProperty("taskId");
    const keys = Object.keys(asked.result.inputRequests ?? {});
    expect(keys).toHaveLength(1);
    // A 2026-07-28 server names its request; a 2025 one's is named by the gateway.
    expect(keys[0]).toBe(version === "2026-07-28" ? "user_name" : "input-1");
    expect(asked.result.inputRequests?.[keys[0]!]?.method).toBe("elicitation/create");

    const created = await post(
      "tools/call",
      {
        name,
        arguments: {},
        inputResponses: { [keys[0]!]: { action: "accept", content: { name: "Alice" } } },
        requestState: asked.result.requestState,
      },
      name,
    );
    expect(created.error).toBeUndefined();
    expect(created.result).toMatchObject({ resultType: "task" });
    expect(created.result).not.toHaveProperty("requestState");
    expect(created.result).not.toHaveProperty("inputRequests");
    const { taskId } = created.result;
    await expect
      .poll(async () => (await taskGet(taskId)).status, { timeout: 15_000 })
      .toBe("completed");
    expect((await taskGet(taskId)).result?.content[0]?.text).toMatch(/Alice/);

    // The state was good for one attempt.
    const again = await post(
      "tools/call",
      { name, arguments: {}, inputResponses: {}, requestState: asked.result.requestState },
      name,
    );
    if (version === "2025-11-25") expect(again.error).toMatchObject({ code: -32602 });
    else expect(again.result).toMatchObject({ resultType: "input_required" });
  });

  it("stops the task of a client that never came back for it", async () => {
    const name = "test_tool_with_task";
    const asked = await post("tools/call", { name, arguments: {} }, name);
    expect(asked.result).toMatchObject({ resultType: "input_required" });
    // The round expires after the scope's timeout_ms; nobody can learn of the task any more.
    await expect
      .poll(
        async () => {
          await stack.audit.flush();
          const rows = await stack.database.db
            .selectFrom("audit_events")
            .select(["outcome", "reason"])
            .where("kind", "=", "task")
            .where("tool", "=", name)
            .where("reason", "=", "abandoned")
            .execute();
          return rows.map((row) => row.outcome);
        },
        { timeout: 20_000, interval: 250 },
      )
      .toContain("failed");
  });

  it("announces the task of a server that asks nothing within the input window", async () => {
    const name = "slow_compute";
    const created = await post("tools/call", { name, arguments: { seconds: 3 } }, name);
    // Announced while the work goes on (a call that had ended would be announced `completed`):
    // by a 2026-07-28 server's own task, or after the 1 s window for a 2025 one.
    expect(created.result).toMatchObject({ resultType: "task", status: "working" });
    await expect
      .poll(async () => (await taskGet(created.result.taskId)).status, { timeout: 15_000 })
      .toBe("completed");
  });
});
