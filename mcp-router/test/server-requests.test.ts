import { describe, expect, it } from "vitest";
import type { JsonRpcRequest } from "../src/mcp-answer.ts";
import { createServerRequests } from "../src/server-requests.ts";

const ALICE = { subject: "alice", tenant: "acme", sessionId: "s1" };

function relayOne(options: { maxPending?: number } = {}) {
  const requests = createServerRequests(options);
  const pushed: JsonRpcRequest[] = [];
  const controller = new AbortController();
  const answer = requests.relay(
    ALICE,
    { method: "sampling/createMessage", params: { maxTokens: 5 } },
    (message) => pushed.push(message),
    controller.signal,
  );
  return { requests, pushed, controller, answer };
}

describe("server requests relayed to clients", () => {
  it("puts the request on the stream under an unguessable id and resolves with the answer", async () => {
    const { requests, pushed, answer } = relayOne();
    expect(pushed).toEqual([
      {
        jsonrpc: "2.0",
        id: expect.stringMatching(/^gw-[A-Za-z0-9_-]{22}$/),
        method: "sampling/createMessage",
        params: { maxTokens: 5 },
      },
    ]);
    expect(requests.size()).toBe(1);
    expect(requests.answer(ALICE, pushed[0]!.id, { result: { model: "m" } })).toBe(true);
    expect(await answer).toEqual({ result: { model: "m" } });
    expect(requests.size()).toBe(0);
    // Answered once: a second answer matches nothing.
    expect(requests.answer(ALICE, pushed[0]!.id, { result: {} })).toBe(false);
  });

  it("takes an answer only from the session the request went to", async () => {
    const { requests, pushed, answer } = relayOne();
    const id = pushed[0]!.id;
    expect(requests.answer({ ...ALICE, sessionId: "s2" }, id, { result: {} })).toBe(false);
    expect(requests.answer({ ...ALICE, subject: "mallory" }, id, { result: {} })).toBe(false);
    expect(requests.answer({ ...ALICE, tenant: "other" }, id, { result: {} })).toBe(false);
    expect(requests.answer(ALICE, 7, { result: {} })).toBe(false);
    expect(requests.answer(ALICE, "gw-guess", { result: {} })).toBe(false);
    expect(requests.size()).toBe(1);
    requests.answer(ALICE, id, { error: { code: -1, message: "declined", data: { why: "x" } } });
    expect(await answer).toEqual({ error: { code: -1, message: "declined", data: { why: "x" } } });
  });

  it.each([
    [{ result: [1] }, "The client's result was not an object"],
    [{ result: "text" }, "The client's result was not an object"],
    [{ error: { code: 1.5, message: "x" } }, "The client's error was malformed"],
    [{ error: { code: 1 } }, "The client's error was malformed"],
    [{ error: "bad" }, "The client's error was malformed"],
  ])("turns a malformed answer %j into an error for the server", async (payload, message) => {
    const { requests, pushed, answer } = relayOne();
    requests.answer(ALICE, pushed[0]!.id, payload);
    expect(await answer).toEqual({ error: { code: -32603, message } });
  });

  it("bounds an error message the client sends", async () => {
    const { requests, pushed, answer } = relayOne();
    requests.answer(ALICE, pushed[0]!.id, { error: { code: 5, message: "x".repeat(5000) } });
    const settled = await answer;
    expect("error" in settled && settled.error.message).toHaveLength(1000);
  });

  it("gives the server an error when the request it belonged to ends first", async () => {
    const { requests, controller, answer } = relayOne();
    controller.abort();
    expect(await answer).toEqual({
      error: { code: -32603, message: "The client did not answer in time" },
    });
    expect(requests.size()).toBe(0);
  });

  it("asks nothing when full or already ended", async () => {
    const full = createServerRequests({ maxPending: 0 });
    const pushed: JsonRpcRequest[] = [];
    const answer = await full.relay(
      ALICE,
      { method: "roots/list", params: undefined },
      (message) => pushed.push(message),
      new AbortController().signal,
    );
    expect(answer).toEqual({ error: { code: -32603, message: "The client cannot be asked now" } });
    expect(pushed).toEqual([]);
  });
});
