import { afterEach, describe, expect, it, vi } from "vitest";
import { collectWhenIdle, eventLoopUtilizationSinceLast } from "../src/idle-collect.ts";

const MB = 1024 * 1024;

describe("collectWhenIdle", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("collects once a grown heap has gone quiet, and not again until it grows again", () => {
    vi.useFakeTimers();
    let heap = 30 * MB;
    let busy = 0.5;
    const gc = vi.fn(() => {
      heap = 31 * MB;
    });
    const collection = collectWhenIdle({
      gc,
      checkMs: 1000,
      heapSize: () => heap,
      liveSize: () => heap,
      utilization: () => busy,
    });

    heap = 90 * MB;
    vi.advanceTimersByTime(1000);
    // Still busy: V8 collects as it goes.
    expect(gc).not.toHaveBeenCalled();

    busy = 0.001;
    vi.advanceTimersByTime(1000);
    // Twice: the second collection returns the pages the first one emptied.
    expect(gc).toHaveBeenCalledTimes(2);

    vi.advanceTimersByTime(5000);
    expect(gc).toHaveBeenCalledTimes(2);

    // Grown by less than the threshold: left to V8.
    heap = 40 * MB;
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(2);

    heap = 80 * MB;
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(4);

    collection.stop();
    heap = 200 * MB;
    vi.advanceTimersByTime(10_000);
    expect(gc).toHaveBeenCalledTimes(4);
  });

  it("keeps the live size as its mark when V8 gives the pages back only later", () => {
    vi.useFakeTimers();
    // Right after the collections V8 still holds 68 MB, of which 20 MB are live.
    let held = 68 * MB;
    let busy = 0.001;
    const gc = vi.fn();
    const collection = collectWhenIdle({
      gc,
      checkMs: 1000,
      heapSize: () => held,
      liveSize: () => 20 * MB,
      utilization: () => busy,
    });
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(2);

    // Nothing new was allocated: the heap V8 has yet to shrink is not collected again.
    vi.advanceTimersByTime(5000);
    expect(gc).toHaveBeenCalledTimes(2);

    // A burst before V8 shrank it: 90 MB held, 22 MB past the 68 MB a held-size mark would
    // have kept, 70 MB past what was live.
    busy = 0.5;
    held = 90 * MB;
    vi.advanceTimersByTime(1000);
    busy = 0.001;
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(4);
    collection.stop();
  });

  it("does nothing when gc is not exposed", () => {
    vi.useFakeTimers();
    const heapSize = vi.fn(() => 500 * MB);
    collectWhenIdle({ gc: undefined, heapSize, utilization: () => 0 }).stop();
    vi.advanceTimersByTime(60_000);
    expect(heapSize).not.toHaveBeenCalled();
  });

  it("reads the real heap when told nothing else", () => {
    vi.useFakeTimers();
    const gc = vi.fn();
    // Any heap counts as grown: one quiet check collects.
    const collection = collectWhenIdle({
      gc,
      checkMs: 1000,
      growthBytes: -Infinity,
      utilization: () => 0,
    });
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(2);
    collection.stop();
  });

  it("measures the event loop's utilization between calls", async () => {
    const since = eventLoopUtilizationSinceLast();
    const end = Date.now() + 30;
    while (Date.now() < end) {
      // Busy on purpose: the loop is not idle for these 30 ms.
    }
    const busy = since();
    expect(busy).toBeGreaterThan(0.5);
    expect(busy).toBeLessThanOrEqual(1);
    // Waiting lowers it, by how much depends on what else this worker does meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const after = since();
    expect(after).toBeGreaterThanOrEqual(0);
    expect(after).toBeLessThanOrEqual(1);
  });
});
