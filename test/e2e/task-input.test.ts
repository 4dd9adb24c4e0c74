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
});
