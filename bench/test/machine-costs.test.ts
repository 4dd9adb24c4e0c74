import { describe, expect, it } from "vitest";
import { measureHopCost } from "../hop-cost.ts";
import { machineCpuMs, schedCpuMs } from "../proc-stats.ts";

/** Keeps this process on the CPU until it has used `ms` more of it. */
function spin(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

describe("CPU readings from /proc", () => {
  it("schedCpuMs counts this process's CPU as its resource usage does, finer than ticks", async () => {
    const schedBefore = await schedCpuMs(process.pid);
    const usageBefore = process.cpuUsage();
    spin(60);
    const usage = process.cpuUsage(usageBefore);
    const sched = (await schedCpuMs(process.pid)) - schedBefore;
    const usageMs = (usage.user + usage.system) / 1000;
    expect(sched).toBeGreaterThan(usageMs * 0.8);
    expect(sched).toBeLessThan(usageMs * 1.25 + 10);
  });

  it("machineCpuMs grows by at least what this process spent, and busy never passes total", async () => {
    const before = await machineCpuMs();
    spin(60);
    const after = await machineCpuMs();
    expect(before.busy).toBeLessThanOrEqual(before.total);
    expect(after.busy).toBeLessThanOrEqual(after.total);
    // Whole 10 ms ticks: the 60 ms spent show as at least 40.
    expect(after.busy - before.busy).toBeGreaterThanOrEqual(40);
    expect(after.total - after.busy).toBeGreaterThanOrEqual(before.total - before.busy);
  });
});

describe("measureHopCost", () => {
  it("times round trips to an echo process, spread out and back to back", async () => {
    const hop = await measureHopCost({ spreadCount: 50, spreadMs: 2, busyCount: 800, inFlight: 4 });
    for (const value of [hop.spreadServerUs, hop.busyServerUs, hop.spreadP50Us]) {
      expect(Number.isFinite(value)).toBe(true);
      expect(value).toBeGreaterThan(0);
    }
  }, 60_000);
});
