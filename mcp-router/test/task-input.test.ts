import { describe, expect, it } from "vitest";
import { createTaskInputs } from "../src/tasks/task-input.ts";

/** A running task's input requests: keyed, answered in part or whole, ended with the task. */

const elicit = (message: string, key?: string) => ({
  method: "elicitation/create",
  params: { message },
  ...(key === undefined ? {} : { key }),
});

describe("task inputs", () => {
  it("keys requests by the server's key or input-N, and answers the ones named", async () => {
    const inputs = createTaskInputs();
    const signal = new AbortController().signal;
    const first = inputs.ask("t", elicit("Name?", "user_name"), signal);
    const second = inputs.ask("t", elicit("Sure?"), signal);
    // A key the server uses twice gets a gateway key the second time.
    const third = inputs.ask("t", elicit("Again?", "user_name"), signal);
    expect([first.first, second.first, third.first]).toEqual([true, false, false]);
    expect(inputs.requests("t")).toEqual({
      user_name: { method: "elicitation/create", params: { message: "Name?" } },
      "input-1": { method: "elicitation/create", params: { message: "Sure?" } },
      "input-2": { method: "elicitation/create", params: { message: "Again?" } },
    });

    expect(inputs.answer("t", { user_name: { action: "accept" }, unknown: {} })).toEqual({
      answered: 1,
      remaining: 2,
    });
    expect(await first.answer).toEqual({ result: { action: "accept" } });
    expect(inputs.answer("t", { "input-1": "not an object" })).toEqual({
      answered: 1,
      remaining: 1,
    });
    expect(await second.answer).toMatchObject({ error: { code: -32603 } });
    expect(Object.keys(inputs.requests("t") ?? {})).toEqual(["input-2"]);
  });

  it("ends what still waits when the task ends or its call is aborted", async () => {
    const inputs = createTaskInputs();
    const call = new AbortController();
    const aborted = inputs.ask("a", elicit("?"), call.signal);
    call.abort();
    expect(await aborted.answer).toEqual({
      error: { code: -32603, message: "The task has ended" },
    });
    expect(inputs.requests("a")).toBeUndefined();

    const forgotten = inputs.ask("b", elicit("?"), new AbortController().signal);
    inputs.forget("b");
    expect(await forgotten.answer).toMatchObject({ error: { message: "The task has ended" } });
    expect(inputs.requests("b")).toBeUndefined();
    expect(inputs.answer("b", { "input-1": {} })).toEqual({ answered: 0, remaining: 0 });

    const late = inputs.ask("c", elicit("?"), AbortSignal.abort());
    expect(await late.answer).toMatchObject({ error: { message: "The task has ended" } });
  });
});
