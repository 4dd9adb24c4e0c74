import { describe, expect, it } from "vitest";
import { createInFlightCalls, inFlightKey } from "../src/in-flight.ts";

/** A request signal that counts the listeners hooked on it. */
function countedSignal() {
  const controller = new AbortController();
  const signal = controller.signal;
  let listeners = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<typeof add>) => {
    listeners += 1;
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<typeof remove>) => {
    listeners -= 1;
    remove(...args);
  };
  return { controller, signal, listeners: () => listeners };
}

describe("in-flight tool calls", () => {
  const key = inFlightKey("alice", undefined, 7);

  it("cancel() by key aborts the call and says it was cancelled", () => {
    const calls = createInFlightCalls();
    const request = new AbortController();
    const call = calls.start(key, request.signal);
    expect(calls.size()).toBe(1);
    expect(calls.cancel(inFlightKey("bob", undefined, 7))).toBe(false);
    expect(call.signal.aborted).toBe(false);
    expect(calls.cancel(key)).toBe(true);
    expect(call.signal.aborted).toBe(true);
    expect(call.cancelled).toBe(true);
    expect(calls.size()).toBe(0);
    expect(calls.cancel(key)).toBe(false);
  });

  it("follows the request's signal without counting it as a cancellation", () => {
    const calls = createInFlightCalls();
    const request = new AbortController();
    const call = calls.start(key, request.signal);
    request.abort();
    expect(call.signal.aborted).toBe(true);
    expect(call.cancelled).toBe(false);
  });

  it("starts aborted when the request's signal already is", () => {
    const calls = createInFlightCalls();
    const request = new AbortController();
    request.abort();
    const call = calls.start(key, request.signal);
    expect(call.signal.aborted).toBe(true);
    expect(call.cancelled).toBe(false);
  });

  it("done() forgets the call and unhooks the request's signal", () => {
    const calls = createInFlightCalls();
    const request = countedSignal();
    const call = calls.start(key, request.signal);
    expect(request.listeners()).toBe(1);
    call.done();
    expect(request.listeners()).toBe(0);
    expect(calls.size()).toBe(0);
    request.controller.abort();
    expect(call.signal.aborted).toBe(false);
    expect(calls.cancel(key)).toBe(false);
  });

  it("a reused id: cancel() reaches the newer call, and the older one's done() keeps it", () => {
    const calls = createInFlightCalls();
    const older = calls.start(key, new AbortController().signal);
    const newer = calls.start(key, new AbortController().signal);
    older.done();
    expect(calls.size()).toBe(1);
    expect(calls.cancel(key)).toBe(true);
    expect(newer.cancelled).toBe(true);
    expect(older.signal.aborted).toBe(false);
  });
});
