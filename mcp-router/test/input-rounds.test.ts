import { describe, expect, it, vi } from "vitest";
import { createInputRounds, type RoundOwner, type RoundSink } from "../src/input-rounds.ts";
import { result, type FinalAnswer, type StreamItem } from "../src/mcp-answer.ts";

const owner: RoundOwner = {
  subject: "alice",
  tenant: "acme",
  scope: "docs",
  method: "tools/call",
  target: "ask",
};

/** One client attempt: what it received, and whether its stream was closed. */
function attempt() {
  const items: StreamItem[] = [];
  let closed = false;
  let ended!: () => void;
  const done = new Promise<void>((resolve) => (ended = resolve));
  const sink: RoundSink = {
    push: (item) => void items.push(item),
    close: () => {
      closed = true;
      ended();
    },
  };
  const controller = new AbortController();
  return {
    sink,
    signal: controller.signal,
    leave: () => controller.abort(),
    items,
    closed: () => closed,
    done,
    final(): FinalAnswer {
      const last = items.at(-1);
      if (last?.kind !== "final") throw new Error("no final answer");
      return last.answer;
    },
  };
}

function inputRequired(answer: FinalAnswer) {
  if (answer.kind !== "result" || answer.resultType !== "input_required") {
    throw new Error(`not an InputRequiredResult: ${JSON.stringify(answer)}`);
  }
  return answer.result as {
    inputRequests: Record<string, { method: string }>;
    requestState: string;
  };
}

