import { describe, expect, it } from "vitest";
import { linkedSignal } from "../src/linked-signal.ts";

describe("linkedSignal", () => {
  it("aborts when any of its signals aborts", () => {
    const first = new AbortController();
    const second = new AbortController();
    const linked = linkedSignal([first.signal, second.signal]);
    expect(linked.signal.aborted).toBe(false);
    second.abort();
    expect(linked.signal.aborted).toBe(true);
  });

  it("starts aborted when a signal already is", () => {
    const done = new AbortController();
    done.abort();
    expect(linkedSignal([new AbortController().signal, done.signal]).signal.aborted).toBe(true);
  });

  it("after release, no longer follows its signals nor keeps a listener on them", () => {
    const parent = new AbortController();
    let listeners = 0;
    const add = parent.signal.addEventListener.bind(parent.signal);
    const remove = parent.signal.removeEventListener.bind(parent.signal);
    parent.signal.addEventListener = (...args: Parameters<typeof add>) => {
      listeners += 1;
      add(...args);
    };
    parent.signal.removeEventListener = (...args: Parameters<typeof remove>) => {
      listeners -= 1;
      remove(...args);
    };
    const linked = linkedSignal([parent.signal]);
    expect(listeners).toBe(1);
    linked.release();
    expect(listeners).toBe(0);
    parent.abort();
    expect(linked.signal.aborted).toBe(false);
  });
});