describe("input rounds", () => {
  it("keeps a server's own keys, and knows the states it issued", async () => {
    const rounds = createInputRounds();
    const first = attempt();
    const round = rounds.start(owner, first.sink, first.signal, 60_000)!;
    const named = round.ask({ method: "elicitation/create", params: {}, key: "user_name" });
    const twice = round.ask({ method: "elicitation/create", params: {}, key: "user_name" });
    const unnamed = round.ask({ method: "roots/list", params: undefined });
    await first.done;
    const asked = inputRequired(first.final());
    expect(Object.keys(asked.inputRequests).sort()).toEqual(["input-1", "input-2", "user_name"]);
    expect(rounds.holds(asked.requestState)).toBe(true);
    expect(rounds.holds("a-state-some-server-issued")).toBe(false);

    const second = attempt();
    const answers = { user_name: { n: 1 }, "input-1": { n: 2 }, "input-2": { n: 3 } };
    expect(rounds.resume(asked.requestState, owner, answers, second.sink, second.signal)).toEqual({
      ok: true,
    });
    // The state was claimed by this attempt.
    expect(rounds.holds(asked.requestState)).toBe(false);
    expect(await Promise.all([named, twice, unnamed])).toEqual([
      { result: { n: 1 } },
      { result: { n: 2 } },
      { result: { n: 3 } },
    ]);
    round.finish(result({ done: true }));
    await second.done;
  });

  it("asks the server's requests in one InputRequiredResult and answers them from the next attempt", async () => {
    const rounds = createInputRounds();
    const first = attempt();
    const round = rounds.start(owner, first.sink, first.signal, 60_000)!;
    const elicited = round.ask({ method: "elicitation/create", params: { message: "Name?" } });
    const sampled = round.ask({ method: "sampling/createMessage", params: { maxTokens: 5 } });
    await first.done;
    const asked = inputRequired(first.final());
    expect(Object.values(asked.inputRequests).map((request) => request.method)).toEqual([
      "elicitation/create",
      "sampling/createMessage",
    ]);
    expect(asked.requestState).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(round.signal.aborted).toBe(false);

    const [elicitKey, sampleKey] = Object.keys(asked.inputRequests);
    const second = attempt();
    expect(
      rounds.resume(
        asked.requestState,
        owner,
        {
          [elicitKey!]: { action: "accept", content: { name: "Ada" } },
          [sampleKey!]: { role: "assistant" },
          stray: {},
        },
        second.sink,
        second.signal,
      ),
    ).toEqual({ ok: true });
    expect(await elicited).toEqual({ result: { action: "accept", content: { name: "Ada" } } });
    expect(await sampled).toEqual({ result: { role: "assistant" } });

    round.notify({ jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } });
    round.finish(result({ content: [] }));
    await second.done;
    expect(second.items.map((item) => item.kind)).toEqual(["notification", "final"]);
    expect(second.final()).toEqual(result({ content: [] }));
    expect(rounds.size()).toBe(0);
  });

  it("gives every round a new state, good for one attempt only", async () => {
    const rounds = createInputRounds();
    const first = attempt();
    const round = rounds.start(owner, first.sink, first.signal, 60_000)!;
    void round.ask({ method: "roots/list", params: undefined });
    await first.done;
    const state1 = inputRequired(first.final()).requestState;
    const key = Object.keys(inputRequired(first.final()).inputRequests)[0]!;

    const second = attempt();
    expect(
      rounds.resume(state1, owner, { [key]: { roots: [] } }, second.sink, second.signal).ok,
    ).toBe(true);
    // Used: the same state again is refused, whoever sends it.
    const replay = attempt();
    expect(rounds.resume(state1, owner, {}, replay.sink, replay.signal)).toMatchObject({
      ok: false,
    });

    void round.ask({ method: "elicitation/create", params: { message: "Colour?" } });
    await second.done;
    const state2 = inputRequired(second.final()).requestState;
    expect(state2).not.toBe(state1);
  });

  it("asks again what the next attempt left unanswered", async () => {
    const rounds = createInputRounds();
    const first = attempt();
    const round = rounds.start(owner, first.sink, first.signal, 60_000)!;
    void round.ask({ method: "elicitation/create", params: { message: "Name?" } });
    await first.done;
    const asked = inputRequired(first.final());
    const second = attempt();
    rounds.resume(asked.requestState, owner, { wrong_key: {} }, second.sink, second.signal);
    await second.done;
    const again = inputRequired(second.final());
    expect(Object.keys(again.inputRequests)).toEqual(Object.keys(asked.inputRequests));
    expect(again.requestState).not.toBe(asked.requestState);
  });

  it("asks at once what the server asked while no attempt was waiting", async () => {
    vi.useFakeTimers();
    try {
      const rounds = createInputRounds();
      const first = attempt();
      const round = rounds.start(owner, first.sink, first.signal, 60_000)!;
      const name = round.ask({ method: "elicitation/create", params: { message: "Name?" } });
      await vi.advanceTimersByTimeAsync(30);
      const asked = inputRequired(first.final());
      // The server asks more between the client's attempts, past the gathering window.
      const roots = round.ask({ method: "roots/list", params: undefined });
      await vi.advanceTimersByTimeAsync(30);
      const second = attempt();
      const [nameKey] = Object.keys(asked.inputRequests);
      rounds.resume(
        asked.requestState,
        owner,
        { [nameKey!]: { action: "decline" } },
        second.sink,
        second.signal,
      );
      expect(await name).toEqual({ result: { action: "decline" } });
      const again = inputRequired(second.final());
      expect(Object.values(again.inputRequests)).toEqual([{ method: "roots/list" }]);
      // The call ends with roots unanswered: the next attempt gets the end, the server an error.
      round.finish(result({}));
      const third = attempt();
      rounds.resume(again.requestState, owner, {}, third.sink, third.signal);
      expect(third.final()).toEqual(result({}));
      expect(await roots).toMatchObject({ error: { message: "The request has ended" } });
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses a state that was altered, or sent for another user, scope, method or target", async () => {
    const rounds = createInputRounds();
    const first = attempt();
    const round = rounds.start(owner, first.sink, first.signal, 60_000)!;
    void round.ask({ method: "elicitation/create", params: {} });
    await first.done;
    const state = inputRequired(first.final()).requestState;
    const other = attempt();
    for (const [requestState, who] of [
      [`${state}-TAMPERED`, owner],
      [state, { ...owner, subject: "mallory" }],
      [state, { ...owner, tenant: null }],
      [state, { ...owner, scope: "git" }],
      [state, { ...owner, method: "prompts/get" }],
      [state, { ...owner, target: "other_tool" }],
    ] as const) {
      expect(rounds.resume(requestState, who, {}, other.sink, other.signal)).toMatchObject({
        ok: false,
        detail: expect.stringMatching(/requestState is not valid/),
      });
    }
    // The rightful owner can still continue.
    expect(rounds.resume(state, owner, "not an object", other.sink, other.signal)).toMatchObject({
      ok: false,
      detail: "params.inputResponses must be an object",
    });
  });

  it("keeps a call that ends between attempts for the next one", async () => {
    const rounds = createInputRounds();
    const first = attempt();
    const round = rounds.start(owner, first.sink, first.signal, 60_000)!;
    const asked = round.ask({ method: "elicitation/create", params: {} });
    await first.done;
    const state = inputRequired(first.final()).requestState;
    round.finish(result({ text: "done anyway" }));
    const second = attempt();
    expect(rounds.resume(state, owner, {}, second.sink, second.signal).ok).toBe(true);
    expect(second.final()).toEqual(result({ text: "done anyway" }));
    round.finish(result({}));
    void asked;
  });

  it("stops the call when the waiting client leaves, and answers the server's requests with errors", async () => {
    const rounds = createInputRounds();
    const first = attempt();
    const round = rounds.start(owner, first.sink, first.signal, 60_000)!;
    first.leave();
    expect(round.signal.aborted).toBe(true);
    expect(await round.ask({ method: "elicitation/create", params: {} })).toMatchObject({
      error: { code: -32603 },
    });
  });

  it("ends a round whose client never comes back, after its time to live", async () => {
    const rounds = createInputRounds();
    const first = attempt();
    const round = rounds.start(owner, first.sink, first.signal, 30)!;
    const asked = round.ask({ method: "elicitation/create", params: {} });
    await first.done;
    expect(await asked).toMatchObject({ error: { message: "The client did not answer" } });
    expect(round.signal.aborted).toBe(true);
    expect(rounds.size()).toBe(0);
  });

  it("refuses new rounds beyond its bound", async () => {
    const rounds = createInputRounds({ maxRounds: 1 });
    const first = attempt();
    const round = rounds.start(owner, first.sink, first.signal, 60_000)!;
    void round.ask({ method: "elicitation/create", params: {} });
    await first.done;
    expect(
      rounds.start(owner, attempt().sink, new AbortController().signal, 60_000),
    ).toBeUndefined();
  });

  it("lets a shutdown answer the waiting attempt with the call's end", async () => {
    const rounds = createInputRounds();
    const first = attempt();
    const round = rounds.start(owner, first.sink, first.signal, 60_000)!;
    void round.ask({ method: "elicitation/create", params: {} });
    await first.done;
    const asked = inputRequired(first.final());
    const key = Object.keys(asked.inputRequests)[0]!;
    // Everything answered: the second attempt waits for the call.
    const second = attempt();
    rounds.resume(
      asked.requestState,
      owner,
      { [key]: { action: "decline" } },
      second.sink,
      second.signal,
    );
    expect(second.closed()).toBe(false);
    rounds.closeAll();
    expect(round.signal.aborted).toBe(true);
    // The aborted call ends, and its end reaches the attempt that waits.
    round.finish({ kind: "error", error: "GW_UPSTREAM_UNAVAILABLE" });
    await second.done;
    expect(second.final()).toEqual({ kind: "error", error: "GW_UPSTREAM_UNAVAILABLE" });
  });
});
